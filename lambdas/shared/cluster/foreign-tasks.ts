import { cancelTask, reindexTasksInto, type ReindexTask } from './cluster-ops';
import type { RunDeps } from '../runtime/run-context';

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
