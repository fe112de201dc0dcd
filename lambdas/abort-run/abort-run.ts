import { cancelTask } from '../shared/cluster-ops';
import type { RunDeps } from '../shared/run-context';

/**
 * A stopped execution (console Stop, Ctrl-C of the local runner) must not orphan its reindex: cancel
 * the task, release the lock, mark the run ABORTED. A run that already ended keeps its recorded status.
 */
export async function abortRun(runId: string, deps: RunDeps): Promise<{ status: string; cancelledTask: string | null }> {
  const record = await deps.ledger.getRun(runId);
  if (!record) return { status: 'UNKNOWN', cancelledTask: null };
  const taskId = record.taskId ?? null;
  if (taskId) await cancelTask(deps.target, taskId);
  const kept = await deps.ledger.finishRun(runId, {
    status: 'ABORTED',
    error: 'Aborted',
    cause: 'the execution was stopped; its reindex task was cancelled',
  });
  if (!record.dryRun) await deps.ledger.releaseLock(record.targetIndex, runId);
  deps.log.warn('run aborted', { runId, taskId, status: kept.status });
  return { status: kept.status, cancelledTask: taskId };
}
