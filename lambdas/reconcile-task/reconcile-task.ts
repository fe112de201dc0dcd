import { parseOpaqueId } from '../shared/planning/canonical-request';
import { getTask } from '../shared/cluster/cluster-ops';
import { outcomeFromTaskAnswer, reconcile as reconcileCounters } from '../shared/checks/counters';
import { CounterMismatchError, ReindexFailedError, TaskLostError } from '../shared/runtime/errors';
import { partitionTag, taskLabel, WHOLE_INDEX_PARTITION_ID } from '../shared/planning/partitions';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { partitionOf } from '../shared/task-loop/task-states';

/**
 * The finished task's counters add up, hold no failure, and agree with the documents its partition was
 * expected to hold (the whole index: the source baseline). Its counters and first failures are recorded
 * on the partition either way, so that ReconcileRun and the receipts show what the task did.
 */
export async function reconcileTask({ state }: StateInvocation, deps: RunDeps): Promise<{ total: number; arithmetic: string }> {
  const { runId } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const config = (await loadRun(deps, runId)).config;
  const part = await deps.ledger.getPartition(runId, partitionId);
  const where = taskLabel(partitionId, taskId);
  const task = await getTask(deps.target, taskId);
  if (!task || !task.completed || parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== partitionTag(runId, partitionId)) {
    throw new TaskLostError(`${where} has no stored result of this run to reconcile: rerun the same input under a new run id`);
  }
  const outcome = outcomeFromTaskAnswer(task);
  const verdict = reconcileCounters({
    counters: outcome.counters,
    failures: outcome.failures,
    sourceBaseline: part.expected,
    tolerance: config.parity.countTolerance,
    taskError: outcome.error,
    canceled: outcome.canceled,
    timedOut: outcome.timedOut,
  });
  await deps.ledger.updatePartition(
    runId,
    partitionId,
    {
      ...(verdict.ok ? { status: 'SUCCEEDED' } : {}),
      counters: { ...outcome.counters, arithmetic: verdict.arithmetic },
      ...(outcome.failures.length > 0 ? { firstFailures: outcome.failures } : {}),
    },
    deps.now(),
  );
  if (!verdict.ok) {
    deps.log.warn('reconciliation failed', { runId, partitionId, error: verdict.error, arithmetic: verdict.arithmetic });
    const message = `${partitionId === WHOLE_INDEX_PARTITION_ID ? '' : `partition ${partitionId}: `}${verdict.cause} (${verdict.arithmetic})`;
    throw verdict.error === 'CounterMismatch' ? new CounterMismatchError(message) : new ReindexFailedError(message);
  }
  deps.log.info('task reconciles', { runId, partitionId, arithmetic: verdict.arithmetic });
  return { total: outcome.counters.total, arithmetic: verdict.arithmetic };
}
