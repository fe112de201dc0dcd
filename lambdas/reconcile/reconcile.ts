import { parseOpaqueId } from '../shared/canonical-request';
import { getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { outcomeFromTaskAnswer, reconcile as reconcileCounters } from '../shared/counters';
import { CounterMismatchError, ReindexFailedError, TaskLostError } from '../shared/errors';
import type { JsonObject } from '../shared/ledger';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';

/** Step 10: the finished task's counters add up, hold no failure, and agree with the source baseline. */
export async function reconcile({ state }: StateInvocation, deps: RunDeps): Promise<{ total: number; arithmetic: string }> {
  const { runId, targetIndex } = state.run;
  const taskId = state.launch!.taskId;
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;
  const task = await getTask(deps.target, taskId);
  if (!task || !task.completed || parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== runId) {
    throw new TaskLostError(`task ${taskId} has no stored result of this run to reconcile: rerun the same input under a new run id`);
  }
  const outcome = outcomeFromTaskAnswer(task);
  const sourceBaseline = (record.baselines as { sourceCount: number } | undefined)?.sourceCount ?? 0;
  const verdict = reconcileCounters({
    counters: outcome.counters,
    failures: outcome.failures,
    sourceBaseline,
    tolerance: config.parity.countTolerance,
    taskError: outcome.error,
    canceled: outcome.canceled,
    timedOut: outcome.timedOut,
  });
  await deps.ledger.updateRun(runId, {
    counters: { ...outcome.counters, arithmetic: verdict.arithmetic, firstFailures: outcome.failures as JsonObject[] } as JsonObject,
  });
  deps.metrics.emit(targetIndex, {
    Created: outcome.counters.created,
    Updated: outcome.counters.updated,
    VersionConflicts: outcome.counters.versionConflicts,
    Failures: outcome.counters.failures,
    CounterMismatch: verdict.ok || verdict.error !== 'CounterMismatch' ? 0 : 1,
  });
  if (!verdict.ok) {
    deps.log.warn('reconciliation failed', { runId, error: verdict.error, arithmetic: verdict.arithmetic });
    const message = `${verdict.cause} (${verdict.arithmetic})`;
    throw verdict.error === 'CounterMismatch' ? new CounterMismatchError(message) : new ReindexFailedError(message);
  }
  deps.log.info('counters reconcile', { runId, arithmetic: verdict.arithmetic });
  return { total: outcome.counters.total, arithmetic: verdict.arithmetic };
}
