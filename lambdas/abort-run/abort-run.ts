import { cancelTask } from '../shared/cluster-ops';
import type { RunDeps } from '../shared/run-context';
import { restoreTombstones } from '../shared/tombstones';

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
  const taskId = record.taskId ?? null;
  if (taskId) await cancelTask(deps.target, taskId);
  if (!record.dryRun) {
    const { stopPartitions, releaseRunTaskSlots } = await import('../shared/partition-states');
    if (record.plan) await stopPartitions(deps, runId);
    else await releaseRunTaskSlots(deps, runId);
  }
  const kept = await deps.ledger.finishRun(runId, {
    status: 'ABORTED',
    error: 'Aborted',
    cause: `the execution ended ${ended.status}${taskId ? `; its reindex task ${taskId} was cancelled` : ''}`,
  });
  if (!record.dryRun) {
    await restoreTombstones(deps, record.targetIndex, runId);
    await deps.ledger.releaseLock(record.targetIndex, runId);
  }
  deps.log.warn('cleaned up after the execution ended', { runId, executionStatus: ended.status, taskId, status: kept.status });
  return { status: kept.status, cancelledTask: taskId };
}
