import type { PollCursor, PollState } from '../runtime/run-context';
/**
 * How long the poll loop's Wait state waits before the next `_tasks` poll, and how long that poll may
 * long-poll (`GET _tasks/{id}?wait_for_completion=true&timeout=<n>s`). A 5-hour run must cost few state
 * transitions (standard workflows stop at 25,000 history events) and still notice completion within
 * seconds: short waits while the rate is unknown (the first one long-polled: a small task ends before it),
 * long waits mid-run, a long-poll spanning the end.
 */

export interface PollSnapshot {
  /** created + updated + deleted + noops + version_conflicts. */
  readonly processed: number;
  readonly secondsSinceLaunch: number;
}

export interface WaitInput {
  readonly secondsSinceLaunch: number;
  readonly processed: number;
  readonly total: number;
  /** The poll before this one (or the launch, processed 0); null when there is none. */
  readonly previous: PollSnapshot | null;
  readonly stallMinutes: number;
  /** Longest long-poll of one Poll task invocation. @default 600 */
  readonly maxLongPollSeconds?: number;
}

export type WaitPhase = 'measuring' | 'running' | 'finishing';

export interface WaitDecision {
  /** Seconds for the Wait state; a whole number, at least 1. */
  readonly waitSeconds: number;
  /** `timeout` of the next poll's `wait_for_completion=true`; 0 means a plain `GET _tasks/{id}`. */
  readonly longPollSeconds: number;
  readonly phase: WaitPhase;
  readonly docsPerSecond: number | null;
  /** Seconds to completion at the current rate; null while the rate is unknown. */
  readonly etaSeconds: number | null;
}

/** Where a run last made progress, carried from poll to poll for the stall check. */
export interface ProgressMark {
  readonly processed: number;
  readonly total: number;
  readonly changedAtSeconds: number;
}

export const DEFAULT_MAX_LONG_POLL_SECONDS = 600;
export const MAX_WAIT_SECONDS = 1800;
/**
 * The longest long-poll of one PollTask / PollPartition invocation, whatever its state asks for. Their
 * Lambda timeout is 15 minutes (lib/constructs/handler-functions.ts), the Lambda maximum; a poll must
 * return on its own well before it (see {@link POLL_CEILING_SECONDS}), and the ASL gives the Task a
 * minute more than the Lambda timeout, so a slow poll never ends in States.Timeout. It was 840 s: with
 * the request's slack that left 30 s for the rest of a poll, and the Task timed out with the Lambda.
 */
export const LONG_POLL_CEILING_SECONDS = 600;
/** The long-poll request gives up this long after its long-poll (cluster-ops getTask: `waitSeconds + 30`). */
export const LONG_POLL_REQUEST_SLACK_SECONDS = 30;
/**
 * What a poll may spend besides its long-poll: the ledger reads and writes (milliseconds), the plain read
 * after a long-poll that ran out (30 s at most), and its other target requests (rethrottle, the foreign
 * task sweep, a cancel), each cut off by the client at 60 s; the first to time out ends the invocation
 * (TransientCluster, retried by the state machine). Normally under a second.
 */
export const POLL_WORK_SECONDS = 180;
/** The longest one poll invocation takes: 810 s, 90 s inside the 900-s Lambda timeout. */
export const POLL_CEILING_SECONDS = LONG_POLL_CEILING_SECONDS + LONG_POLL_REQUEST_SLACK_SECONDS + POLL_WORK_SECONDS;
/**
 * The rate may rise this much near the end (the last days of a dual-written index are mostly version
 * conflicts, which write nothing), so the end is expected no earlier than eta / this.
 */
export const LATE_SPEEDUP = 4;
/**
 * The first poll after the launch (within this age, while no rate is known) comes 3 s after it instead
 * of 5 s: a second's wait, then a long-poll of {@link FIRST_POLL_LONG_POLL_SECONDS}. A task it finds
 * still running has a rate from then on, so its end falls to the finishing phase's long-poll; a task
 * still without a rate is throttled hard or stalled: its later polls back off and hold no Lambda open.
 */
export const FIRST_POLL_LONG_POLL_UNTIL_SECONDS = 15;
export const FIRST_POLL_LONG_POLL_SECONDS = 2;

export function nextWait(input: WaitInput): WaitDecision {
  const cap = waitCap(input.stallMinutes);
  const longPoll = longPollLimit(input.maxLongPollSeconds);
  const rate = docsPerSecond(input);
  if (input.total === 0 || rate === null) {
    const wait = measuringWait(input.secondsSinceLaunch, cap);
    // A small or empty partition ends before its first poll: that poll long-polls from the first
    // second, so it sees the end when it happens.
    const listen = input.secondsSinceLaunch < FIRST_POLL_LONG_POLL_UNTIL_SECONDS ? Math.min(longPoll, wait - 1, FIRST_POLL_LONG_POLL_SECONDS) : 0;
    return { waitSeconds: listen > 0 ? 1 : wait, longPollSeconds: listen, phase: 'measuring', docsPerSecond: null, etaSeconds: null };
  }
  const etaSeconds = Math.max(0, input.total - input.processed) / rate;
  const runningWait = Math.min(cap, rampLimit(input.secondsSinceLaunch));
  const earliestEnd = etaSeconds / LATE_SPEEDUP;
  if (earliestEnd > runningWait || longPoll === 0) {
    return { waitSeconds: wholeSeconds(Math.min(runningWait, earliestEnd)), longPollSeconds: 0, phase: 'running', docsPerSecond: rate, etaSeconds };
  }
  // The end may come before the next mid-run poll: wait until the earliest it can come, then long-poll.
  return { waitSeconds: wholeSeconds(earliestEnd), longPollSeconds: longPoll, phase: 'finishing', docsPerSecond: rate, etaSeconds };
}

/** Mid-run waits never exceed the stall window (a stall must be seen) nor 30 minutes. */
export function waitCap(stallMinutes: number): number {
  return Math.max(1, Math.min(MAX_WAIT_SECONDS, Math.floor(stallMinutes * 60)));
}

export function docsPerSecond(input: Pick<WaitInput, 'processed' | 'secondsSinceLaunch' | 'previous'>): number | null {
  const { previous } = input;
  if (previous === null) return null;
  const elapsed = input.secondsSinceLaunch - previous.secondsSinceLaunch;
  const done = input.processed - previous.processed;
  return elapsed > 0 && done > 0 ? done / elapsed : null;
}

/** 5 s, then 10 s, then 30 s; a run that stays without a rate backs off to a quarter of its age. */
function measuringWait(secondsSinceLaunch: number, cap: number): number {
  if (secondsSinceLaunch < 15) return Math.min(cap, 5);
  if (secondsSinceLaunch < 60) return Math.min(cap, 10);
  return Math.min(cap, Math.max(30, Math.round(secondsSinceLaunch / 4)));
}

/** Waits grow with the run's age, so its first minutes are still watched closely. */
function rampLimit(secondsSinceLaunch: number): number {
  return Math.max(60, 2 * secondsSinceLaunch);
}

function longPollLimit(maxLongPollSeconds = DEFAULT_MAX_LONG_POLL_SECONDS): number {
  return Math.max(0, Math.min(LONG_POLL_CEILING_SECONDS, Math.floor(maxLongPollSeconds)));
}

/**
 * The long-poll a poll invocation actually makes for what its state asks: never above
 * {@link LONG_POLL_CEILING_SECONDS} (a state from before a deployment, a redrive or a hand-edited input
 * may ask for more), 0 for anything that is not a positive number.
 */
export function longPollFor(requested: unknown): number {
  return typeof requested === 'number' && Number.isFinite(requested) ? longPollLimit(requested) : 0;
}

function wholeSeconds(seconds: number): number {
  return Math.max(1, Math.floor(seconds));
}

/** The mark moves whenever a counter moved; otherwise it keeps the time of the last change. */
export function markProgress(previous: ProgressMark | null, processed: number, total: number, nowSeconds: number): ProgressMark {
  if (previous !== null && previous.processed === processed && previous.total === total) return previous;
  return { processed, total, changedAtSeconds: nowSeconds };
}

/** No counter change for `stallMinutes`. */
export function stalled(mark: ProgressMark, nowSeconds: number, stallMinutes: number): boolean {
  return nowSeconds - mark.changedAtSeconds >= stallMinutes * 60;
}

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
