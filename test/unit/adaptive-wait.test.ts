import { describe, expect, it } from 'vitest';
import {
  LONG_POLL_CEILING_SECONDS,
  markProgress,
  nextWait,
  stalled,
  type PollSnapshot,
  type WaitDecision,
} from '../../lambdas/shared/task-loop/adaptive-wait';

/** A reindex as the poll loop sees it: no total for a few seconds, then phases at constant rates. */
interface RunModel {
  readonly totalKnownAfterSeconds: number;
  readonly phases: ReadonlyArray<{ readonly docs: number; readonly docsPerSecond: number }>;
}

interface SimulatedRun {
  readonly loops: number;
  readonly endAt: number;
  readonly lateSeconds: number;
  readonly maxTransitionsInAnyHour: number;
  readonly transitionsPerHour: number;
  readonly historyEvents: number;
  readonly decisions: readonly WaitDecision[];
}

/** One loop is Wait + Poll task + Choice. */
const TRANSITIONS_PER_LOOP = 3;
/** Wait: entered, exited; Lambda task: entered, scheduled, started, succeeded, exited; Choice: entered, exited. */
const HISTORY_EVENTS_PER_LOOP = 9;
/** What a poll costs besides its long-poll: Lambda start, `_tasks` call, ledger write. */
const POLL_OVERHEAD_SECONDS = 1;

function totalOf(model: RunModel): number {
  return model.phases.reduce((sum, p) => sum + p.docs, 0);
}

function processedAt(model: RunModel, t: number): number {
  let clock = model.totalKnownAfterSeconds;
  let done = 0;
  for (const phase of model.phases) {
    const seconds = phase.docs / phase.docsPerSecond;
    if (t < clock + seconds) return done + Math.max(0, Math.floor((t - clock) * phase.docsPerSecond));
    clock += seconds;
    done += phase.docs;
  }
  return done;
}

function endOf(model: RunModel): number {
  return model.phases.reduce((clock, p) => clock + p.docs / p.docsPerSecond, model.totalKnownAfterSeconds);
}

/** Runs the poll loop against the model, in seconds since launch, until completion is noticed. */
function simulate(model: RunModel, stallMinutes = 15, maxLongPollSeconds = 600): SimulatedRun {
  const endAt = endOf(model);
  const loopStarts: number[] = [];
  const decisions: WaitDecision[] = [];
  let t = 0;
  let previous: PollSnapshot | null = null;
  let decision = nextWait({ secondsSinceLaunch: 0, processed: 0, total: 0, previous, stallMinutes, maxLongPollSeconds });
  previous = { processed: 0, secondsSinceLaunch: 0 };
  for (;;) {
    decisions.push(decision);
    loopStarts.push(t);
    t += decision.waitSeconds;
    if (endAt <= t + decision.longPollSeconds) {
      const noticedAt = Math.max(t, endAt) + POLL_OVERHEAD_SECONDS;
      return summary(loopStarts, endAt, noticedAt - endAt, decisions);
    }
    t += decision.longPollSeconds + POLL_OVERHEAD_SECONDS;
    const processed = processedAt(model, t);
    const total = t >= model.totalKnownAfterSeconds ? totalOf(model) : 0;
    decision = nextWait({ secondsSinceLaunch: t, processed, total, previous, stallMinutes, maxLongPollSeconds });
    previous = { processed, secondsSinceLaunch: t };
    if (loopStarts.length > 100_000) throw new Error('the poll loop does not end');
  }
}

function summary(loopStarts: number[], endAt: number, lateSeconds: number, decisions: WaitDecision[]): SimulatedRun {
  const perHour = new Map<number, number>();
  for (const start of loopStarts) {
    const hour = Math.floor(start / 3600);
    perHour.set(hour, (perHour.get(hour) ?? 0) + TRANSITIONS_PER_LOOP);
  }
  return {
    loops: loopStarts.length,
    endAt,
    lateSeconds,
    maxTransitionsInAnyHour: Math.max(...perHour.values()),
    transitionsPerHour: (loopStarts.length * TRANSITIONS_PER_LOOP) / (endAt / 3600),
    historyEvents: loopStarts.length * HISTORY_EVENTS_PER_LOOP,
    decisions,
  };
}

/**
 * The worked example as a 5-hour run (~4,700 docs/s on average): the backfill-only documents first, then
 * the dual-write days, whose documents are mostly version conflicts and go `speedup` times faster.
 */
function workedExampleRun(speedup: number): RunModel {
  const written = 70_798_760 + 634_962;
  const conflicts = 13_553_083;
  const totalKnownAfterSeconds = 3;
  const rate = (written + conflicts / speedup) / (5 * 3600 - totalKnownAfterSeconds);
  return {
    totalKnownAfterSeconds,
    phases: [
      { docs: written, docsPerSecond: rate },
      { docs: conflicts, docsPerSecond: rate * speedup },
    ],
  };
}

describe('nextWait on a simulated run', () => {
  it('polls a 5-hour 85M-document run at most 30 transitions an hour and notices its end within 10 s, though the last days go faster', () => {
    // Act
    const run = simulate(workedExampleRun(3));

    // Assess
    expect(run.endAt / 3600).toBeCloseTo(5, 1);
    expect(run.maxTransitionsInAnyHour).toBeLessThanOrEqual(30);
    expect(run.lateSeconds).toBeLessThanOrEqual(10);
    expect(run.decisions.some((d) => d.phase === 'finishing' && d.longPollSeconds === 600)).toBe(true);
  });

  it.each([1, 2, 4])('keeps both goals when the last days go %i times faster', (speedup) => {
    const run = simulate(workedExampleRun(speedup));

    expect(run.maxTransitionsInAnyHour).toBeLessThanOrEqual(30);
    expect(run.lateSeconds).toBeLessThanOrEqual(10);
  });

  it('keeps both goals when the last days go slower', () => {
    const model = workedExampleRun(1);
    const slowEnd: RunModel = { ...model, phases: [model.phases[0]!, { docs: 13_553_083, docsPerSecond: 1_000 }] };

    const run = simulate(slowEnd);

    expect(run.maxTransitionsInAnyHour).toBeLessThanOrEqual(30);
    expect(run.lateSeconds).toBeLessThanOrEqual(10);
  });

  it('keeps a 48-hour run far below the 25,000 history events of a standard workflow', () => {
    // Prepare
    const model: RunModel = { totalKnownAfterSeconds: 3, phases: [{ docs: 85_000_000, docsPerSecond: 85_000_000 / (48 * 3600) }] };

    // Act
    const run = simulate(model);

    // Assess
    expect(run.historyEvents).toBeLessThan(2_500);
    expect(run.lateSeconds).toBeLessThanOrEqual(10);
  });

  it('notices the end of a task that ends before its first poll when it ends', () => {
    // An empty or small partition: done 2 s after its launch, its total never seen by a poll.
    const run = simulate({ totalKnownAfterSeconds: 1, phases: [{ docs: 1_000, docsPerSecond: 1_000 }] });

    expect(run.endAt).toBe(2);
    expect(run.lateSeconds).toBe(POLL_OVERHEAD_SECONDS);
    expect(run.loops).toBe(1);
  });

  it('notices the end of a run of a few seconds at once', () => {
    const run = simulate({ totalKnownAfterSeconds: 1, phases: [{ docs: 40, docsPerSecond: 10 }] });

    expect(run.lateSeconds).toBeLessThanOrEqual(10);
    expect(run.loops).toBeLessThanOrEqual(3);
  });
});

describe('nextWait', () => {
  const base = { stallMinutes: 15, previous: null, processed: 0, total: 0 };

  it('polls 3 s after the launch (a 2-s long-poll), then 10 s, then 30 s apart while the total is still 0', () => {
    const waits = [0, 20, 60].map((t) => nextWait({ ...base, secondsSinceLaunch: t }));

    expect(waits.map((w) => [w.waitSeconds, w.longPollSeconds, w.phase])).toEqual([
      [1, 2, 'measuring'],
      [10, 0, 'measuring'],
      [30, 0, 'measuring'],
    ]);
  });

  it('waits without long-polling when long-polls are switched off', () => {
    expect(nextWait({ ...base, secondsSinceLaunch: 0, maxLongPollSeconds: 0 })).toMatchObject({ waitSeconds: 5, longPollSeconds: 0 });
  });

  it('keeps polling short while the rate is unknown, and backs off when it stays unknown', () => {
    // Prepare: total known but nothing processed since the last poll
    const input = { ...base, total: 1_000, processed: 0, previous: { processed: 0, secondsSinceLaunch: 5 } };

    // Act / Assess
    expect(nextWait({ ...input, secondsSinceLaunch: 10 })).toMatchObject({ waitSeconds: 1, longPollSeconds: 2 });
    expect(nextWait({ ...input, secondsSinceLaunch: 400 })).toMatchObject({ waitSeconds: 100, longPollSeconds: 0 });
    expect(nextWait({ ...input, secondsSinceLaunch: 40_000 }).waitSeconds).toBe(900);
  });

  it('waits long mid-run, never longer than the stall window', () => {
    // Prepare: 2 hours in, 50M of 85M done at 4,700 docs/s
    const input = {
      secondsSinceLaunch: 7_200,
      processed: 50_000_000,
      total: 85_000_000,
      previous: { processed: 50_000_000 - 4_700 * 900, secondsSinceLaunch: 6_300 },
    };

    // Act
    const wait = nextWait({ ...input, stallMinutes: 15 });

    // Assess
    expect(wait).toMatchObject({ waitSeconds: 900, longPollSeconds: 0, phase: 'running' });
    expect(wait.docsPerSecond).toBeCloseTo(4_700);
    expect(nextWait({ ...input, stallMinutes: 5 }).waitSeconds).toBe(300);
    expect(nextWait({ ...input, stallMinutes: 120 }).waitSeconds).toBe(1_800);
  });

  it('grows the first waits with the age of the run', () => {
    const input = { total: 85_000_000, stallMinutes: 15 };

    const early = nextWait({ ...input, secondsSinceLaunch: 6, processed: 20_000, previous: { processed: 0, secondsSinceLaunch: 0 } });
    const later = nextWait({ ...input, secondsSinceLaunch: 200, processed: 900_000, previous: { processed: 300_000, secondsSinceLaunch: 70 } });

    expect(early.waitSeconds).toBe(60);
    expect(later.waitSeconds).toBe(400);
  });

  it('switches to a long-poll when the end may come before the next mid-run poll', () => {
    // Prepare: 10 minutes left at the current rate
    const input = {
      secondsSinceLaunch: 17_000,
      processed: 85_000_000 - 4_700 * 600,
      total: 85_000_000,
      previous: { processed: 85_000_000 - 4_700 * 1_500, secondsSinceLaunch: 16_100 },
      stallMinutes: 15,
    };

    // Act
    const wait = nextWait(input);

    // Assess: wait until the earliest the end can come (a 4x faster finish), then long-poll
    expect(wait).toMatchObject({ waitSeconds: 150, longPollSeconds: 600, phase: 'finishing' });
    expect(wait.etaSeconds).toBeCloseTo(600);
  });

  it('long-polls at once when every document is processed but the task has not completed yet', () => {
    const wait = nextWait({
      secondsSinceLaunch: 18_000,
      processed: 1_000,
      total: 1_000,
      previous: { processed: 900, secondsSinceLaunch: 17_990 },
      stallMinutes: 15,
    });

    expect(wait).toMatchObject({ waitSeconds: 1, longPollSeconds: 600, etaSeconds: 0 });
  });

  it('never long-polls beyond the Lambda limit, whatever maximum is asked', () => {
    const input = { secondsSinceLaunch: 100, processed: 1_000, total: 1_000, previous: { processed: 1, secondsSinceLaunch: 1 }, stallMinutes: 15 };

    expect(nextWait({ ...input, maxLongPollSeconds: 3_600 }).longPollSeconds).toBe(LONG_POLL_CEILING_SECONDS);
    expect(nextWait({ ...input, maxLongPollSeconds: 120 }).longPollSeconds).toBe(120);
  });

  it('answers whole seconds of at least 1 and at most the stall window, for any progress', () => {
    for (let i = 0; i < 500; i++) {
      const total = (i * 7_919) % 100_000;
      const processed = Math.min(total, (i * 104_729) % 100_000);
      const t = (i * 37) % 20_000;
      const stallMinutes = 1 + (i % 30);
      const wait = nextWait({ secondsSinceLaunch: t, processed, total, previous: { processed: processed / 2, secondsSinceLaunch: t / 2 }, stallMinutes });
      expect(Number.isInteger(wait.waitSeconds)).toBe(true);
      expect(wait.waitSeconds).toBeGreaterThanOrEqual(1);
      expect(wait.waitSeconds).toBeLessThanOrEqual(Math.min(1_800, stallMinutes * 60));
      expect(wait.longPollSeconds).toBeLessThanOrEqual(600);
    }
  });
});

describe('stalled', () => {
  it('reports a stall when no counter changed for stallMinutes', () => {
    // Prepare
    let mark = markProgress(null, 1_000, 85_000, 0);
    mark = markProgress(mark, 5_000, 85_000, 600);
    mark = markProgress(mark, 5_000, 85_000, 1_200);

    // Act / Assess
    expect(mark.changedAtSeconds).toBe(600);
    expect(stalled(mark, 1_400, 15)).toBe(false);
    expect(stalled(mark, 1_500, 15)).toBe(true);
  });

  it('counts the total appearing as progress', () => {
    const mark = markProgress(markProgress(null, 0, 0, 0), 0, 85_000, 300);

    expect(mark.changedAtSeconds).toBe(300);
    expect(stalled(mark, 1_000, 15)).toBe(false);
  });
});
