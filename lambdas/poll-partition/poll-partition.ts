import { parseOpaqueId } from '../shared/canonical-request';
import { cancelTask, getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { outcomeFromTaskAnswer, processed } from '../shared/counters';
import { HeaderCheckFailedError, TaskLostError } from '../shared/errors';
import { getPartition, partitionTag, updatePartition } from '../shared/partitioned-run';
import { totalProblem } from '../shared/task-identity';
import { cancelForeignTasks } from '../shared/foreign-tasks';
import { nextPoll } from '../poll-task/poll-cursor';
import { loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/run-context';
import { easeRejections, partitionOf, retriesBulkOf, taskRate } from '../shared/partition-states';
import { reportPartitionPoll } from '../shared/partition-progress';
import { checkStall, reportStall } from '../shared/stall';
import { longPollFor } from '../shared/adaptive-wait';
import { extendTombstoneRetention } from '../shared/tombstones';

/**
 * One turn of a partition's poll loop: snapshot (with its partition id) and counters on the partition,
 * the run's totals as metrics and the `poll` log line (partition and run progress), rail 2's total
 * check, foreign reindex tasks (not this run's partitions) cancelled, rejections noticed, stalls reported.
 */
export async function pollPartition({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const poll = state.poll!;
  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  const part = await getPartition(deps.ledger, runId, partitionId);
  // Never longer than the ceiling: the invocation must end well inside its Lambda and Task timeouts.
  const task = await getTask(deps.target, taskId, longPollFor(poll.longPollSeconds));
  if (!task || parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== partitionTag(runId, partitionId)) {
    throw new TaskLostError(`partition ${partitionId}: task ${taskId} is gone (node restart?): its outcome is unknown`);
  }
  const outcome = outcomeFromTaskAnswer(task);
  const now = deps.now();
  await deps.ledger.appendPoll(runId, { at: now.toISOString(), partitionId, taskId, completed: outcome.completed, ...outcome.counters });
  // The target's rejections: the reindex resends rejected items itself (retries.bulk grows); fewer tasks help it.
  const retriesBulk = retriesBulkOf(task);
  const seenBulk = part.retriesBulk ?? 0;
  await updatePartition(deps.ledger, runId, partitionId, { counters: outcome.counters, ...(retriesBulk > seenBulk ? { retriesBulk } : {}) }, now);
  if (retriesBulk > seenBulk) {
    await easeRejections(deps, {
      runId,
      partitionId,
      taskId,
      reason: `task ${taskId}: retries.bulk grew from ${seenBulk} to ${retriesBulk} (the target rejected writes)`,
      ...taskRate(task, now, poll.cursor.launchedAtMs),
    });
  }
  if (!outcome.completed) {
    await extendTombstoneRetention(deps, { runId, targetIndex, retention: config.guards.tombstoneRetention }, now.getTime() - poll.cursor.launchedAtMs);
  }
  await reportPartitionPoll(deps, { runId, targetIndex, partitionId, taskId, partition: part, completed: outcome.completed, counters: outcome.counters });
  if (!poll.cursor.totalChecked && outcome.counters.total > 0 && !outcome.completed) {
    const problem = totalProblem(outcome.counters.total, part.expected, config.parity.countTolerance);
    if (problem) {
      await cancelTask(deps.target, taskId);
      throw new HeaderCheckFailedError(`partition ${partitionId}: task ${taskId} was cancelled after its first batch: ${problem}`);
    }
  }
  // A reindex into the target that is not one of this run's partitions is foreign: cancelled and recorded.
  await cancelForeignTasks(deps, runId, targetIndex, (t) => parseOpaqueId(t.opaqueId)?.runId?.startsWith(`${runId}.`) === true);
  const next = nextPoll({
    completed: outcome.completed,
    processed: processed(outcome.counters),
    total: outcome.counters.total,
    nowMs: now.getTime(),
    cursor: { ...poll.cursor, totalChecked: poll.cursor.totalChecked || outcome.counters.total > 0 },
    stallMinutes: config.guards.stallMinutes,
  });
  // No counter change on this partition's task for guards.stallMinutes: reported once per stall, as a single-task run does.
  const check = checkStall({ completed: outcome.completed, before: poll.cursor, next: next.cursor, nowMs: now.getTime(), stallMinutes: config.guards.stallMinutes });
  if (check.report) await reportStall(deps, { runId, targetIndex, taskId, partitionId, stall: check.stall!, now });
  return { ...next, cursor: check.cursor };
}
