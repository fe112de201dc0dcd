/**
 * The task API behaviour the poll loop, the header check (rail 2) and the foreign-task guard rely on: a remote
 * `_reindex?wait_for_completion=false` as OpenSearch runs it (source: the local Elasticsearch 7.10.2), read back
 * through `_tasks` while it runs and after it finished, cancelled, rethrottled, and its 404s.
 *
 * Mirrors, where the servers' own YAML REST tests cover a case:
 * - opensearch-project/OpenSearch and elastic/elasticsearch v7.10.2
 *   `modules/reindex/src/yamlRestTest/resources/rest-api-spec/test/reindex/90_remote.yml` ("Reindex from remote with
 *   rethrottle": park the task with `requests_per_second: .00000001`, `reindex_rethrottle` to -1, `tasks.get`),
 * - `.../reindex/70_throttle.yml` ("Rethrottle to -1 which turns off throttling"),
 * - `rest-api-spec/src/main/resources/rest-api-spec/test/tasks.get/10_basic.yml` (`tasks.get` of `foo:1` is missing,
 *   reason "task [foo:1] belongs to the node [foo] which isn't part of the cluster and there is no record of the task").
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { localServers, uniqueIndex } from '../support/servers';
import {
  awaitCompletion,
  launchReindex,
  localNodeId,
  numberedDocs,
  PARKED_RPS,
  pollTask,
  pollUntil,
  remoteHostOf,
  rest,
  seedIndex,
  type ErrorAnswer,
  type GetTaskAnswer,
  type ListTasksAnswer,
} from '../support/tasks-rest';

const servers = localServers();
const source = remoteHostOf(servers.source.url);
const SOURCE_DOCS = 40;
const BATCH = 5;
const sourceIndex = uniqueIndex('tasks-src');

/** The pretty-printed default query (`match_all` with its boost) as a remote reindex describes it. */
const MATCH_ALL_DESCRIBED = '{\n  "match_all" : {\n    "boost" : 1.0\n  }\n}';

beforeAll(async () => {
  await seedIndex(servers.source.url, sourceIndex, numberedDocs(SOURCE_DOCS));
});

describe.each(servers.targets.map((t) => ({ ...t, toString: () => `OpenSearch ${t.version}` })))('%s', (target) => {
  let nodeId = '';

  /** A remote reindex that copies its first batch of BATCH docs and then sleeps (in practice) forever. */
  async function launchParked(dest: string, opaqueId: string, extra: Record<string, unknown> = {}): Promise<string> {
    return launchReindex(
      target.url,
      { source: { remote: { host: source.host }, index: sourceIndex, size: BATCH, ...extra }, dest: { index: dest } },
      { params: `&requests_per_second=${PARKED_RPS}`, opaqueId },
    );
  }

  function afterFirstBatch(taskId: string): Promise<GetTaskAnswer> {
    // `batches` counts a scroll batch as soon as it arrives, before its bulk is written (seen: batches 1, created 0),
    // so "the first batch landed" is `created`, not `batches`.
    // Parked = the first batch written and the next one scheduled (throttled_until_millis > 0; it is 0 for a moment
    // between the bulk response and the scheduling).
    return pollTask(
      target.url,
      taskId,
      (t) => (t.task.status?.created ?? 0) >= BATCH && (t.task.status?.throttled_until_millis ?? 0) > 0,
      'the first batch to be written and the next one scheduled',
    );
  }

  async function cancelAndWait(taskId: string): Promise<GetTaskAnswer> {
    await rest(target.url, 'POST', `/_tasks/${taskId}/_cancel`);
    return awaitCompletion(target.url, taskId);
  }

  beforeAll(async () => {
    nodeId = await localNodeId(target.url);
    // A stored task result makes sure `.tasks` exists, so the 404 bodies below do not depend on test order
    // (without `.tasks`, every server adds an index_not_found_exception root cause and caused_by; see node-restart.test.ts).
    const warmUp = await launchReindex(target.url, {
      source: { remote: { host: source.host }, index: sourceIndex },
      dest: { index: uniqueIndex('tasks-warmup') },
    });
    await awaitCompletion(target.url, warmUp);
  });

  it('a remote reindex without waiting answers 200 {task: "<node id>:<number>"} naming the local node', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-launch');
    // Act
    const answer = await rest<{ task: string }>(
      target.url,
      'POST',
      '/_reindex?wait_for_completion=false',
      { source: { remote: { host: source.host }, index: sourceIndex }, dest: { index: dest } },
    );
    // Assess
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body)).toEqual(['task']);
    expect(answer.body.task).toMatch(new RegExp(`^${nodeId}:\\d+$`));
    await awaitCompletion(target.url, answer.body.task);
  });

  it('a running reindex reports completed: false, its counters, description, X-Opaque-Id header and no response', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-running');
    const opaqueId = `${dest}/abc123`;
    const taskId = await launchParked(dest, opaqueId);
    try {
      // Act
      const running = await afterFirstBatch(taskId);
      // Assess
      expect(running.completed).toBe(false);
      expect(running.response).toBeUndefined();
      expect(running.task).toMatchObject({
        node: nodeId,
        id: Number(taskId.split(':')[1]),
        type: 'transport',
        action: 'indices:data/write/reindex',
        cancellable: true,
        cancelled: false,
        headers: { 'X-Opaque-Id': opaqueId },
        description: `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED}][${sourceIndex}] to [${dest}]`,
      });
      expect(running.task.status).toMatchObject({
        total: SOURCE_DOCS,
        created: BATCH,
        updated: 0,
        deleted: 0,
        batches: 1,
        version_conflicts: 0,
        noops: 0,
        retries: { bulk: 0, search: 0 },
        throttled_millis: 0,
        requests_per_second: 1e-8,
      });
      // Parked: the next batch is scheduled far ahead (the server caps the wait it reports at about an hour).
      expect(running.task.status?.throttled_until_millis).toBeGreaterThan(3_500_000);
      expect(running.task.status?.throttled_until_millis).toBeLessThanOrEqual(3_600_000);
    } finally {
      await cancelAndWait(taskId);
    }
  });

  it('_tasks?actions=*reindex&detailed=true lists a running reindex with its X-Opaque-Id and description; without detailed there is no description', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-list');
    const opaqueId = `${dest}/list`;
    const taskId = await launchParked(dest, opaqueId);
    try {
      await afterFirstBatch(taskId);
      // Act
      const detailed = await rest<ListTasksAnswer>(target.url, 'GET', '/_tasks?actions=*reindex&detailed=true');
      const plain = await rest<ListTasksAnswer>(target.url, 'GET', '/_tasks?actions=*reindex');
      // Assess
      expect(detailed.status).toBe(200);
      const listed = detailed.body.nodes[nodeId]?.tasks[taskId];
      expect(listed).toMatchObject({
        action: 'indices:data/write/reindex',
        headers: { 'X-Opaque-Id': opaqueId },
        description: `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED}][${sourceIndex}] to [${dest}]`,
        status: { total: SOURCE_DOCS, created: BATCH, batches: 1 },
      });
      const plainListed = plain.body.nodes[nodeId]?.tasks[taskId];
      expect(plainListed?.headers).toEqual({ 'X-Opaque-Id': opaqueId });
      expect(plainListed?.description).toBeUndefined();
      expect(plainListed?.status).toBeUndefined();
    } finally {
      await cancelAndWait(taskId);
    }
  });

  it('rethrottle to -1 wakes a parked reindex at once; the stored result keeps the counters and the X-Opaque-Id header', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-rethrottle');
    const opaqueId = `${dest}/rethrottle`;
    const taskId = await launchParked(dest, opaqueId);
    await afterFirstBatch(taskId);
    // Act
    const rethrottled = await rest<ListTasksAnswer>(
      target.url,
      'POST',
      `/_reindex/${taskId}/_rethrottle?requests_per_second=-1`,
    );
    const done = await awaitCompletion(target.url, taskId, 20_000);
    // Assess
    expect(rethrottled.status).toBe(200);
    expect(rethrottled.body.node_failures).toBeUndefined();
    expect(rethrottled.body.nodes[nodeId]?.tasks[taskId]?.status?.requests_per_second).toBe(-1);
    expect(done.completed).toBe(true);
    expect(done.task.headers).toEqual({ 'X-Opaque-Id': opaqueId });
    expect(done.task.description).toBe(
      `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED}][${sourceIndex}] to [${dest}]`,
    );
    expect(done.task.cancelled).toBe(false);
    expect(done.response).toMatchObject({
      timed_out: false,
      total: SOURCE_DOCS,
      created: SOURCE_DOCS,
      updated: 0,
      deleted: 0,
      batches: SOURCE_DOCS / BATCH,
      version_conflicts: 0,
      noops: 0,
      retries: { bulk: 0, search: 0 },
      requests_per_second: -1,
      throttled_until_millis: 0,
      failures: [],
    });
    expect(done.response?.canceled).toBeUndefined();
    expect(done.task.status).toMatchObject({ total: SOURCE_DOCS, created: SOURCE_DOCS, batches: SOURCE_DOCS / BATCH });
  });

  it('a completed task is read back from .tasks with completed: true, the task (headers included) and the response', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-stored');
    const opaqueId = `${dest}/stored`;
    const taskId = await launchReindex(
      target.url,
      { source: { remote: { host: source.host }, index: sourceIndex, size: 100 }, dest: { index: dest } },
      { opaqueId },
    );
    await awaitCompletion(target.url, taskId);
    // Act
    const stored = await rest<{ _source: GetTaskAnswer }>(target.url, 'GET', `/.tasks/_doc/${taskId}`);
    const viaApi = await rest<GetTaskAnswer>(target.url, 'GET', `/_tasks/${taskId}`);
    // Assess
    expect(viaApi.status).toBe(200);
    expect(viaApi.body).toMatchObject({
      completed: true,
      task: { headers: { 'X-Opaque-Id': opaqueId }, action: 'indices:data/write/reindex' },
      response: { total: SOURCE_DOCS, created: SOURCE_DOCS, batches: 1, failures: [] },
    });
    // The document in `.tasks` (id = task id) is what _tasks/{id} answers from once the task has left memory.
    expect(stored.status).toBe(200);
    expect(stored.body._source).toMatchObject({
      completed: true,
      task: { node: nodeId, headers: { 'X-Opaque-Id': opaqueId } },
      response: { created: SOURCE_DOCS },
    });
  });

  it('_cancel marks the running task cancelled; it then finishes with response.canceled "by user request" and the counters so far', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-cancel');
    const opaqueId = `${dest}/cancel`;
    const taskId = await launchParked(dest, opaqueId);
    await afterFirstBatch(taskId);
    // Act
    const cancel = await rest<ListTasksAnswer>(target.url, 'POST', `/_tasks/${taskId}/_cancel`);
    const done = await awaitCompletion(target.url, taskId, 20_000);
    // Assess
    expect(cancel.status).toBe(200);
    const cancelled = cancel.body.nodes[nodeId]?.tasks[taskId];
    expect(cancelled).toMatchObject({ cancellable: true, cancelled: true, headers: { 'X-Opaque-Id': opaqueId } });
    expect(cancelled?.cancellation_time_millis).toEqual(expect.any(Number));
    expect(done.completed).toBe(true);
    expect(done.task.cancelled).toBe(true);
    expect(done.task.headers).toEqual({ 'X-Opaque-Id': opaqueId });
    expect(done.response).toMatchObject({
      canceled: 'by user request',
      total: SOURCE_DOCS,
      created: BATCH,
      batches: 1,
      failures: [],
      // Surprise: the cancelled task reports requests_per_second -1, not the rate it ran with.
      requests_per_second: -1,
      throttled_until_millis: 0,
    });
    expect(done.task.status?.canceled).toBe('by user request');
    await rest(target.url, 'POST', `/${dest}/_refresh`);
    const count = await rest<{ count: number }>(target.url, 'GET', `/${dest}/_count`);
    expect(count.body.count).toBe(BATCH);
  });

  it('GET _tasks/<unknown node>:<n> is 404 resource_not_found_exception naming the missing node', async () => {
    // Act
    const answer = await rest<ErrorAnswer>(target.url, 'GET', '/_tasks/foo:1');
    // Assess
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      error: {
        root_cause: [{ type: 'resource_not_found_exception', reason: "task [foo:1] isn't running and hasn't stored its results" }],
        type: 'resource_not_found_exception',
        reason: "task [foo:1] belongs to the node [foo] which isn't part of the cluster and there is no record of the task",
        caused_by: { type: 'resource_not_found_exception', reason: "task [foo:1] isn't running and hasn't stored its results" },
      },
      status: 404,
    });
  });

  it('GET _tasks/<real node>:<unknown number> is 404 "isn\'t running and hasn\'t stored its results"', async () => {
    // Prepare
    const taskId = `${nodeId}:987654321`;
    // Act
    const answer = await rest<ErrorAnswer>(target.url, 'GET', `/_tasks/${taskId}`);
    // Assess
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      error: {
        root_cause: [{ type: 'resource_not_found_exception', reason: `task [${taskId}] isn't running and hasn't stored its results` }],
        type: 'resource_not_found_exception',
        reason: `task [${taskId}] isn't running and hasn't stored its results`,
      },
      status: 404,
    });
  });

  it('a malformed task id is 400 illegal_argument_exception "malformed task id"', async () => {
    // Act
    const answer = await rest<ErrorAnswer>(target.url, 'GET', '/_tasks/notatask');
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ type: 'illegal_argument_exception', reason: 'malformed task id notatask' });
  });

  it('_cancel and _rethrottle of an unknown (or finished) task answer 200 with node_failures, not 404', async () => {
    // Prepare
    const taskId = `${nodeId}:987654321`;
    // Act
    const cancel = await rest<ListTasksAnswer>(target.url, 'POST', `/_tasks/${taskId}/_cancel`);
    const rethrottle = await rest<ListTasksAnswer>(target.url, 'POST', `/_reindex/${taskId}/_rethrottle?requests_per_second=-1`);
    // Assess
    const failure = (reason: string) => ({
      node_failures: [
        {
          type: 'failed_node_exception',
          reason: `Failed node [${nodeId}]`,
          node_id: nodeId,
          caused_by: { type: 'resource_not_found_exception', reason },
        },
      ],
      nodes: {},
    });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual(failure(`task [${taskId}] is not found`));
    expect(rethrottle.status).toBe(200);
    expect(rethrottle.body).toEqual(failure(`task [${taskId}] is missing`));
  });

  it('the description pretty-prints the given query over several lines and shows host=localhost as given', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-describe');
    const query = { bool: { filter: [{ range: { n: { gte: 0 } } }], must_not: [{ exists: { field: 'absent' } }] } };
    const taskId = await launchReindex(
      target.url,
      {
        source: { remote: { host: `http://localhost:${source.port}` }, index: sourceIndex, size: BATCH, query },
        dest: { index: dest },
      },
      { params: `&requests_per_second=${PARKED_RPS}` },
    );
    try {
      // Act
      const running = await afterFirstBatch(taskId);
      // Assess
      expect(running.task.description).toBe(
        `reindex from [host=localhost port=${source.port} query={
  "bool" : {
    "filter" : [
      {
        "range" : {
          "n" : {
            "gte" : 0
          }
        }
      }
    ],
    "must_not" : [
      {
        "exists" : {
          "field" : "absent"
        }
      }
    ]
  }
}][${sourceIndex}] to [${dest}]`,
      );
      // The query is echoed as given (no boost added), unlike the default match_all.
      expect(running.task.headers).toEqual({});
    } finally {
      await cancelAndWait(taskId);
    }
  });

  it('with username and password the description adds "username=<name> password=<<>>"; Elasticsearch without security accepts them', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-creds');
    const taskId = await launchReindex(
      target.url,
      {
        source: {
          remote: { host: source.host, username: 'elastic', password: 's3cret-never-shown' },
          index: sourceIndex,
          size: 100,
          query: { match_all: {} },
        },
        dest: { index: dest },
      },
      { opaqueId: `${dest}/creds` },
    );
    // Act
    const done = await awaitCompletion(target.url, taskId);
    // Assess
    expect(done.task.description).toBe(
      `reindex from [host=127.0.0.1 port=${source.port} query={\n  "match_all" : { }\n} username=elastic password=<<>>][${sourceIndex}] to [${dest}]`,
    );
    expect(JSON.stringify(done)).not.toContain('s3cret-never-shown');
    expect(done.response).toMatchObject({ total: SOURCE_DOCS, created: SOURCE_DOCS, failures: [] });
  });

  it('a password without a username is shown as "password=<<>>" alone and accepted', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-pw');
    const taskId = await launchReindex(target.url, {
      source: { remote: { host: source.host, password: 'p' }, index: sourceIndex, size: 100 },
      dest: { index: dest },
    });
    // Act
    const done = await awaitCompletion(target.url, taskId);
    // Assess
    expect(done.task.description).toBe(
      `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED} password=<<>>][${sourceIndex}] to [${dest}]`,
    );
    expect(done.response).toMatchObject({ created: SOURCE_DOCS, failures: [] });
  });

  it('a username without a password: 2.19.1 copies; 3.5.0 fails the task with a stored null_pointer_exception', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-user');
    // Act
    const taskId = await launchReindex(target.url, {
      source: { remote: { host: source.host, username: 'u' }, index: sourceIndex, size: 100 },
      dest: { index: dest },
    });
    const done = await awaitCompletion(target.url, taskId);
    // Assess
    expect(done.completed).toBe(true);
    expect(done.task.description).toBe(
      `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED} username=u][${sourceIndex}] to [${dest}]`,
    );
    if (target.version.startsWith('2.')) {
      expect(done.error).toBeUndefined();
      expect(done.response).toMatchObject({ created: SOURCE_DOCS, failures: [] });
    } else {
      // A failed task stores `error` instead of `response` (the launch itself still answered 200 with a task id).
      expect(done.response).toBeUndefined();
      expect(done.error).toEqual({
        type: 'null_pointer_exception',
        reason:
          'Cannot invoke "String.toCharArray()" because the return value of ' +
          '"org.opensearch.index.reindex.RemoteInfo.getPassword()" is null',
      });
      expect(done.task.status).toMatchObject({ total: 0, created: 0, batches: 0 });
    }
  });

  it('a finished task can still be fetched repeatedly (the stored result does not go away on read)', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-reread');
    const taskId = await launchReindex(target.url, {
      source: { remote: { host: source.host }, index: sourceIndex, size: 100 },
      dest: { index: dest },
    });
    const first = await awaitCompletion(target.url, taskId);
    // Act
    const again = await pollUntil('a second read', async () => {
      const answer = await rest<GetTaskAnswer>(target.url, 'GET', `/_tasks/${taskId}`);
      return answer.status === 200 ? answer.body : undefined;
    });
    // Assess
    expect(again.response).toEqual(first.response);
  });
});

describe(`Elasticsearch ${servers.source.version}, for comparison (it is only ever the source)`, () => {
  it('describes the same remote reindex with a trailing [_doc] (the destination type) that OpenSearch does not print', async () => {
    // Prepare
    const dest = uniqueIndex('tasks-es-describe');
    const taskId = await launchReindex(
      servers.source.url,
      { source: { remote: { host: source.host }, index: sourceIndex, size: 100 }, dest: { index: dest } },
      { opaqueId: `${dest}/es` },
    );
    // Act
    const done = await awaitCompletion(servers.source.url, taskId);
    // Assess
    expect(done.task.description).toBe(
      `reindex from [host=127.0.0.1 port=${source.port} query=${MATCH_ALL_DESCRIBED}][${sourceIndex}] to [${dest}][_doc]`,
    );
    expect(done.task.headers).toEqual({ 'X-Opaque-Id': `${dest}/es` });
    expect(done.response).toMatchObject({ total: SOURCE_DOCS, created: SOURCE_DOCS, failures: [] });
    await rest(servers.source.url, 'DELETE', `/${dest}`);
  });
});
