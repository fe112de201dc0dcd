import { cancelTask } from '../shared/cluster-ops';
import { RUN_ERROR_NAMES } from '../shared/errors';
import type { RunDeps, StateInvocation } from '../shared/run-context';
import { restoreTombstones } from '../shared/tombstones';

/** Transient errors that outlived their retries end the run as the cluster being unreachable. */
const FINAL_NAME: Record<string, string> = { TransientCluster: 'ClusterUnreachable' };

/** The message inside a Lambda error's Cause (`{"errorType","errorMessage","trace"}`), or the Cause itself. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

/**
 * Every failure after validation: cancel this run's task if it may still run (no reindex is left
 * unowned), record the failure, restore the target's tombstone retention and release the lock if this
 * run holds it. Idempotent with the abort cleanup.
 */
export async function recordFailure({ state }: StateInvocation, deps: RunDeps): Promise<{ error: string; cause: string }> {
  const { runId, targetIndex, dryRun } = state.run;
  const raw = state.failure?.Error ?? 'RunFailed';
  const error = FINAL_NAME[raw] ?? raw;
  const cause = causeMessage(state.failure?.Cause) || error;
  const taskId = state.launch?.taskId ?? (await deps.ledger.getTaskId(runId));
  let cancelError: unknown;
  if (taskId) await cancelTask(deps.target, taskId).catch((err: unknown) => (cancelError = err));
  if (!dryRun) {
    // A single-task run holds a domain task slot too; a cancel that failed keeps its slot, as it keeps the lock.
    const { stopPartitions, releaseRunTaskSlots } = await import('../shared/partition-states');
    if ((await deps.ledger.getRun(runId))?.plan) await stopPartitions(deps, runId).catch((err: unknown) => (cancelError = err));
    else if (!cancelError) await releaseRunTaskSlots(deps, runId);
  }
  const kept = await deps.ledger.finishRun(runId, {
    status: 'FAILED',
    error,
    cause: cancelError ? `${cause} (task ${taskId} could not be cancelled yet: ${(cancelError as Error).message})` : cause,
  });
  // A task that may still run keeps its lock: the step's retries, then the execution status rule's
  // cleanup, cancel it first. Releasing now would leave a reindex writing with no owner.
  if (cancelError) throw cancelError;
  if (!dryRun) {
    await restoreTombstones(deps, targetIndex, runId);
    await deps.ledger.releaseLock(targetIndex, runId);
  }
  deps.log.warn('run failed', { runId, error, known: (RUN_ERROR_NAMES as readonly string[]).includes(error), status: kept.status });
  return { error, cause };
}
