import { cancelTask, getTask } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { countersFromTaskStatus, processed } from '../shared/counters';
import { HeaderCheckFailedError, TaskLostError } from '../shared/errors';
import { getPartition, partitionRequest, partitionTag } from '../shared/partitioned-run';
import { requestHash } from '../shared/canonical-request';
import { identityProblems, totalProblem } from '../shared/task-identity';
import { nextPoll } from '../poll-task/poll-cursor';
import { approvedRequest, loadRun, type PollState, type RunDeps, type StateInvocation } from '../shared/run-context';
import { partitionOf } from '../shared/partition-states';

/** Rail 2 for one partition: its task carries `<runId>.<pid>/<the partition's approved request hash>`; else cancel. */
export async function checkPartitionHeader({ state }: StateInvocation, deps: RunDeps): Promise<PollState> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const taskId = state.launch!.taskId;
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;
  const part = await getPartition(deps.ledger, runId, partitionId);
  const task = await getTask(deps.target, taskId);
  if (!task) throw new TaskLostError(`partition ${partitionId}: task ${taskId} vanished right after its launch`);
  const expectedHash = requestHash(partitionRequest(await approvedRequest(deps, runId), part.query as Record<string, unknown> | null));
  const problems = identityProblems(task.task, {
    runId: partitionTag(runId, partitionId),
    requestHash: expectedHash,
    sourceUrl: config.source.url,
    sourceIndex: config.source.index,
    targetIndex,
  });
  const counters = countersFromTaskStatus(task.response ?? task.task.status);
  const total = counters.total > 0 && !task.completed ? totalProblem(counters.total, part.expected, config.parity.countTolerance) : undefined;
  if (total) problems.push(total);
  if (problems.length > 0) {
    await cancelTask(deps.target, taskId);
    throw new HeaderCheckFailedError(`partition ${partitionId}: task ${taskId} was cancelled: ${problems.join('; ')}`);
  }
  return nextPoll({
    completed: task.completed,
    processed: processed(counters),
    total: counters.total,
    nowMs: deps.now().getTime(),
    cursor: { launchedAtMs: Date.parse(part.launchedAt ?? deps.now().toISOString()), previous: null, mark: null, totalChecked: counters.total > 0, polls: 0, stallReported: false },
    stallMinutes: config.guards.stallMinutes,
  });
}
