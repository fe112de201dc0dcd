import { markProgress, nextWait } from './adaptive-wait';
import type { PollCursor, PollState } from '../runtime/run-context';

/** The poll loop's next step from the counters just read: pure, so the benchmark can drive it. */
export function nextPoll(input: {
  completed: boolean;
  processed: number;
  total: number;
  nowMs: number;
  cursor: PollCursor;
  stallMinutes: number;
  maxLongPollSeconds?: number;
}): PollState {
  const { cursor } = input;
  const secondsSinceLaunch = Math.max(0, (input.nowMs - cursor.launchedAtMs) / 1000);
  const mark = markProgress(cursor.mark, input.processed, input.total, secondsSinceLaunch);
  const next: PollCursor = {
    ...cursor,
    previous: { processed: input.processed, secondsSinceLaunch },
    mark,
    polls: cursor.polls + 1,
  };
  if (input.completed) return { completed: true, waitSeconds: 0, longPollSeconds: 0, cursor: next };
  const decision = nextWait({
    secondsSinceLaunch,
    processed: input.processed,
    total: input.total,
    previous: cursor.previous,
    stallMinutes: input.stallMinutes,
    ...(input.maxLongPollSeconds === undefined ? {} : { maxLongPollSeconds: input.maxLongPollSeconds }),
  });
  return { completed: false, waitSeconds: decision.waitSeconds, longPollSeconds: decision.longPollSeconds, cursor: next };
}
