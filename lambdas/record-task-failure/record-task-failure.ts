import { cancelTask } from '../shared/cluster/cluster-ops';
import { causeMessage } from '../shared/runtime/errors';
import { PARTITION_MAX_ATTEMPTS } from '../shared/planning/partitions';
import { type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { isRejection, lowerConcurrency, partitionOf, releaseTaskSlots } from '../shared/task-loop/task-states';

/**
 * Any failure inside an iteration: cancel its task, record the failure on the partition, release its
 * slots, lower the run's concurrency on a rejection, and say whether to retry the partition alone (merge
 * mode makes a rerun safe; the whole-index partition gets one attempt). Never throws the task's error:
 * ReconcileRun ends the run with it.
 */
export async function recordTaskFailure({ state }: StateInvocation, deps: RunDeps): Promise<{ retry: boolean }> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const part = await deps.ledger.getPartition(runId, partitionId);
  const error = state.failure?.Error ?? 'RunFailed';
  const cause = causeMessage(state.failure?.Cause) || error;
  if (part.taskId) await cancelTask(deps.target, part.taskId);
  const record = await deps.ledger.getRun(runId);
  const config = record?.config;
  const stopped = record === undefined || ['FAILED', 'ABORTED'].includes(record.status);
  // A wrong request (rail 2) or a run without approval is not retried: it would fail the same way.
  const retry =
    !stopped && part.attempts < (part.maxAttempts ?? PARTITION_MAX_ATTEMPTS) && !['HeaderCheckFailed', 'DryRunRequired'].includes(error) && config?.mode !== 'overwrite';
  await deps.ledger.updatePartition(
    runId,
    partitionId,
    {
      status: retry ? 'RETRYING' : 'FAILED',
      taskId: null,
      errors: [...part.errors, { attempt: part.attempts, error, cause, ...(part.taskId ? { taskId: part.taskId } : {}) }],
    },
    deps.now(),
  );
  await releaseTaskSlots(deps, runId, partitionId);
  if (record && isRejection(cause)) await lowerConcurrency(deps, record, partitionId, `${error}: ${cause.slice(0, 300)}`);
  deps.log.warn(retry ? 'task failed: retrying its partition alone' : 'task failed', { runId, targetIndex, partitionId, error, attempt: part.attempts });
  return { retry };
}
