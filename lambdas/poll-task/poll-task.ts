import { parseOpaqueId } from '../shared/planning/canonical-request';
import { cancelTask, getTask } from '../shared/cluster/cluster-ops';
import { outcomeFromTaskAnswer, processed } from '../shared/checks/counters';
import { HeaderCheckFailedError, TaskLostError } from '../shared/runtime/errors';
import { isRunTag, partitionTag, taskLabel } from '../shared/planning/partitions';
import { totalProblem } from '../shared/checks/task-identity';
import { cancelForeignTasks, easeRejections, partitionOf, retriesBulkOf, taskRate } from '../shared/task-loop/task-states';
import { longPollFor, nextPoll } from '../shared/task-loop/adaptive-wait';
import { loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { checkStall, reportPartitionPoll, reportStall } from '../shared/task-loop/stall';
import { extendTombstoneRetention } from '../shared/cluster/tombstones';

const RERUN = 'Rerun the same input under a new run id: the approval still holds while young enough, and merge mode makes the rerun safe.';

/**
 * One turn of a task's poll loop (long-polling near the predicted end): the snapshot (with its partition
 * id) and the counters on the partition, the run's totals as metrics and the `poll` log line, rail 2's
 * total check after the first batch, the target's rejections eased, tombstone retention extended, every
 * other reindex writing into the target cancelled (a foreign one, or a duplicate of this partition's
 * task), stalls reported. A 404 means the outcome is unknown, never that the task is done.
 */
export async function pollTask({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const poll = state.poll!;
  const record = await loadRun(deps, runId);
  const { config } = record;
  const part = await deps.ledger.getPartition(runId, partitionId);
  const tag = partitionTag(runId, partitionId);
  const where = taskLabel(partitionId, taskId);
  // Never longer than the ceiling: the invocation must end well inside its Lambda and Task timeouts.
  const task = await getTask(deps.target, taskId, longPollFor(poll.longPollSeconds));
  if (!task) {
    throw new TaskLostError(`${where} is neither running nor stored in .tasks (a node restart drops running tasks): its outcome is unknown. ${RERUN}`);
  }
  // Task numbers start again after a node restart: the old id may now name another task.
  if (parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== tag) {
    throw new TaskLostError(
      `${where}: the id now names another task (${JSON.stringify(task.task.description ?? '')}): the node restarted and this run's task is gone. ${RERUN}`,
    );
  }
  const outcome = outcomeFromTaskAnswer(task);
  const counters = outcome.counters;
  const now = deps.now();
  await deps.ledger.appendPoll(runId, { at: now.toISOString(), partitionId, taskId, completed: outcome.completed, ...counters });
  // The target's rejections: the reindex resends rejected bulks itself (retries.bulk grows); fewer or slower tasks help it.
  const retriesBulk = retriesBulkOf(task);
  const seenBulk = part.retriesBulk ?? 0;
  await deps.ledger.updatePartition(runId, partitionId, { counters, ...(retriesBulk > seenBulk ? { retriesBulk } : {}) }, now);
  if (retriesBulk > seenBulk && !outcome.completed) {
    await easeRejections(deps, record, {
      partitionId,
      taskId,
      reason: `task ${taskId}: retries.bulk grew from ${seenBulk} to ${retriesBulk} (the target rejected writes)`,
      ...taskRate(task, now, poll.cursor.launchedAtMs),
    });
  }
  if (!outcome.completed) {
    await extendTombstoneRetention(deps, { runId, targetIndex, retention: config.guards.tombstoneRetention }, now.getTime() - poll.cursor.launchedAtMs);
  }
  await reportPartitionPoll(deps, { runId, targetIndex, partitionId, taskId, partition: part, completed: outcome.completed, counters });
  if (!poll.cursor.totalChecked && counters.total > 0 && !outcome.completed) {
    const problem = totalProblem(counters.total, part.expected, config.parity.countTolerance);
    if (problem) {
      await cancelTask(deps.target, taskId);
      throw new HeaderCheckFailedError(`${where} was cancelled after its first batch: ${problem}`);
    }
  }
  // Another partition's task of this run is its own iteration's; anything else writing into the target goes.
  await cancelForeignTasks(deps, runId, targetIndex, (t) => {
    const other = parseOpaqueId(t.opaqueId)?.runId;
    return t.taskId === taskId || (other !== tag && isRunTag(runId, other));
  });
  const next = nextPoll({
    completed: outcome.completed,
    processed: processed(counters),
    total: counters.total,
    nowMs: now.getTime(),
    cursor: { ...poll.cursor, totalChecked: poll.cursor.totalChecked || counters.total > 0 },
    stallMinutes: config.guards.stallMinutes,
  });
  // No counter change for guards.stallMinutes: reported once per stall.
  const check = checkStall({ completed: outcome.completed, before: poll.cursor, next: next.cursor, nowMs: now.getTime(), stallMinutes: config.guards.stallMinutes });
  if (check.report) await reportStall(deps, { runId, targetIndex, taskId, partitionId, stall: check.stall!, now });
  return { ...next, cursor: check.cursor };
}
