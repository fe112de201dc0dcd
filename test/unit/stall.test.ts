import { describe, expect, it } from 'vitest';
import { nextPoll } from '../../lambdas/shared/task-loop/adaptive-wait';
import type { PollCursor } from '../../lambdas/shared/runtime/run-context';
import { checkStall, type StallCheck } from '../../lambdas/shared/task-loop/stall';

/**
 * The stall check PollTask and PollPartition share: one poll loop driven on a fake clock, its cursor
 * passed through JSON between polls as the state machine passes it from state to state.
 */

const LAUNCH = Date.parse('2026-06-01T10:00:00.000Z');
const STALL_MINUTES = 15;

function loop() {
  let cursor: PollCursor = { launchedAtMs: LAUNCH, previous: null, mark: null, totalChecked: false, polls: 0, stallReported: false };
  return (atSeconds: number, processed: number, completed = false): StallCheck => {
    const nowMs = LAUNCH + atSeconds * 1000;
    const next = nextPoll({ completed, processed, total: 1_000, nowMs, cursor, stallMinutes: STALL_MINUTES });
    const check = checkStall({ completed, before: cursor, next: next.cursor, nowMs, stallMinutes: STALL_MINUTES });
    cursor = JSON.parse(JSON.stringify(check.cursor)) as PollCursor;
    return check;
  };
}

describe('checkStall', () => {
  it('reports nothing while the counters move, nor before the window has passed without a change', () => {
    const poll = loop();
    expect(poll(60, 100)).toMatchObject({ report: false, cursor: { stallReported: false } });
    expect(poll(120, 200).report).toBe(false);
    const within = poll(120 + STALL_MINUTES * 60 - 1, 200);
    expect(within).toMatchObject({ report: false, cursor: { stallReported: false } });
    expect(within.stall).toBeUndefined();
  });

  it('reports a stall once, on the first poll that finds no counter change for stallMinutes, with when the counters last moved', () => {
    const poll = loop();
    poll(60, 100);
    poll(120, 200);

    const first = poll(120 + STALL_MINUTES * 60, 200);
    const again = poll(120 + STALL_MINUTES * 60 + 300, 200);

    expect(first).toMatchObject({
      report: true,
      stall: { since: '2026-06-01T10:02:00.000Z', processed: 200, total: 1_000, stallMinutes: 15 },
      cursor: { stallReported: true },
    });
    // Still the same stall: known, not reported again (the cursor went through JSON in between).
    expect(again).toMatchObject({ report: false, stall: { since: '2026-06-01T10:02:00.000Z' }, cursor: { stallReported: true } });
  });

  it('clears once the counters move, and reports the next stall again', () => {
    const poll = loop();
    poll(60, 100);
    expect(poll(60 + STALL_MINUTES * 60, 100).report).toBe(true);

    const moved = poll(2_000, 150);
    const second = poll(2_000 + STALL_MINUTES * 60, 150);

    expect(moved).toMatchObject({ report: false, cursor: { stallReported: false } });
    expect(second).toMatchObject({ report: true, stall: { since: new Date(LAUNCH + 2_000_000).toISOString(), processed: 150 } });
  });

  it('never reports a task that has finished', () => {
    const poll = loop();
    poll(60, 1_000);
    expect(poll(60 + STALL_MINUTES * 60, 1_000, true)).toMatchObject({ report: false, cursor: { stallReported: false } });
  });
});
