import { parseOpaqueId } from '../shared/canonical-request';
import { getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { outcomeFromTaskAnswer, reconcile as reconcileCounters } from '../shared/counters';
import { CounterMismatchError, ReindexFailedError, TaskLostError } from '../shared/errors';
import { getPartition, partitionTag, updatePartition } from '../shared/partitioned-run';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';
import { partitionOf } from '../shared/partition-states';

/** The partition's counters add up, hold no failure, and agree with its expected count. */
export async function reconcilePartition({ state }: StateInvocation, deps: RunDeps): Promise<{ total: number }> {
  const { runId } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  const part = await getPartition(deps.ledger, runId, partitionId);
  const task = await getTask(deps.target, taskId);
  if (!task || !task.completed || parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== partitionTag(runId, partitionId)) {
    throw new TaskLostError(`partition ${partitionId}: task ${taskId} has no stored result to reconcile`);
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
  if (!verdict.ok) {
    const message = `partition ${partitionId}: ${verdict.cause} (${verdict.arithmetic})`;
    throw verdict.error === 'CounterMismatch' ? new CounterMismatchError(message) : new ReindexFailedError(message);
  }
  await updatePartition(deps.ledger, runId, partitionId, { status: 'SUCCEEDED', counters: { ...outcome.counters, arithmetic: verdict.arithmetic } }, deps.now());
  deps.log.info('partition reconciles', { runId, partitionId, arithmetic: verdict.arithmetic });
  return { total: outcome.counters.total };
}
