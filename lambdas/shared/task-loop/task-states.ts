/** Helpers the partition states share: the slots, the iteration's partition, the approved request, the stop path. */
import { cancelTask, reindexTasksInto, rethrottleTask, type ReindexTask, type TaskView } from '../cluster/cluster-ops';
import { outcomeFromTaskAnswer, processed } from '../checks/counters';
import { runSlotDomain } from '../planning/partitions';
import { TaskSlots } from '../ledger/task-slots';
import type { RunConcurrency, RunRecord } from '../ledger/ledger';
import type { RunDeps, StateInvocation } from '../runtime/run-context';

/**
 * Seconds before the first retry for a slot, doubled on each further try up to {@link SLOT_WAIT_MAX_SECONDS}:
 * a run or partition waiting an hour for a slot held by another run costs ~12 tries (~110 history events),
 * so even days of waiting stay far from the 25,000-event limit; a freed slot may stay idle up to 5 minutes,
 * little beside tasks that run for hours.
 */
export const SLOT_WAIT_SECONDS = 15;
export const SLOT_WAIT_MAX_SECONDS = 300;

export function nextSlotWait(previous: number | undefined): number {
  return previous && previous > 0 ? Math.min(SLOT_WAIT_MAX_SECONDS, previous * 2) : SLOT_WAIT_SECONDS;
}

/** The run's partition concurrency as it stands: maxConcurrency, lowered by the target's rejections. */
export function currentConcurrency(record: RunRecord): number {
  return record.concurrency?.current ?? record.config.maxConcurrency ?? 1;
}

/**
 * The target rejects writes (es_rejected_execution_exception, growing retries.bulk): one partition task
 * fewer for this run from now on (never below 1). Running tasks are not cut off: their run-level slots
 * above the new maximum are simply not handed out again. Recorded on the run and logged.
 */
export async function lowerConcurrency(deps: RunDeps, record: RunRecord, partitionId: string, reason: string): Promise<number> {
  const { runId } = record;
  const now = record.concurrency ?? { current: record.config.maxConcurrency ?? 1, changes: [] };
  if (now.current <= 1) return now.current;
  const next: RunConcurrency = {
    current: now.current - 1,
    changes: [...now.changes, { at: deps.now().toISOString(), from: now.current, to: now.current - 1, partitionId, reason }],
  };
  await deps.ledger.updateRun(runId, { concurrency: next });
  deps.log.warn('the target rejects writes: lowering the run\'s partition concurrency', { runId, partitionId, from: now.current, to: next.current, reason });
  return next.current;
}

/** Seconds after a rethrottle before the same task is rethrottled again. */
export const RETHROTTLE_COOLDOWN_SECONDS = 60;
/** Below this a rethrottle would stall the run more than the target's rejections do. */
export const RETHROTTLE_FLOOR = 50;

/**
 * The rate a task is rethrottled to when the target keeps rejecting its writes: half of what it runs at
 * (its throttle, else its measured rate), not below {@link RETHROTTLE_FLOOR}; undefined when it cannot go lower.
 */
export function rethrottleRate(task: { requestsPerSecond: number | null; processed: number; secondsSinceLaunch: number }): number | undefined {
  const throttled = task.requestsPerSecond !== null && Number.isFinite(task.requestsPerSecond) && task.requestsPerSecond > 0;
  const rate = throttled ? task.requestsPerSecond! : task.secondsSinceLaunch > 0 ? task.processed / task.secondsSinceLaunch : 0;
  const next = Math.max(RETHROTTLE_FLOOR, Math.floor(rate / 2));
  return rate > 0 && next < rate ? next : undefined;
}

/**
 * The target rejected writes of a task (its retries.bulk grew). A partitioned run first runs one task
 * fewer ({@link lowerConcurrency}); at one task (a run without partitions, or a partitioned run already down to
 * one) the task itself is rethrottled to {@link rethrottleRate}. Either way the run records and logs it.
 */
export async function easeRejections(
  deps: RunDeps,
  record: RunRecord,
  rejected: { partitionId: string; taskId: string; reason: string; requestsPerSecond: number | null; processed: number; secondsSinceLaunch: number },
): Promise<void> {
  const { runId } = record;
  const { partitionId, taskId, reason } = rejected;
  if (currentConcurrency(record) > 1) {
    await lowerConcurrency(deps, record, partitionId, reason);
    return;
  }
  const throttle = record.throttle ?? { changes: [] };
  const last = throttle.changes.filter((c) => c.taskId === taskId).at(-1);
  // A lower rate applies from the next batch, and the batch in flight may still be retried: judge it later.
  if (last && deps.now().getTime() - Date.parse(last.at) < RETHROTTLE_COOLDOWN_SECONDS * 1000) return;
  const to = rethrottleRate(rejected);
  if (to === undefined) {
    if (last === undefined) deps.log.warn('the target rejects writes: the task already runs at the lowest rate safe-reindex rethrottles to', { runId, partitionId, taskId, requestsPerSecond: rejected.requestsPerSecond, reason });
    return;
  }
  if (!(await rethrottleTask(deps.target, taskId, to))) return;
  const change = { at: deps.now().toISOString(), taskId, partitionId, from: rejected.requestsPerSecond, to, reason };
  await deps.ledger.updateRun(runId, { throttle: { changes: [...throttle.changes, change] } });
  deps.log.warn('the target rejects writes: rethrottled the reindex task', { runId, partitionId, taskId, from: rejected.requestsPerSecond ?? 'unthrottled', to, reason });
}

/** A task answer's throttle (null when unthrottled: ES and OpenSearch show -1) and its measured rate's inputs. */
export function taskRate(task: TaskView, now: Date, launchedAtMs: number): { requestsPerSecond: number | null; processed: number; secondsSinceLaunch: number } {
  const status = (task.response ?? task.task.status ?? {}) as { requests_per_second?: number };
  const rps = status.requests_per_second;
  return {
    requestsPerSecond: typeof rps === 'number' && Number.isFinite(rps) && rps > 0 ? rps : null,
    processed: processed(outcomeFromTaskAnswer(task).counters),
    secondsSinceLaunch: Math.max(0, (now.getTime() - launchedAtMs) / 1000),
  };
}

/** Bulk requests the task resent because the target rejected them (`retries.bulk`, running or done). */
export function retriesBulkOf(task: TaskView): number {
  return ((task.response ?? task.task.status) as { retries?: { bulk?: number } } | undefined)?.retries?.bulk ?? 0;
}

/** Whether a failure or a task answer shows the target rejecting writes. */
export function isRejection(text: string): boolean {
  return /es_rejected_execution_exception|rejected_execution_exception/.test(text);
}

export function slotsOf(deps: RunDeps): TaskSlots {
  return new TaskSlots({ client: deps.ledger.client, tableName: deps.ledger.tableName });
}

export function partitionOf(state: StateInvocation['state']): string {
  if (!state.partition) throw new Error('a task state ran without $.partition');
  return state.partition.id;
}


/** Frees one iteration's domain slot and run-level slot (idempotent). */
export async function releaseTaskSlots(deps: RunDeps, runId: string, partitionId: string): Promise<void> {
  const slots = slotsOf(deps);
  await slots.releaseTaskSlot({ domain: deps.targetEndpoint, runId, partitionId });
  await slots.releaseTaskSlot({ domain: runSlotDomain(deps.targetEndpoint, runId), runId, partitionId });
}

/**
 * The failure and abort paths: cancel every task the run's partitions record, then free the run's task
 * slots. A cancel that fails stops there, and the slots stay held (as the lock does): the failure is
 * returned with its task, for the caller to retry or report.
 */
export async function stopRunTasks(deps: RunDeps, runId: string): Promise<{ cancelled: string[]; failed?: { taskId: string; error: unknown } }> {
  const cancelled: string[] = [];
  for (const part of await deps.ledger.listPartitions(runId)) {
    if (!part.taskId) continue;
    const error = await cancelTask(deps.target, part.taskId).then(() => undefined, (err: unknown) => err ?? new Error('cancel failed'));
    if (error) return { cancelled, failed: { taskId: part.taskId, error } };
    cancelled.push(part.taskId);
  }
  await releaseRunTaskSlots(deps, runId);
  return { cancelled };
}

/** Every task slot the run holds, of the target domain and of the run itself. */
export async function releaseRunTaskSlots(deps: RunDeps, runId: string): Promise<void> {
  const slots = slotsOf(deps);
  await slots.releaseAllTaskSlots({ domain: deps.targetEndpoint, runId });
  await slots.releaseAllTaskSlots({ domain: runSlotDomain(deps.targetEndpoint, runId), runId });
}

/**
 * Each poll's sweep (docs/design.md step 9): every reindex writing into the target that is not this run's
 * own (`isOwn`) is cancelled, recorded on the run, counted (`ForeignReindexCancelled`) and logged.
 */
export async function cancelForeignTasks(deps: RunDeps, runId: string, targetIndex: string, isOwn: (task: ReindexTask) => boolean): Promise<void> {
  for (const task of await reindexTasksInto(deps.target, targetIndex)) {
    if (isOwn(task)) continue;
    await cancelTask(deps.target, task.taskId);
    await deps.ledger.addForeignTask(runId, {
      taskId: task.taskId,
      opaqueId: task.opaqueId ?? null,
      description: task.description,
      cancelledAt: deps.now().toISOString(),
    });
    deps.metrics.emit(targetIndex, { ForeignReindexCancelled: 1 });
    deps.log.warn('cancelled a foreign reindex writing into the target', { runId, taskId: task.taskId, opaqueId: task.opaqueId });
  }
}
