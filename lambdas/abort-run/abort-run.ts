import { parseOpaqueId } from '../shared/planning/canonical-request';
import { cancelTask, reindexTasksInto } from '../shared/cluster/cluster-ops';
import { isRunTag } from '../shared/planning/partitions';
import { stopRunTasks } from '../shared/task-loop/task-states';
import type { RunDeps } from '../shared/runtime/run-context';
import { restoreTombstones } from '../shared/cluster/tombstones';

/** EventBridge "Step Functions Execution Status Change", the fields the cleanup reads. */
export interface ExecutionStatusChange {
  readonly detail: { readonly executionArn: string; readonly status: string; readonly input?: string | null };
}

export interface EndedExecution {
  readonly runId: string;
  readonly executionArn: string;
  /** ABORTED, TIMED_OUT or FAILED. */
  readonly status: string;
}

/** The run an ended execution was about, or undefined when its input names none (it failed validation). */
export function endedExecution(event: ExecutionStatusChange): EndedExecution | undefined {
  let input: unknown;
  try {
    input = JSON.parse(event.detail.input ?? '{}');
  } catch {
    return undefined;
  }
  const runId = (input as { runId?: unknown } | null)?.runId;
  return typeof runId === 'string' ? { runId, executionArn: event.detail.executionArn, status: event.detail.status } : undefined;
}

/**
 * A stop can land between a launch and the write of its task id: the task runs, and no ledger item names
 * it. Every reindex task still writing into the run's target index under the run's own tag (`X-Opaque-Id`
 * `<run id>/...`, a partition's `<run id>.<partition>/...`) is cancelled, while the run still holds the
 * index's lock (so the tasks are its own: no other live run writes there).
 */
export async function cancelUnrecordedTasks(deps: RunDeps, targetIndex: string, runId: string): Promise<string[]> {
  if ((await deps.ledger.getLock(targetIndex))?.runId !== runId) return [];
  const own = (await reindexTasksInto(deps.target, targetIndex)).filter((t) => isRunTag(runId, parseOpaqueId(t.opaqueId)?.runId));
  for (const task of own) await cancelTask(deps.target, task.taskId);
  if (own.length > 0) deps.log.warn('cancelled reindex tasks the ledger did not name yet', { runId, tasks: own.map((t) => t.taskId) });
  return own.map((t) => t.taskId);
}

/**
 * An execution that ended without succeeding (console Stop, a timeout, a failure, Ctrl-C of the local
 * runner) must not orphan its reindex: cancel the task, restore the target's tombstone retention,
 * release the lock, and mark the run ABORTED
 * unless it already recorded how it ended. Only the execution that created the run record may clean it
 * up: a second execution reusing a run id (refused at validation) must not touch the first one's task.
 */
export async function abortRun(ended: EndedExecution, deps: RunDeps): Promise<{ status: string; cancelledTask: string | null }> {
  const { runId } = ended;
  const record = await deps.ledger.getRun(runId);
  if (!record) return { status: 'UNKNOWN', cancelledTask: null };
  if (record.executionArn && record.executionArn !== ended.executionArn) return { status: 'NOT_THIS_EXECUTION', cancelledTask: null };
  const taskIds: string[] = [];
  if (!record.dryRun) {
    const stop = await stopRunTasks(deps, runId);
    if (stop.failed) throw stop.failed.error;
    taskIds.push(...stop.cancelled);
  }
  const taskId = taskIds[0] ?? null;
  const cancelled = taskIds.length === 0 ? '' : taskIds.length === 1 ? `; its reindex task ${taskId} was cancelled` : `; its reindex tasks ${taskIds.join(', ')} were cancelled`;
  const kept = await deps.ledger.finishRun(runId, { status: 'ABORTED', error: 'Aborted', cause: `the execution ended ${ended.status}${cancelled}` });
  if (!record.dryRun) {
    // After the run is marked ended: a launch that answers later sees it ended and cancels its own task.
    await cancelUnrecordedTasks(deps, record.targetIndex, runId);
    await restoreTombstones(deps, record.targetIndex, runId);
    await deps.ledger.releaseLock(record.targetIndex, runId);
  }
  deps.log.warn('cleaned up after the execution ended', { runId, executionStatus: ended.status, taskId, status: kept.status });
  return { status: kept.status, cancelledTask: taskId };
}
