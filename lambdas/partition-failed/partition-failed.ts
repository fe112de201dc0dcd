import { cancelTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { PARTITION_MAX_ATTEMPTS, getPartition, updatePartition } from '../shared/partitioned-run';
import { causeMessage } from '../record-failure/record-failure';
import { type RunDeps, type StateInvocation } from '../shared/run-context';
import { isRejection, lowerConcurrency, partitionOf } from '../shared/partition-states';
import { releaseTaskSlot } from '../release-task-slot/release-task-slot';

/**
 * Any failure inside an iteration: cancel the partition's task, record the failure on the partition,
 * release its slots, lower the run's concurrency on a rejection, and say whether to retry it alone
 * (merge mode makes a rerun safe). Never throws the partition's error: ReconcileRun judges the run.
 */
export async function partitionFailed({ state }: StateInvocation, deps: RunDeps): Promise<{ retry: boolean }> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const part = await getPartition(deps.ledger, runId, partitionId);
  const error = state.failure?.Error ?? 'RunFailed';
  const cause = causeMessage(state.failure?.Cause) || error;
  if (part.taskId) await cancelTask(deps.target, part.taskId);
  const record = await deps.ledger.getRun(runId);
  const config = record?.config as unknown as RunConfig | undefined;
  const stopped = record === undefined || ['FAILED', 'ABORTED'].includes(record.status);
  // A wrong request (rail 2) or a run without approval is not retried: it would fail the same way.
  const retry =
    !stopped && part.attempts < PARTITION_MAX_ATTEMPTS && !['HeaderCheckFailed', 'DryRunRequired'].includes(error) && config?.mode !== 'overwrite';
  await updatePartition(
    deps.ledger,
    runId,
    partitionId,
    {
      status: retry ? 'RETRYING' : 'FAILED',
      taskId: null,
      errors: [...part.errors, { attempt: part.attempts, error, cause, ...(part.taskId ? { taskId: part.taskId } : {}) }],
    },
    deps.now(),
  );
  await releaseTaskSlot({ state }, deps);
  if (isRejection(cause)) await lowerConcurrency(deps, runId, partitionId, `${error}: ${cause.slice(0, 300)}`);
  deps.log.warn(retry ? 'partition failed: retrying it alone' : 'partition failed', { runId, targetIndex, partitionId, error, attempt: part.attempts });
  return { retry };
}
