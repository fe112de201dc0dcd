/**
 * ReindexRun end to end when the target node itself fails, on OpenSearch nodes of this file's own (the default version):
 * a real crash and restart in the middle of a run (SIGKILL, same data directory and port), of a single-task run and of a
 * partitioned one, and a node whose write thread pool rejects bulk requests (thread_pool.write.size 1, queue_size 1;
 * test/contract/write-rejections.test.ts pins what such a node answers), under single-task and partitioned runs. The
 * source is the shared Elasticsearch 7.10.2. The file's tests run one at a time, so each node serves one run at a time;
 * sharing the two nodes (and their functions' warm environments) spares a JVM start per scenario.
 */
import type { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reindexTasksInto } from '../../lambdas/shared/cluster/cluster-ops';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { localLedger, runLocal } from '../../local/pipeline';
import { adjustmentLines, summarise } from '../../local/receipts';
import { expectedCounters, seedWorkedExample, targetCopy, type SeedDoc, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';
import { fileLedgerTable } from '../support/e2e-harness';

const servers = localServers();

interface TaskList {
  nodes: Record<string, { tasks: Record<string, { description?: string; status?: Record<string, number> }> }>;
}

/** Documents the reindex into `index` running on `client` has dealt with so far (0 when none runs). */
async function progressInto(client: Client, index: string): Promise<number> {
  const { body } = await client.tasks.list({ actions: '*reindex', detailed: true });
  const tasks = Object.values((body as TaskList).nodes).flatMap((n) => Object.values(n.tasks));
  const ours = tasks.find((t) => t.description?.endsWith(`to [${index}]`));
  const s = ours?.status ?? {};
  return (s.created ?? 0) + (s.updated ?? 0) + (s.version_conflicts ?? 0);
}

/** Waits until the reindex into `index` has dealt with at least `atLeast` documents; answers how many. */
async function progressReaching(client: Client, index: string, atLeast: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const processed = await progressInto(client, index);
    if (processed >= atLeast) return processed;
    if (Date.now() > deadline) throw new Error(`the reindex into ${index} dealt with ${processed} documents only in ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Every document of `index` with its version and writer, by id. */
async function everyDoc(client: Client, index: string, size: number): Promise<Map<string, { version: number; writer: string }>> {
  await client.indices.refresh({ index });
  const { body } = await client.search({ index, body: { size, version: true, query: { match_all: {} }, _source: ['writer'] } });
  const hits = (body as { hits: { hits: Array<{ _id: string; _version: number; _source: { writer: string } }> } }).hits.hits;
  return new Map(hits.map((h) => [h._id, { version: h._version, writer: h._source.writer }]));
}

/** Where each seeded document must stand on the target after a complete merge backfill. */
function expectedOnTarget(doc: SeedDoc): { version: number; writer: string } {
  switch (doc.kind) {
    case 'missing':
    case 'targetOlder':
      return { version: doc.sourceVersion, writer: 'source' };
    case 'equal':
    case 'targetNewer':
      return targetCopy(doc)!;
  }
}

// Two nodes of our own, started side by side: one to crash, one with a tiny write pool.
let crashing: LocalCluster;
let rejecting: LocalCluster;

beforeAll(async () => {
  [crashing, rejecting] = await Promise.all([
    startLocalCluster({ distribution: 'opensearch', log: () => {} }),
    startLocalCluster({
      distribution: 'opensearch',
      settings: { 'thread_pool.write.queue_size': 1, 'thread_pool.write.size': 1 },
      log: () => {},
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([crashing?.stop(), rejecting?.stop()]);
});

describe('ReindexRun when the target node is killed and restarted mid-run', () => {
  it('the live run FAILS TaskLost (a 404 is outcome unknown, never done); a rerun under a new run id and the same approval SUCCEEDS and leaves every document at the right version', async () => {
    // Prepare
    const shape: WorkedExampleShape = { missing: 3_600, targetOlder: 100, equal: 200, targetNewer: 100 };
    const sourceCount = 4_000;
    const index = uniqueIndex('node-restart');
    const tableName = fileLedgerTable;
    const source = clientFor(servers.source.url);
    const target = clientFor(crashing.url);
    const docs = await seedWorkedExample({ source, target, index, shape });
    // About 8 s of throttled work: 40 batches of 100 at 500 documents per second.
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100, requestsPerSecond: 500 };
    const common = { targetUrl: crashing.url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50 };
    const dry = await runLocal({ ...common, input: { ...base, runId: `${index}-dry` } });
    expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    // Before the first poll: once the task has dealt with 800 documents, kill the node and start it again. (Later polls
    // long-poll until completion, so the crash must come before one starts.)
    let crashed = false;
    let processedAtKill: number | undefined;
    const crashOnce = async (key: string) => {
      if (key !== 'PollTaskFunctionArn' || crashed) return;
      crashed = true;
      processedAtKill = await progressReaching(target, index, 800);
      await crashing.restart();
    };

    // Act
    const lost = await runLocal({ ...common, beforeState: crashOnce, input: { ...base, runId: `${index}-live`, dryRun: false } });
    const rerun = await runLocal({ ...common, input: { ...base, runId: `${index}-rerun`, dryRun: false } });

    // Assess: the crash
    expect(processedAtKill).toBeGreaterThanOrEqual(800);
    expect(processedAtKill).toBeLessThan(3_000);
    expect(lost.status).toBe('FAILED');
    expect(lost.error).toBe('TaskLost');
    expect(lost.cause).toBe(
      `task ${lost.taskId} is neither running nor stored in .tasks (a node restart drops running tasks): its outcome is unknown. ` +
        'Rerun the same input under a new run id: the approval still holds while young enough, and merge mode makes the rerun safe.',
    );
    expect(lost.record).toMatchObject({ status: 'FAILED', error: 'TaskLost' });
    expect(lost.record?.counters).toBeUndefined();
    // Assess: the rerun, under the dry run's approval, reconciles on its own
    expect([rerun.status, rerun.error, rerun.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(rerun.record?.approvedBy).toMatchObject({ runId: `${index}-dry` });
    expect(rerun.taskId).not.toBe(lost.taskId);
    const counters = rerun.record?.counters as { total: number; created: number; updated: number; versionConflicts: number; deleted: number; noops: number; failures: number };
    expect(rerun.record?.baselines).toMatchObject({ sourceCount });
    expect(counters.total).toBe(sourceCount);
    expect(counters.created + counters.updated + counters.versionConflicts).toBe(counters.total);
    expect([counters.deleted, counters.noops, counters.failures]).toEqual([0, 0, 0]);
    // What the lost task wrote before the crash is already at the source's version: the rerun counts it as conflicts.
    const expected = expectedCounters(shape);
    // (The source is read in index order: the backfill-only documents come first, the overlapping ones last.)
    expect(counters.versionConflicts).toBeGreaterThanOrEqual(expected.versionConflicts + processedAtKill!);
    expect(counters.created).toBeLessThanOrEqual(expected.created - processedAtKill!);
    expect(counters.updated).toBe(expected.updated);
    expect(rerun.record?.parity).toMatchObject({ ok: true });
    // Assess: the target holds every source document at the right version, and every newer dual-write copy
    const onTarget = await everyDoc(target, index, sourceCount + 100);
    expect(onTarget.size).toBe(sourceCount);
    const wrong = docs.filter((d) => onTarget.get(d.id)?.version !== expectedOnTarget(d).version || onTarget.get(d.id)?.writer !== expectedOnTarget(d).writer);
    expect(wrong.map((d) => ({ id: d.id, kind: d.kind, found: onTarget.get(d.id) }))).toEqual([]);
    expect(await (await localLedger(servers.ledgerEndpoint, tableName)).getLock(index)).toBeUndefined();
  });
});

describe('a partitioned run on a target node that is killed and restarted', () => {
  it('reruns the lost partition alone (the finished one is not touched) and leaves every document at the right version', async () => {
    // Prepare: 3 ranges + the no-date partition, one at a time, throttled so the second is mid-way at the crash.
    const shape: WorkedExampleShape = { missing: 1_800, targetOlder: 60, equal: 100, targetNewer: 40 };
    const index = uniqueIndex('part-restart');
    const tableName = fileLedgerTable;
    const target = clientFor(crashing.url);
    const docs = await seedWorkedExample({ source: clientFor(servers.source.url), target, index, shape });
    const input = {
      source: { url: servers.source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 50,
      requestsPerSecond: 400,
      partitions: 3,
      maxConcurrency: 1,
    };
    const options = { targetUrl: crashing.url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, slotWaitMs: 100 };
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');

    // Act: at the first poll that finds one of this run's partition tasks running (after the first
    // partition finished), kill the node and start it again.
    const runId = `${index}-live`;
    let launches = 0;
    let crashed = false;
    const running = async (): Promise<boolean> =>
      (await reindexTasksInto(target, index)).some((t) => t.opaqueId?.startsWith(`${runId}.`));
    const live = await runLocal({
      ...options,
      input: { ...input, runId, dryRun: false },
      beforeState: async (key) => {
        if (key === 'LaunchReindexFunctionArn') launches += 1;
        if (key === 'PollTaskFunctionArn' && launches >= 2 && !crashed && (await running())) {
          crashed = true;
          await crashing.restart();
        }
      },
    });

    // Assess
    expect(crashed).toBe(true);
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const parts = live.record!.partitions!;
    // Partitions take the run's one slot in no fixed order: the one running at the crash is rerun, alone.
    expect(parts.map((p) => p.id)).toEqual(['p01', 'p02', 'p03', 'p04']);
    expect(parts.every((p) => p.status === 'SUCCEEDED')).toBe(true);
    const rerun = parts.filter((p) => p.attempts === 2);
    expect(rerun).toHaveLength(1);
    expect(rerun[0]?.errors?.[0]?.error).toBe('TaskLost');
    expect(parts.filter((p) => p.attempts === 1)).toHaveLength(3);
    expect(live.record?.counters).toMatchObject({ total: expectedCounters(shape).total, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
    await target.indices.refresh({ index });
    const { body } = await target.search({ index, body: { size: docs.length + 10, version: true, _source: ['writer'], query: { match_all: {} } } });
    const onTarget = new Map(
      (body as { hits: { hits: Array<{ _id: string; _version: number; _source: { writer: string } }> } }).hits.hits.map((h) => [
        h._id,
        { version: h._version, writer: h._source.writer },
      ]),
    );
    expect(onTarget.size).toBe(docs.length);
    expect(docs.filter((d) => JSON.stringify(onTarget.get(d.id)) !== JSON.stringify(expectedOnTarget(d))).map((d) => d.id)).toEqual([]);
  });
});

describe('ReindexRun into a target node whose write thread pool rejects bulks (size 1, queue 1)', () => {
  async function writeRejections(): Promise<number> {
    const { body } = await clientFor(rejecting.url).nodes.stats({ metric: ['thread_pool'] });
    const nodes = (body as { nodes: Record<string, { thread_pool: Record<string, { rejected: number }> }> }).nodes;
    return Object.values(nodes).reduce((n, x) => n + (x.thread_pool.write?.rejected ?? 0), 0);
  }

  /**
   * The worked example's source on the shared Elasticsearch, and on the rejecting node a target index with 10 shards
   * holding the dual-write copies: each bulk of the reindex becomes 10 shard-level writes at once on a pool that runs
   * one and queues one. Then a dry run approves the input.
   */
  async function approvedScenario(prefix: string, shape: WorkedExampleShape, batchSize: number) {
    const index = uniqueIndex(prefix);
    const tableName = fileLedgerTable;
    const scratch = clientFor(defaultTarget().url);
    const target = clientFor(rejecting.url);
    const docs = await seedWorkedExample({ source: clientFor(servers.source.url), target: scratch, index, shape });
    await scratch.indices.delete({ index });
    await target.indices.create({
      index,
      body: {
        settings: { number_of_shards: 10, number_of_replicas: 0 },
        mappings: { properties: { timestamp: { type: 'date' }, caller: { type: 'keyword' }, duration: { type: 'integer' }, writer: { type: 'keyword' } } },
      },
    });
    // One document at a time: a single-document write never competes for the pool.
    for (const doc of docs) {
      const copy = targetCopy(doc);
      if (!copy) continue;
      await target.index({ index, id: doc.id, version: copy.version, version_type: 'external', body: { timestamp: doc.timestamp, writer: copy.writer } });
    }
    await target.indices.refresh({ index });
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize };
    const common = { targetUrl: rejecting.url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50 };
    const dry = await runLocal({ ...common, input: { ...base, runId: `${index}-dry` } });
    if (dry.status !== 'SUCCEEDED') throw new Error(`dry run failed: ${dry.error}: ${dry.cause}`);
    return { index, tableName, target, docs, base, common };
  }

  interface StoredReindex {
    response: {
      batches: number;
      created: number;
      version_conflicts: number;
      failures: Array<{ id: string; status: number; cause: { type: string; reason: string } }>;
      retries: { bulk: number; search: number };
    };
  }

  it('batches that only create documents (1,000 per bulk): the reindex resends the rejected items itself (retries.bulk > 0) and the run SUCCEEDS with the exact counters', async () => {
    // Prepare: an empty target, nothing to conflict with.
    const shape: WorkedExampleShape = { missing: 2_000, targetOlder: 0, equal: 0, targetNewer: 0 };
    const { index, target, docs, base, common } = await approvedScenario('node-rejections-create', shape, 1_000);
    const rejectedBefore = await writeRejections();
    // Act
    const live = await runLocal({ ...common, input: { ...base, runId: `${index}-live`, dryRun: false } });
    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.counters).toMatchObject({ total: 2_000, created: 2_000, updated: 0, versionConflicts: 0, deleted: 0, noops: 0, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
    const { body } = await target.tasks.get({ task_id: live.taskId! });
    const { response } = body as StoredReindex;
    expect(response).toMatchObject({ batches: 2, failures: [] });
    expect(response.retries.bulk).toBeGreaterThan(0);
    expect(await writeRejections()).toBeGreaterThan(rejectedBefore);
    const onTarget = await everyDoc(target, index, docs.length + 100);
    expect(docs.filter((d) => onTarget.get(d.id)?.version !== d.sourceVersion).map((d) => d.id)).toEqual([]);
  });

  it('a merge run whose one bulk meets version conflicts and rejections together: the reindex does not retry that bulk, and the run FAILS ReindexFailed naming rejected_execution_exception', async () => {
    // Prepare: the dual-written target (its copies conflict) and the whole index in one batch.
    const shape: WorkedExampleShape = { missing: 1_700, targetOlder: 60, equal: 180, targetNewer: 60 };
    const { index, tableName, target, docs, base, common } = await approvedScenario('node-rejections-merge', shape, 2_000);
    const rejectedBefore = await writeRejections();
    // Act
    const live = await runLocal({ ...common, input: { ...base, runId: `${index}-live`, dryRun: false } });
    // Assess: the server's side of it
    const { body } = await target.tasks.get({ task_id: live.taskId! });
    const { response } = body as StoredReindex;
    expect(response.batches).toBe(1);
    // A bulk is retried only when every failed item is a rejection (429); a version conflict (409) in it stops the retry.
    expect(response.retries.bulk).toBe(0);
    expect(response.version_conflicts).toBeGreaterThan(0);
    expect(response.failures.length).toBeGreaterThan(0);
    expect(new Set(response.failures.map((f) => `${f.status} ${f.cause.type}`))).toEqual(new Set(['429 rejected_execution_exception']));
    expect(response.created + response.version_conflicts + response.failures.length).toBeLessThanOrEqual(docs.length);
    expect(await writeRejections()).toBeGreaterThan(rejectedBefore);
    // Assess: the run's side
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('ReindexFailed');
    expect(live.cause).toMatch(
      new RegExp(
        `^the reindex reported ${response.failures.length.toLocaleString('en-US')} failure\\(s\\), first: \\{"index":"${index}","id":"call-\\d{7}",` +
          '"cause":\\{"type":"rejected_execution_exception","reason":"rejected execution of org\\.opensearch\\.',
      ),
    );
    expect(live.cause).toContain('"status":429}. Fix the cause (mapping, rejected writes, ...) and rerun (merge mode makes a rerun safe).');
    expect(live.cause).toMatch(/\(2,000 ≠ [\d,]+ created \+ [\d,]+ updated \+ 0 deleted \+ 0 noops \+ [\d,]+ version_conflicts \(sum [\d,]+\)\)$/);
    expect(live.record?.counters).toMatchObject({ total: 2_000, failures: response.failures.length, versionConflicts: response.version_conflicts });
    expect(live.record?.parity).toBeUndefined();
    expect(await (await localLedger(servers.ledgerEndpoint, tableName)).getLock(index)).toBeUndefined();
  });
});

/** The source index seeded, and an empty index of the same name on the rejecting node. */
async function seedOntoRejectingTarget(index: string, shape: WorkedExampleShape): Promise<void> {
  const scratch = clientFor(defaultTarget().url);
  await seedWorkedExample({ source: clientFor(localServers().source.url), target: scratch, index, shape });
  await scratch.indices.delete({ index });
  // Ten shards on a pool that runs one write and queues one: every 1,000-document bulk meets rejections.
  await clientFor(rejecting.url).indices.create({
    index,
    body: { settings: { number_of_shards: 10, number_of_replicas: 0 }, mappings: { properties: { timestamp: { type: 'date' } } } },
  });
}

/** A run log that keeps its warnings for the assertions. */
function warningLog() {
  const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const log = { info: () => undefined, warn: (message: string, fields: Record<string, unknown> = {}) => void warnings.push({ message, fields }) };
  return { warnings, log };
}

describe('a partitioned run into a target that rejects writes', () => {
  it('lowers its concurrency when retries.bulk grows, says so, and still finishes with exact counters', async () => {
    const shape: WorkedExampleShape = { missing: 4_000, targetOlder: 0, equal: 0, targetNewer: 0 };
    const index = uniqueIndex('parted-rejections');
    const tableName = fileLedgerTable;
    await seedOntoRejectingTarget(index, shape);
    const { warnings, log } = warningLog();
    const common = { targetUrl: rejecting.url, ledgerEndpoint: localServers().ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, maxTasksPerDomain: 4, log };
    const input = {
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 1_000,
      partitions: 4,
      maxConcurrency: 4,
    };
    const dry = await runLocal({ ...common, input: { ...input, runId: `${index}-dry` } });
    expect([dry.status, dry.error, dry.cause]).toEqual(['SUCCEEDED', null, null]);

    const live = await runLocal({ ...common, input: { ...input, runId: `${index}-live`, dryRun: false } });

    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.counters).toMatchObject({ total: 4_000, created: 4_000, updated: 0, versionConflicts: 0, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
    const concurrency = live.record!.concurrency!;
    expect(concurrency.current).toBeLessThan(4);
    expect(concurrency.changes[0]).toMatchObject({ from: 4, to: 3, reason: expect.stringMatching(/retries\.bulk grew from 0 to \d+/) });
    expect(warnings.some((w) => w.message.startsWith('the target rejects writes: lowering'))).toBe(true);
    // The summary the CLI prints and the receipts carry says so, from the real record.
    const said = adjustmentLines(summarise(live.record, { runId: `${index}-live`, status: 'SUCCEEDED', error: null, cause: null }));
    expect(said[0]).toMatch(/^concurrency 4 -> [123]: lowered (once|twice|3 times) because the target rejected writes$/);
    expect(said[1]).toMatch(/^ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}4 -> 3 {2}p\d\d {2}task \S+: retries\.bulk grew from 0 to \d+ \(the target rejected writes\)$/);
  }, 240_000); // 4,000 documents through a write pool of one: over a minute when another test file shares the 2 cores

  it('rethrottles the task of a single-task run when retries.bulk grows (one task cannot be lowered), says so, and still finishes exact', async () => {
    const shape: WorkedExampleShape = { missing: 6_000, targetOlder: 0, equal: 0, targetNewer: 0 };
    const index = uniqueIndex('single-rejections');
    const tableName = fileLedgerTable;
    await seedOntoRejectingTarget(index, shape);
    const { warnings, log } = warningLog();
    const common = { targetUrl: rejecting.url, ledgerEndpoint: localServers().ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, log };
    // Throttled at first, so that the run lasts long enough (~3 s) for a poll to see retries.bulk grow.
    const input = { source: { url: localServers().source.url, index }, target: { index }, batchSize: 1_000, requestsPerSecond: 2_000 };
    expect((await runLocal({ ...common, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');

    const live = await runLocal({ ...common, input: { ...input, runId: `${index}-live`, dryRun: false } });

    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.counters).toMatchObject({ total: 6_000, created: 6_000, updated: 0, versionConflicts: 0, failures: 0 });
    const throttle = live.record!.throttle!;
    // One change: the next is only considered a minute later (the run is over by then).
    expect(throttle.changes).toEqual([
      expect.objectContaining({ taskId: live.taskId, partitionId: WHOLE_INDEX_PARTITION_ID, from: 2_000, to: 1_000, reason: expect.stringMatching(/retries\.bulk grew from 0 to \d+/) }),
    ]);
    const finished = await rest<{ task: { status: { requests_per_second: number } } }>(rejecting.url, 'GET', `/_tasks/${String(live.taskId)}`);
    expect(finished.body.task.status.requests_per_second).toBe(1_000);
    expect(warnings.some((w) => w.message === 'the target rejects writes: rethrottled the reindex task' && w.fields.to === 1_000)).toBe(true);
    expect(adjustmentLines(summarise(live.record, { runId: `${index}-live`, status: 'SUCCEEDED', error: null, cause: null }))).toEqual([
      'rethrottled once because the target rejected writes',
      expect.stringMatching(new RegExp(`^ {2}\\S+Z {2}task ${String(live.taskId)} {2}2,000 docs/s -> 1,000 docs/s {2}task \\S+: retries\\.bulk grew`)),
    ]);
  });
});
