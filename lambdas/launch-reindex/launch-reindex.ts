import { hashOfSentRequest, opaqueId, parseOpaqueId, type CanonicalRequest } from '../shared/canonical-request';
import { cancelTask, reindexTasksInto } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { RunAlreadyFinishedError } from '../shared/ledger';
import { call } from '../shared/search-client';
import { approvedRequest, loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';

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
 * Step 7: launch exactly the approved request, tagged `X-Opaque-Id: <run id>/<hash of what is sent>`,
 * and record the task id before anything else. A retried launch finds the task already recorded (or
 * already running under this run's tag) and starts nothing.
 */
export async function launchReindex(
  { state }: StateInvocation,
  deps: RunDeps,
  buildRequest: RequestBuilder = sendApprovedRequest,
): Promise<{ taskId: string }> {
  const { runId, targetIndex } = state.run;
  const recorded = await deps.ledger.getTaskId(runId);
  if (recorded) return { taskId: recorded };

  const running = (await reindexTasksInto(deps.target, targetIndex)).find((t) => parseOpaqueId(t.opaqueId)?.runId === runId);
  if (running) {
    const kept = await deps.ledger.recordTaskId(runId, running.taskId);
    deps.log.warn('adopted a task this run had already launched', { runId, taskId: kept.taskId });
    return { taskId: kept.taskId };
  }

  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  const approved = await approvedRequest(deps, runId);

  const sent = buildRequest(approved, await deps.sourceCredentials(config));
  const sentHash = hashOfSentRequest(sent, deps.credentialReference(config));
  const { body } = await call('launch _reindex', () =>
    deps.target.transport.request(
      { method: sent.method, path: sent.path, querystring: sent.params, body: sent.bodyBytes },
      { headers: { 'X-Opaque-Id': opaqueId(runId, sentHash), 'content-type': 'application/json' } },
    ),
  );
  const taskId = (body as { task: string }).task;
  const kept = await deps.ledger.recordTaskId(runId, taskId);
  if (kept.taskId !== taskId) {
    // Another attempt of this step won the race: ours is a duplicate.
    await cancelTask(deps.target, taskId);
    return { taskId: kept.taskId };
  }
  try {
    await deps.ledger.updateRun(runId, {
      status: 'RUNNING',
      launch: { at: deps.now().toISOString(), sentRequestHash: sentHash, taskId },
    });
  } catch (err) {
    // Stopped while this launch was on its way: the cleanup may not have seen the task yet.
    if (err instanceof RunAlreadyFinishedError) await cancelTask(deps.target, taskId);
    throw err;
  }
  deps.log.info('reindex launched', { runId, taskId, sentRequestHash: sentHash });
  return { taskId };
}
