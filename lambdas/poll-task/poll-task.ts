import { parseOpaqueId } from '../shared/canonical-request';
import { cancelTask, getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { outcomeFromTaskAnswer, processed } from '../shared/counters';
import { checkStall, reportStall } from '../shared/stall';
import { longPollFor } from '../shared/adaptive-wait';
import { HeaderCheckFailedError, TaskLostError } from '../shared/errors';
import { totalProblem } from '../shared/task-identity';
import { loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/run-context';
import { nextPoll } from './poll-cursor';
import { easeRejections, retriesBulkOf, taskRate } from '../shared/partition-states';
import { cancelForeignTasks } from '../shared/foreign-tasks';
import { extendTombstoneRetention } from '../shared/tombstones';

export { nextPoll };

/**
 * Step 9, one turn of the poll loop: read the task (long-polling near the predicted end), record the
 * counter snapshot and metrics, cancel any foreign reindex writing into the target, report stalls.
 * A 404 means the outcome is unknown, never that the task is done.
 */
export async function pollTask({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex } = state.run;
  const taskId = state.launch!.taskId;
  const poll = state.poll!;
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;

  // Never longer than the ceiling: the invocation must end well inside its Lambda and Task timeouts.
  const task = await getTask(deps.target, taskId, longPollFor(poll.longPollSeconds));
  if (!task) {
    throw new TaskLostError(
      `task ${taskId} is neither running nor stored in .tasks (a node restart drops running tasks): its outcome is unknown. ` +
        `Rerun the same input under a new run id: the approval still holds while young enough, and merge mode makes the rerun safe.`,
    );
  }
  // Task numbers start again after a node restart: the old id may now name another task.
  if (parseOpaqueId(task.task.headers?.['X-Opaque-Id'])?.runId !== runId) {
    throw new TaskLostError(
      `task id ${taskId} now names another task (${JSON.stringify(task.task.description ?? '')}): the node restarted and ` +
        `this run's task is gone. Rerun the same input under a new run id: the approval still holds while young enough, ` +
        `and merge mode makes the rerun safe.`,
    );
  }
  const outcome = outcomeFromTaskAnswer(task);
  const counters = outcome.counters;
  const now = deps.now();
  await deps.ledger.appendPoll(runId, {
    at: now.toISOString(),
    taskId,
    completed: outcome.completed,
    ...counters,
  });
  deps.metrics.emit(targetIndex, {
    Created: counters.created,
    Updated: counters.updated,
    VersionConflicts: counters.versionConflicts,
    Failures: counters.failures,
  });
  deps.log.info('poll', { runId, taskId, completed: outcome.completed, ...counters });

  // The target's rejections: the reindex resends rejected bulks itself (retries.bulk grows); a slower task helps it.
  const retriesBulk = retriesBulkOf(task);
  const seenBulk = record.retriesBulk ?? 0;
  if (retriesBulk > seenBulk && !outcome.completed) {
    await deps.ledger.updateRun(runId, { retriesBulk });
    await easeRejections(deps, {
      runId,
      partitionId: null,
      taskId,
      reason: `task ${taskId}: retries.bulk grew from ${seenBulk} to ${retriesBulk} (the target rejected writes)`,
      ...taskRate(task, now, poll.cursor.launchedAtMs),
    });
  }

  if (!outcome.completed) {
    await extendTombstoneRetention(deps, { runId, targetIndex, retention: config.guards.tombstoneRetention }, now.getTime() - poll.cursor.launchedAtMs);
  }

  if (!poll.cursor.totalChecked && counters.total > 0 && !outcome.completed) {
    const sourceBaseline = (record.baselines as { sourceCount: number } | undefined)?.sourceCount ?? 0;
    const problem = totalProblem(counters.total, sourceBaseline, config.parity.countTolerance);
    if (problem) {
      await cancelTask(deps.target, taskId);
      throw new HeaderCheckFailedError(`task ${taskId} was cancelled after its first batch: ${problem}`);
    }
  }

  await cancelForeignTasks(deps, runId, targetIndex, (t) => t.taskId === taskId);

  const next = nextPoll({
    completed: outcome.completed,
    processed: processed(counters),
    total: counters.total,
    nowMs: now.getTime(),
    cursor: { ...poll.cursor, totalChecked: poll.cursor.totalChecked || counters.total > 0 },
    stallMinutes: config.guards.stallMinutes,
  });
  const check = checkStall({ completed: outcome.completed, before: poll.cursor, next: next.cursor, nowMs: now.getTime(), stallMinutes: config.guards.stallMinutes });
  if (check.report) await reportStall(deps, { runId, targetIndex, taskId, stall: check.stall!, now });
  return { ...next, cursor: check.cursor };
}
