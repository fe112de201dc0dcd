/**
 * Stall detection of PollTask, for every task of a run (the whole index, or each partition of a
 * partitioned run): no counter change for `guards.stallMinutes` is reported once per stall, as the
 * metric `Stalled` (index dimension, so the alarm fires), a warning and a record in the ledger. The
 * cursor's `stallReported` keeps it from being reported again until the counters move.
 */
import { stalled, type ProgressMark } from './adaptive-wait';
import type { PollCursor, RunDeps } from '../runtime/run-context';
import { processed as processedOf, type Counters } from '../checks/counters';
import { sumCounters } from '../planning/partitions';
import type { PartitionItem } from '../ledger/ledger';

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

/**
 * What a partitioned run shows while it polls: each partition's progress and the run's, from
 * the ledger's partition items. The run-level metrics (`Created`, `Updated`, `VersionConflicts`,
 * `Failures`) are the sum of every partition's latest counters, the same series a single-task run
 * emits; per-partition values go only into the structured `poll` log line (no partition dimension).
 */

/**
 * A partitioned run at one poll: the partitions by state and their counters summed (`total`: each
 * partition's task total once reported, its expected count before).
 */
export interface RunProgress extends Counters {
  readonly partitions: number;
  /** SUCCEEDED, or the partition whose task this poll saw completed. */
  readonly done: number;
  readonly running: number;
  /** PENDING or RETRYING: waiting for a task slot or for its next attempt. */
  readonly waiting: number;
  readonly failed: number;
  /** created + updated + deleted + noops + version_conflicts over every partition. */
  readonly processed: number;
  /** processed / total in percent, one decimal, rounded down (100 only when everything is processed). */
  readonly percent: number;
}

/** This poll's counters of one partition, fresher than its ledger item. */
export interface PartitionPoll {
  readonly partitionId: string;
  readonly completed: boolean;
  readonly counters: Counters;
}

export function percent(processed: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.floor((1000 * processed) / total) / 10);
}

/** The run's progress from its partition items, with `poll` (the partition just polled) taken over its item. */
export function runProgress(parts: readonly PartitionItem[], poll?: PartitionPoll): RunProgress {
  const current = parts.map((p) => (poll && p.partitionId === poll.partitionId ? { ...p, counters: poll.counters } : p));
  const sum = sumCounters(current.map((p) => p.counters));
  const justDone = (p: PartitionItem) => poll?.completed === true && p.partitionId === poll.partitionId;
  const count = (test: (p: PartitionItem) => boolean) => current.filter(test).length;
  const processed = current.reduce((n, p) => n + (p.counters ? processedOf(p.counters) : 0), 0);
  const total = current.reduce((n, p) => n + (p.counters && p.counters.total > 0 ? p.counters.total : p.expected), 0);
  return {
    partitions: current.length,
    done: count((p) => p.status === 'SUCCEEDED' || justDone(p)),
    running: count((p) => p.status === 'RUNNING' && !justDone(p)),
    waiting: count((p) => p.status === 'PENDING' || p.status === 'RETRYING'),
    failed: count((p) => p.status === 'FAILED'),
    processed,
    total,
    percent: percent(processed, total),
    created: sum.created,
    updated: sum.updated,
    deleted: sum.deleted,
    noops: sum.noops,
    versionConflicts: sum.versionConflicts,
    failures: sum.failures,
  };
}

/**
 * After a partition's poll is recorded: the run's totals as metrics (each emission is the whole run's
 * cumulative sum at that moment, so the `Maximum` statistic over a period is the run's count, never a
 * sum of snapshots) and the `poll` log line with the partition's progress and the run's. Observability
 * only: a ledger error here is logged, the poll goes on.
 */
export async function reportPartitionPoll(
  deps: RunDeps,
  poll: PartitionPoll & { readonly runId: string; readonly targetIndex: string; readonly taskId: string; readonly partition: PartitionItem },
): Promise<RunProgress | undefined> {
  const { runId, targetIndex, partitionId, taskId, completed, counters, partition } = poll;
  let run: RunProgress | undefined;
  try {
    run = runProgress(await deps.ledger.listPartitions(runId), { partitionId, completed, counters });
  } catch (err) {
    deps.log.warn('poll: the run totals could not be read from the ledger', { runId, partitionId, error: (err as Error).message });
  }
  if (run) {
    deps.metrics.emit(targetIndex, { Created: run.created, Updated: run.updated, VersionConflicts: run.versionConflicts, Failures: run.failures });
  }
  const done = processedOf(counters);
  deps.log.info('poll', {
    runId,
    targetIndex,
    partitionId,
    taskId,
    attempt: partition.attempts,
    completed,
    ...counters,
    processed: done,
    expected: partition.expected,
    percent: percent(done, counters.total > 0 ? counters.total : partition.expected),
    ...(run ? { run } : {}),
  });
  return run;
}
