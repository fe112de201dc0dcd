/**
 * Stall detection, shared by PollTask (a single-task run) and PollPartition (each partition of a
 * partitioned run): no counter change for `guards.stallMinutes` is reported once per stall, as the
 * metric `Stalled` (index dimension, so the alarm fires), a warning and a record in the ledger. The
 * cursor's `stallReported` keeps it from being reported again until the counters move.
 */
import { stalled, type ProgressMark } from './adaptive-wait';
import type { PollCursor, RunDeps } from '../runtime/run-context';

/** A stall as the poll loop saw it: since when the counters have not moved, and where they stand. */
export interface Stall {
  /** When the counters last changed (ISO). */
  readonly since: string;
  /** created + updated + deleted + noops + version_conflicts, unchanged since then. */
  readonly processed: number;
  readonly total: number;
  readonly stallMinutes: number;
}

export interface StallCheck {
  /** This poll is the first to see this stall: report it. */
  readonly report: boolean;
  /** The stall, while the counters stand still for the window (reported now or already). */
  readonly stall?: Stall;
  /** `next` with `stallReported` carried: set once reported, cleared when the counters move again. */
  readonly cursor: PollCursor;
}

function sameMark(a: ProgressMark | null, b: ProgressMark | null): boolean {
  return a !== null && b !== null && a.processed === b.processed && a.total === b.total && a.changedAtSeconds === b.changedAtSeconds;
}

/**
 * Pure: whether this poll reports a stall. `before` is the cursor the poll started with, `next` the one
 * `nextPoll` made from its counters (its mark moves whenever a counter moved). A finished task never stalls.
 */
export function checkStall(input: { completed: boolean; before: PollCursor; next: PollCursor; nowMs: number; stallMinutes: number }): StallCheck {
  const { completed, before, next, nowMs, stallMinutes } = input;
  const mark = next.mark;
  const stillReported = before.stallReported && sameMark(mark, before.mark);
  if (completed || mark === null || !stalled(mark, (nowMs - next.launchedAtMs) / 1000, stallMinutes)) {
    return { report: false, cursor: { ...next, stallReported: stillReported } };
  }
  const stall: Stall = {
    since: new Date(next.launchedAtMs + mark.changedAtSeconds * 1000).toISOString(),
    processed: mark.processed,
    total: mark.total,
    stallMinutes,
  };
  return { report: !stillReported, stall, cursor: { ...next, stallReported: true } };
}

/**
 * Reports a stall the poll just found: `Stalled` on the target index, a warning naming the task (and
 * the partition), `stall` on the run record (and on the partition item).
 */
export async function reportStall(
  deps: RunDeps,
  at: { readonly runId: string; readonly targetIndex: string; readonly taskId: string; readonly partitionId?: string; readonly stall: Stall; readonly now: Date },
): Promise<void> {
  const { runId, targetIndex, taskId, partitionId, stall, now } = at;
  deps.metrics.emit(targetIndex, { Stalled: 1 });
  deps.log.warn('stalled: no counter change', {
    runId,
    ...(partitionId === undefined ? {} : { partitionId }),
    taskId,
    since: stall.since,
    processed: stall.processed,
    total: stall.total,
    stallMinutes: stall.stallMinutes,
  });
  const record = { at: now.toISOString(), since: stall.since, processed: stall.processed, total: stall.total, taskId };
  if (partitionId !== undefined) await deps.ledger.updatePartition(runId, partitionId, { stall: record }, now);
  await deps.ledger.updateRun(runId, { stall: { ...record, ...(partitionId === undefined ? {} : { partitionId }) } });
}
