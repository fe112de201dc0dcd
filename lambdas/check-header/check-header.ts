import { cancelTask, getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { countersFromTaskStatus, processed } from '../shared/counters';
import { HeaderCheckFailedError, TaskLostError } from '../shared/errors';
import { identityProblems, totalProblem } from '../shared/task-identity';
import { nextPoll } from '../poll-task/poll-cursor';
import { loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/run-context';

/**
 * Step 8, rail 2, at once after the launch: the running task is the approved one (its X-Opaque-Id
 * hash and its description), checkable before the first batch lands. On mismatch: cancel, fail.
 */
export async function checkHeader({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex, requestHash } = state.run;
  const taskId = state.launch!.taskId;
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;
  const task = await getTask(deps.target, taskId);
  if (!task) throw new TaskLostError(`task ${taskId} vanished right after its launch: rerun the same input under a new run id`);

  const problems = identityProblems(task.task, {
    runId,
    requestHash,
    sourceUrl: config.source.url,
    sourceIndex: config.source.index,
    targetIndex,
  });
  const counters = countersFromTaskStatus(task.response ?? task.task.status);
  const sourceBaseline = (record.baselines as { sourceCount: number } | undefined)?.sourceCount ?? 0;
  // A task that already finished is judged by the reconciliation, whose arithmetic says more than a cancel could.
  const total =
    counters.total > 0 && !task.completed ? totalProblem(counters.total, sourceBaseline, config.parity.countTolerance) : undefined;
  if (total) problems.push(total);
  if (problems.length > 0) {
    await cancelTask(deps.target, taskId);
    deps.log.warn('header check failed: task cancelled', { runId, taskId, problems });
    throw new HeaderCheckFailedError(`task ${taskId} was cancelled: ${problems.join('; ')}`);
  }
  deps.log.info('header check passed', { runId, taskId });
  const launchedAtMs = Date.parse(((record.launch as { at?: string } | undefined)?.at) ?? deps.now().toISOString());
  return nextPoll({
    completed: task.completed,
    processed: processed(counters),
    total: counters.total,
    nowMs: deps.now().getTime(),
    cursor: { launchedAtMs, previous: null, mark: null, totalChecked: counters.total > 0, polls: 0, stallReported: false },
    stallMinutes: config.guards.stallMinutes,
  });
}
