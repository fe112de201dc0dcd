import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runLocal } from '../../local/pipeline';
import { seedWorkedExample, type SeedDoc, type WorkedExampleShape } from '../../local/seed/worked-example';
import {
  described,
  fileLedgerTable,
  fileProxiedClusters,
  finishedTask,
  ledgerOf,
  runOptions,
  runningTaskId,
  stopFileProxiedClusters,
  type FileProxiedClusters,
} from '../support/e2e-harness';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { awaitCompletion, launchReindex, pollTask, rest } from '../support/tasks-rest';
import { clientFor } from '../support/client';

/**
 * Deletes stay deleted while dual-write goes on during a live run. The target index is created with a
 * one-second `index.gc_deletes`, so that the window a real backfill of hours always has is hit in a
 * run of seconds: an application deletes documents on both clusters right after the launch, before the
 * throttled scroll reaches them, and makes its other writes (updates, creates) meanwhile.
 */

const servers = localServers();
/** 900 documents the backfill copies, then 100 dual-written ones (last in the scroll's order). */
const shape: WorkedExampleShape = { missing: 900, targetOlder: 0, equal: 100, targetNewer: 0 };
/** About ten seconds for the 1,000 documents: the last ones are reached well after the deletes. */
const throttle = { batchSize: 50, requestsPerSecond: 100 };
const SHORT = '1s';

/** Every run reaches the target through the file's proxy (the last test makes it refuse a settings update): one target URL, one set of warm function environments for the file. */
let clusters: FileProxiedClusters | undefined;
afterEach(() => {
  clusters?.reset();
});
afterAll(stopFileProxiedClusters);

async function proxiedTargetUrl(): Promise<string> {
  clusters = await fileProxiedClusters();
  return clusters.target.url;
}

async function seededWithShortRetention(prefix: string): Promise<{ index: string; docs: SeedDoc[] }> {
  const index = uniqueIndex(prefix);
  const docs = await seedWorkedExample({ source: clientFor(servers.source.url), target: clientFor(defaultTarget().url), index, shape });
  const put = await rest(defaultTarget().url, 'PUT', `/${index}/_settings`, { index: { gc_deletes: SHORT } });
  expect(put.status).toBe(200);
  return { index, docs };
}

async function gcDeletes(index: string): Promise<string | undefined> {
  const answer = await rest<Record<string, { settings: Record<string, string> }>>(defaultTarget().url, 'GET', `/${index}/_settings/index.gc_deletes?flat_settings=true`);
  return Object.values(answer.body)[0]?.settings['index.gc_deletes'];
}

interface Writes {
  readonly deleted: string[];
  readonly updated: Array<{ id: string; version: number }>;
  readonly created: string[];
  /** `index.gc_deletes` on the target while the writer ran. */
  readonly settingDuringRun: string | undefined;
}

/**
 * The application: external versions on both clusters, bounded in count. It deletes the last 60
 * dual-written documents (the scroll reaches them last), updates 10 others, creates 10 new ones, and
 * refreshes the target twice, more than a second apart, so that tombstones past their `gc_deletes`
 * are pruned as a busy index's periodic refresh would.
 */
async function applicationWriter(index: string, docs: readonly SeedDoc[], taskId: string): Promise<Writes> {
  // Only deletes after the scroll opened are in the window: the snapshot holds what the source held then.
  await pollTask(defaultTarget().url, taskId, (t) => Number((t.task.status as { batches?: number } | undefined)?.batches ?? 0) >= 1, 'the first batch');
  const dualWritten = docs.filter((d) => d.kind === 'equal');
  const toDelete = dualWritten.slice(-60);
  const toUpdate = dualWritten.slice(0, 10);
  const urls = [servers.source.url, defaultTarget().url];
  const bulk = async (lines: object[]) => {
    const body = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
    for (const url of urls) {
      const answer = await rest<{ errors: boolean; items: unknown[] }>(url, 'POST', '/_bulk?refresh=true', body);
      expect(answer.body.errors, JSON.stringify(answer.body.items.slice(0, 3))).toBe(false);
    }
  };
  await bulk(toDelete.map((d) => ({ delete: { _index: index, _id: d.id, version: d.sourceVersion + 10, version_type: 'external' } })));
  const settingDuringRun = await gcDeletes(index);
  await sleep(1_500);
  const created = Array.from({ length: 10 }, (_, i) => `app-created-${i}`);
  await bulk([
    ...toUpdate.flatMap((d) => [{ index: { _index: index, _id: d.id, version: d.sourceVersion + 5, version_type: 'external' } }, { timestamp: d.timestamp, writer: 'application update' }]),
    ...created.flatMap((id) => [{ index: { _index: index, _id: id, version: 1, version_type: 'external' } }, { timestamp: '2026-05-31T12:00:00Z', writer: 'application create' }]),
  ]);
  await sleep(1_500);
  await rest(defaultTarget().url, 'POST', `/${index}/_refresh`);
  return { deleted: toDelete.map((d) => d.id), updated: toUpdate.map((d) => ({ id: d.id, version: d.sourceVersion + 5 })), created, settingDuringRun };
}

/** The ids of `ids` the target holds now, with their versions. */
async function onTarget(index: string, ids: readonly string[]): Promise<Map<string, number>> {
  const answer = await rest<{ docs: Array<{ _id: string; found: boolean; _version?: number }> }>(defaultTarget().url, 'POST', `/${index}/_mget`, { ids });
  return new Map(answer.body.docs.filter((d) => d.found).map((d) => [d._id, d._version!]));
}

describe('tombstone retention during a live run with dual-write deletes', () => {
  it('a bare version-aware remote reindex brings deleted documents back (the window exists on these servers)', async () => {
    // Prepare
    const { index, docs } = await seededWithShortRetention('tombstones-bare');

    // Act: what a plain `_reindex` with external versions does, the application writing meanwhile
    const taskId = await launchReindex(
      defaultTarget().url,
      {
        conflicts: 'proceed',
        source: { remote: { host: servers.source.url }, index, size: throttle.batchSize },
        dest: { index, version_type: 'external' },
      },
      { params: `&requests_per_second=${throttle.requestsPerSecond}` },
    );
    const writes = await applicationWriter(index, docs, taskId);
    await awaitCompletion(defaultTarget().url, taskId);

    // Assess
    const back = await onTarget(index, writes.deleted);
    expect(back.size).toBeGreaterThan(0);
    expect(await gcDeletes(index)).toBe(SHORT);
  });

  it('the live run keeps every deleted document deleted, keeps the application writes, SUCCEEDS, and gives the index its setting back', async () => {
    // Prepare
    const { index, docs } = await seededWithShortRetention('tombstones-live');
    const options = runOptions(fileLedgerTable, await proxiedTargetUrl());
    const input = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', ...throttle };
    const dry = await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.record?.header).toContain(
      'tombstones:           index.gc_deletes 1s; the live run raises to 24h before the first launch, restored when the run ends',
    );
    let writer: Promise<Writes> | undefined;

    // Act
    const live = await runLocal({
      ...options,
      input: { ...input, runId: `${index}-live`, dryRun: false },
      beforeState: async (key) => {
        if (key !== 'CheckHeaderFunctionArn' || writer) return;
        const taskId = await runningTaskId(await ledgerOf(fileLedgerTable), `${index}-live`);
        writer = applicationWriter(index, docs, taskId!);
      },
    });
    const writes = await writer!;

    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(writes.settingDuringRun).toBe('24h');
    expect([...(await onTarget(index, writes.deleted)).keys()]).toEqual([]);
    const updated = await onTarget(index, writes.updated.map((u) => u.id));
    for (const u of writes.updated) expect(updated.get(u.id)).toBe(u.version);
    expect((await onTarget(index, writes.created)).size).toBe(writes.created.length);
    expect(live.record?.counters).toMatchObject({ total: 1_000, created: 900, failures: 0 });
    expect(await gcDeletes(index)).toBe(SHORT);
    expect(await (await ledgerOf(fileLedgerTable)).getLock(index)).toBeUndefined();
  });

  it('a failed live run and an aborted one both give the index its setting back', async () => {
    // Prepare
    const { index } = await seededWithShortRetention('tombstones-ends');
    const options = runOptions(fileLedgerTable, await proxiedTargetUrl());
    const input = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', ...throttle };
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    const seen: Array<string | undefined> = [];

    // Act: someone cancels the first run's task (it fails ReindexFailed); Ctrl-C stops the second
    const failed = await runLocal({
      ...options,
      input: { ...input, runId: `${index}-live-1`, dryRun: false },
      beforeState: async (key) => {
        if (key !== 'PollTaskFunctionArn' || seen.length > 0) return;
        seen.push(await gcDeletes(index));
        const taskId = (await runningTaskId(await ledgerOf(fileLedgerTable), `${index}-live-1`))!;
        await rest(defaultTarget().url, 'POST', `/_tasks/${taskId}/_cancel`);
        await finishedTask(taskId);
      },
    });
    const afterFailure = await gcDeletes(index);
    const stop = new AbortController();
    const aborted = await runLocal({
      ...options,
      signal: stop.signal,
      input: { ...input, runId: `${index}-live-2`, dryRun: false },
      beforeState: async (key) => {
        if (key !== 'PollTaskFunctionArn' || seen.length > 1) return;
        seen.push(await gcDeletes(index));
        stop.abort();
      },
    });

    // Assess
    expect([failed.status, failed.error]).toEqual(['FAILED', 'ReindexFailed']);
    expect([aborted.status, aborted.error]).toEqual(['ABORTED', 'Aborted']);
    expect(seen).toEqual(['24h', '24h']);
    expect(afterFailure).toBe(SHORT);
    expect(await gcDeletes(index)).toBe(SHORT);
  });

  it('a target that refuses the settings update fails TombstoneRetentionUnavailable and launches nothing; acceptResurrectedDeletes runs anyway', async () => {
    // Prepare: the target through a proxy that answers the settings update as a cluster without the permission does
    const { index } = await seededWithShortRetention('tombstones-refused');
    clusters = await fileProxiedClusters();
    const proxy = clusters.target;
    proxy.inject({
      method: 'PUT',
      path: `/${index}/_settings`,
      action: { kind: 'status', status: 403, body: { error: { type: 'security_exception', reason: 'no permissions for [indices:admin/settings/update]' }, status: 403 } },
    });
    const options = runOptions(fileLedgerTable, proxy.url);
    const input = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp' };
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    proxy.resetLog();

    // Act
    const refused = await runLocal({ ...options, input: { ...input, runId: `${index}-live`, dryRun: false } });
    const launchesWhenRefused = described(proxy.writeRequests()).filter((r) => r.startsWith('POST /_reindex'));
    const acceptedInput = { ...input, guards: { acceptResurrectedDeletes: true } };
    expect((await runLocal({ ...options, input: { ...acceptedInput, runId: `${index}-dry-accepted` } })).status).toBe('SUCCEEDED');
    const accepted = await runLocal({ ...options, input: { ...acceptedInput, runId: `${index}-live-accepted`, dryRun: false } });

    // Assess
    expect([refused.status, refused.error]).toEqual(['FAILED', 'TombstoneRetentionUnavailable']);
    expect(refused.cause).toContain('HTTP 403 security_exception: no permissions for [indices:admin/settings/update]');
    expect(refused.cause).toContain('guards.acceptResurrectedDeletes');
    expect(launchesWhenRefused).toEqual([]);
    expect([accepted.status, accepted.error]).toEqual(['SUCCEEDED', null]);
    expect(await gcDeletes(index)).toBe(SHORT);
  });
});
