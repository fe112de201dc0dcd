/**
 * What a target node crash does to a running remote reindex, as the poll loop sees it: "a 404 from _tasks means
 * outcome unknown, never done" (docs/design.md, step 9). Its own OpenSearch node (SAFE_REINDEX_OPENSEARCH_VERSION, else
 * 3.5.0), killed with SIGKILL mid-run and started again on the same data directory and port; the source is the shared
 * Elasticsearch 7.10.2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { defaultVersion } from '../../local/clusters/distributions';
import { localServers, uniqueIndex } from '../support/servers';
import {
  awaitCompletion,
  launchReindex,
  localNodeId,
  numberedDocs,
  pollTask,
  remoteHostOf,
  rest,
  seedIndex,
  type ErrorAnswer,
  type GetTaskAnswer,
  type ListTasksAnswer,
} from '../support/tasks-rest';

const servers = localServers();
const source = remoteHostOf(servers.source.url);
const SOURCE_DOCS = 300;
const BATCH = 10;
const sourceIndex = uniqueIndex('restart-src');

describe(`OpenSearch ${defaultVersion('opensearch')} killed (SIGKILL) and restarted while a remote reindex runs`, () => {
  let node: LocalCluster;
  let nodeId = '';

  // Filled in by the tests in order: a task that completed before the crash, and one that was running.
  let completedId = '';
  let completedBefore: GetTaskAnswer | undefined;
  let lostId = '';
  let createdBeforeKill = 0;
  const completedDest = uniqueIndex('restart-done');
  const lostDest = uniqueIndex('restart-lost');

  beforeAll(async () => {
    [node] = await Promise.all([
      startLocalCluster({ distribution: 'opensearch', version: defaultVersion('opensearch'), log: () => {} }),
      seedIndex(servers.source.url, sourceIndex, numberedDocs(SOURCE_DOCS)),
    ]);
    nodeId = await localNodeId(node.url);
  });

  afterAll(async () => {
    await node?.stop();
  });

  it('before any task result is stored, GET _tasks/<node>:<n> is 404 resource_not_found_exception caused by index_not_found_exception [.tasks]', async () => {
    // Prepare
    const taskId = `${nodeId}:999999`;
    // Act
    const answer = await rest<ErrorAnswer>(node.url, 'GET', `/_tasks/${taskId}`);
    const tasksIndex = await rest(node.url, 'HEAD', '/.tasks');
    // Assess
    expect(tasksIndex.status).toBe(404);
    expect(answer.status).toBe(404);
    // Without `.tasks` the 404 carries the index_not_found_exception as root cause and caused_by (as Elasticsearch
    // 7.10.2 does); once `.tasks` exists it is resource_not_found_exception alone (tasks.test.ts).
    const noTasksIndex = {
      type: 'index_not_found_exception',
      reason: 'no such index [.tasks]',
      'resource.type': 'index_expression',
      'resource.id': '.tasks',
      index_uuid: '_na_',
      index: '.tasks',
    };
    expect(answer.body).toEqual({
      error: {
        root_cause: [noTasksIndex],
        type: 'resource_not_found_exception',
        reason: `task [${taskId}] isn't running and hasn't stored its results`,
        caused_by: noTasksIndex,
      },
      status: 404,
    });
  });

  it('a reindex that completed before the crash has its result stored in .tasks', async () => {
    // Prepare
    completedId = await launchReindex(
      node.url,
      { source: { remote: { host: source.host }, index: sourceIndex, size: 100 }, dest: { index: completedDest } },
      { opaqueId: `${completedDest}/done` },
    );
    // Act
    completedBefore = await awaitCompletion(node.url, completedId);
    // Assess
    expect(completedBefore.response).toMatchObject({ total: SOURCE_DOCS, created: SOURCE_DOCS, failures: [] });
  });

  it('a throttled reindex is running and has written some batches when the node is killed', async () => {
    // Prepare: push the node's task counter well past its start-up value (every request is a task), so that the
    // id numbers handed out after the restart are visibly lower than this task's.
    for (let i = 0; i < 100; i += 1) await rest(node.url, 'GET', '/_cluster/health');
    lostId = await launchReindex(
      node.url,
      { source: { remote: { host: source.host }, index: sourceIndex, size: BATCH }, dest: { index: lostDest } },
      { params: '&requests_per_second=20', opaqueId: `${lostDest}/lost` },
    );
    const running = await pollTask(node.url, lostId, (t) => (t.task.status?.created ?? 0) >= 5 * BATCH, 'five batches');
    createdBeforeKill = running.task.status?.created ?? 0;
    // Act
    await node.restart();
    // Assess
    expect(running.completed).toBe(false);
    expect(createdBeforeKill).toBeGreaterThanOrEqual(5 * BATCH);
    expect(createdBeforeKill).toBeLessThan(SOURCE_DOCS);
  });

  it('after the restart the node keeps its id, and GET _tasks/{id} of the killed task is 404 "isn\'t running and hasn\'t stored its results"', async () => {
    // Act
    const sameNode = await localNodeId(node.url);
    const answer = await rest<ErrorAnswer>(node.url, 'GET', `/_tasks/${lostId}`);
    // Assess
    expect(sameNode).toBe(nodeId);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      error: {
        root_cause: [{ type: 'resource_not_found_exception', reason: `task [${lostId}] isn't running and hasn't stored its results` }],
        type: 'resource_not_found_exception',
        reason: `task [${lostId}] isn't running and hasn't stored its results`,
      },
      status: 404,
    });
  });

  it('the killed reindex is not resumed: no reindex task runs, and the target keeps only what was written before the kill', async () => {
    // Act
    const listed = await rest<ListTasksAnswer>(node.url, 'GET', '/_tasks?actions=*reindex&detailed=true');
    await rest(node.url, 'POST', `/${lostDest}/_refresh`);
    const count = await rest<{ count: number }>(node.url, 'GET', `/${lostDest}/_count`);
    // Assess
    expect(listed.status).toBe(200);
    expect(Object.values(listed.body.nodes).flatMap((n) => Object.keys(n.tasks))).toEqual([]);
    // Every bulk acknowledged before the kill is durable (request-level translog fsync); a bulk in flight at the
    // kill may or may not have landed, so the count lies between what the task reported and the total.
    expect(count.body.count).toBeGreaterThanOrEqual(createdBeforeKill);
    expect(count.body.count).toBeLessThan(SOURCE_DOCS);
  });

  it('the task that completed before the crash still answers from .tasks, unchanged', async () => {
    // Act
    const answer = await rest<GetTaskAnswer>(node.url, 'GET', `/_tasks/${completedId}`);
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body.completed).toBe(true);
    expect(answer.body.response).toEqual(completedBefore?.response);
    expect(answer.body.task.headers).toEqual({ 'X-Opaque-Id': `${completedDest}/done` });
  });

  it('task numbers start again after the restart: a new task gets a lower number than the lost one (ids are reused)', async () => {
    // Act
    const fresh = await launchReindex(node.url, {
      source: { remote: { host: source.host }, index: sourceIndex, size: 100 },
      dest: { index: uniqueIndex('restart-after') },
    });
    const done = await awaitCompletion(node.url, fresh);
    // Assess
    const [freshNode, freshNumber] = fresh.split(':');
    expect(freshNode).toBe(nodeId);
    expect(Number(freshNumber)).toBeLessThan(Number(lostId.split(':')[1]));
    expect(done.response).toMatchObject({ created: SOURCE_DOCS, failures: [] });
  });

  it('the source keeps the killed reindex\'s scroll context open (until its keep-alive expires)', async () => {
    // Act
    const stats = await rest<{ indices: Record<string, { total: { search: { open_contexts: number } } }> }>(
      servers.source.url,
      'GET',
      `/${sourceIndex}/_stats/search`,
    );
    // Assess
    expect(stats.body.indices[sourceIndex]?.total.search.open_contexts).toBe(1);
  });
});
