import { cancelTask, getTask } from '../shared/cluster/cluster-ops';
import { countersFromTaskStatus, processed } from '../shared/checks/counters';
import { HeaderCheckFailedError, TaskLostError } from '../shared/runtime/errors';
import { partitionRequest, partitionTag, taskLabel } from '../shared/planning/partitions';
import { requestHash } from '../shared/planning/canonical-request';
import { identityProblems, totalProblem } from '../shared/checks/task-identity';
import { nextPoll } from '../shared/task-loop/adaptive-wait';
import { approvedRequest, loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { partitionOf } from '../shared/task-loop/task-states';

/**
 * Rail 2, at once after the launch: the running task is the approved one (its X-Opaque-Id carries the
 * partition's run tag and the hash of its approved request; its description names the approved source
 * and target), checkable before the first batch lands. On mismatch: cancel, fail.
 */
export async function checkHeader({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const part = await deps.ledger.getPartition(runId, partitionId);
  const where = taskLabel(partitionId, taskId);
  const task = await getTask(deps.target, taskId);
  if (!task) throw new TaskLostError(`${where} vanished right after its launch: rerun the same input under a new run id`);
  const problems = identityProblems(task.task, {
    runId: partitionTag(runId, partitionId),
    requestHash: requestHash(partitionRequest(approvedRequest(record), part.query)),
    sourceUrl: config.source.url,
    sourceIndex: config.source.index,
    targetIndex,
  });
  const counters = countersFromTaskStatus(task.response ?? task.task.status);
  // A task that already finished is judged by the reconciliation, whose arithmetic says more than a cancel could.
  const total = counters.total > 0 && !task.completed ? totalProblem(counters.total, part.expected, config.parity.countTolerance) : undefined;
  if (total) problems.push(total);
  if (problems.length > 0) {
    await cancelTask(deps.target, taskId);
    deps.log.warn('header check failed: task cancelled', { runId, partitionId, taskId, problems });
    throw new HeaderCheckFailedError(`${where} was cancelled: ${problems.join('; ')}`);
  }
  deps.log.info('header check passed', { runId, partitionId, taskId });
  return nextPoll({
    completed: task.completed,
    processed: processed(counters),
    total: counters.total,
    nowMs: deps.now().getTime(),
    cursor: { launchedAtMs: Date.parse(part.launchedAt ?? deps.now().toISOString()), previous: null, mark: null, totalChecked: counters.total > 0, polls: 0, stallReported: false },
    stallMinutes: config.guards.stallMinutes,
  });
}
