import { hashOfSentRequest, opaqueId, parseOpaqueId, type CanonicalRequest } from '../shared/planning/canonical-request';
import { cancelTask, reindexTasksInto } from '../shared/cluster/cluster-ops';
import { RunAlreadyFinishedError } from '../shared/ledger/ledger';
import { partitionRequest, partitionTag } from '../shared/planning/partitions';
import { call } from '../shared/cluster/search-client';
import { approvedRequest, loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { partitionOf } from '../shared/task-loop/task-states';

/** The bytes a launch sends. Production uses `sendApprovedRequest`; tests pass a faulty builder to prove rail 2. */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Record<string, string | number | boolean>;
  readonly bodyBytes: string;
}

export type RequestBuilder = (
  approved: CanonicalRequest,
  credentials: { username: string; password: string } | undefined,
) => SentRequest;

/** The approved canonical request with the credentials filled in where its references stand. */
export const sendApprovedRequest: RequestBuilder = (approved, credentials) => {
  const remote = { ...approved.body.source.remote, ...(credentials ?? {}) };
  return {
    method: approved.method,
    path: approved.path,
    params: { ...approved.params },
    bodyBytes: JSON.stringify({ ...approved.body, source: { ...approved.body.source, remote } }),
  };
};

/**
 * Launches exactly the approved request of this iteration's partition (the whole index: the approved
 * request itself; a partition: with `source.query` = its query), tagged
 * `X-Opaque-Id: <run tag>/<hash of what is sent>`, and records the task id on the partition before
 * anything else. Idempotent per attempt: a recorded task, or a running one carrying the partition's tag,
 * is kept; a launch that lost the race to record its task cancels it.
 */
export async function launchReindex(
  { state }: StateInvocation,
  deps: RunDeps,
  buildRequest: RequestBuilder = sendApprovedRequest,
): Promise<{ taskId: string }> {
  const { runId, targetIndex } = state.run;
  const partitionId = partitionOf(state);
  const part = await deps.ledger.getPartition(runId, partitionId);
  if (part.taskId) return { taskId: part.taskId };
  const tag = partitionTag(runId, partitionId);
  const running = (await reindexTasksInto(deps.target, targetIndex)).find((t) => parseOpaqueId(t.opaqueId)?.runId === tag);
  const record = await loadRun(deps, runId);
  const config = record.config;
  let taskId: string;
  let sentHash: string | undefined;
  if (running) {
    taskId = running.taskId;
    deps.log.warn('adopted a task this run had already launched', { runId, partitionId, taskId });
  } else {
    const request = partitionRequest(approvedRequest(record), part.query);
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
  const kept = await deps.ledger.recordPartitionTask(
    runId,
    partitionId,
    { taskId, taskIds: [...part.taskIds, taskId], attempts: part.attempts + 1, launchedAt: now.toISOString(), ...(sentHash ? { sentRequestHash: sentHash } : {}) },
    now,
  );
  if (!kept.recorded) {
    // Another attempt of this step won the race: ours is a duplicate.
    if (kept.taskId !== taskId) await cancelTask(deps.target, taskId);
    return { taskId: kept.taskId };
  }
  try {
    await deps.ledger.updateRun(runId, { status: 'RUNNING' });
  } catch (err) {
    // Stopped while this launch was on its way: the cleanup may not have seen the task yet.
    if (!(err instanceof RunAlreadyFinishedError)) throw err;
    await cancelTask(deps.target, taskId);
    deps.log.warn('the run ended while this task launched: it is cancelled', { runId, partitionId, taskId });
    throw err;
  }
  deps.log.info('reindex launched', { runId, partitionId, taskId, attempt: part.attempts + 1, ...(sentHash ? { sentRequestHash: sentHash } : {}) });
  return { taskId };
}
