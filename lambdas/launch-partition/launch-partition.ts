import { hashOfSentRequest, opaqueId, parseOpaqueId } from '../shared/canonical-request';
import { cancelTask, reindexTasksInto } from '../shared/cluster-ops';
import { RunAlreadyFinishedError } from '../shared/ledger';
import type { RunConfig } from '../shared/config';
import { getPartition, partitionRequest, partitionTag, updatePartition } from '../shared/partitioned-run';
import { call } from '../shared/search-client';
import { sendApprovedRequest, type RequestBuilder } from '../launch-reindex/launch-reindex';
import { approvedRequest, loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';
import { partitionOf } from '../shared/partition-states';

/**
 * Launches the partition's request: the approved request with `source.query` = the partition's query,
 * tagged `X-Opaque-Id: <runId>.<pid>/<hash of what is sent>`; the task id is recorded on the partition.
 * Idempotent per attempt: a recorded task, or a running one carrying this partition's tag, is kept.
 */
export async function launchPartition(
  { state }: StateInvocation,
  deps: RunDeps,
  buildRequest: RequestBuilder = sendApprovedRequest,
): Promise<{ taskId: string }> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const part = await getPartition(deps.ledger, runId, partitionId);
  if (part.taskId) return { taskId: part.taskId };
  const tag = partitionTag(runId, partitionId);
  const running = (await reindexTasksInto(deps.target, targetIndex)).find((t) => parseOpaqueId(t.opaqueId)?.runId === tag);
  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  let taskId: string;
  let sentHash: string | undefined;
  if (running) {
    taskId = running.taskId;
    deps.log.warn('adopted a partition task already launched', { runId, partitionId, taskId });
  } else {
    const request = partitionRequest(await approvedRequest(deps, runId), part.query as Record<string, unknown> | null);
    const sent = buildRequest(request, await deps.sourceCredentials(config));
    sentHash = hashOfSentRequest(sent, deps.credentialReference(config));
    const { body } = await call('launch _reindex', () =>
      deps.target.transport.request(
        { method: sent.method, path: sent.path, querystring: sent.params, body: sent.bodyBytes },
        { headers: { 'X-Opaque-Id': opaqueId(tag, sentHash!), 'content-type': 'application/json' } },
      ),
    );
    taskId = (body as { task: string }).task;
  }
  const now = deps.now();
  await updatePartition(
    deps.ledger,
    runId,
    partitionId,
    {
      taskId,
      taskIds: [...part.taskIds, taskId],
      attempts: part.attempts + 1,
      status: 'RUNNING',
      launchedAt: now.toISOString(),
      ...(sentHash ? { sentRequestHash: sentHash } : {}),
    },
    now,
  );
  try {
    await deps.ledger.updateRun(runId, { status: 'RUNNING' });
  } catch (err) {
    // Stopped while this launch was on its way: the cleanup may not have seen the task yet.
    if (!(err instanceof RunAlreadyFinishedError)) throw err;
    await cancelTask(deps.target, taskId);
    deps.log.warn('the run ended while this partition launched: its task is cancelled', { runId, partitionId, taskId });
    throw err;
  }
  deps.log.info('partition launched', { runId, partitionId, taskId, attempt: part.attempts + 1 });
  return { taskId };
}
