import { RUN_ERROR_NAMES, causeMessage } from '../shared/runtime/errors';
import { stopRunTasks } from '../shared/task-loop/task-states';
import type { RunDeps, StateInvocation } from '../shared/runtime/run-context';
import { restoreTombstones } from '../shared/cluster/tombstones';

/** Transient errors that outlived their retries end the run as the cluster being unreachable. */
const FINAL_NAME: Record<string, string> = { TransientCluster: 'ClusterUnreachable' };

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
  // A cancel that failed keeps the run's task slots, as it keeps the lock.
  const failed = dryRun ? undefined : (await stopRunTasks(deps, runId)).failed;
  const cancelError = failed?.error;
  const taskId = failed?.taskId;
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
