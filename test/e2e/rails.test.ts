import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tamperedLaunch } from '../../local/fault-proxy/tampered-launch';
import { collectingMetrics, runLocal } from '../../local/pipeline';
import { expectedCounters, seedDocs, targetCopy, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import {
  cancelIfRunning,
  cancellationOf,
  countOf,
  described,
  finishedTask,
  ledgerOf,
  parkedAfterFirstBatch,
  fileProxiedClusters,
  runOptions,
  seededIndex,
  startForeignReindex,
  stopFileProxiedClusters,
  type FileProxiedClusters,
} from '../support/e2e-harness';
import { rest } from '../support/tasks-rest';
import { defaultTarget, localServers } from '../support/servers';

/**
 * The two rails of docs/design.md on the real clusters: a dry run launches nothing and a live run launches only
 * what a dry run approved (rail 1); a launched task that is not the approved request is cancelled (rail 2);
 * no foreign reindex writes into the target beside ours; and the modes do what they promise.
 */

const servers = localServers();
const shape: WorkedExampleShape = { missing: 150, targetOlder: 10, equal: 30, targetNewer: 10 };

/** Every run reaches the target through the file's proxy (faults only where a test injects them): one target URL, one set of warm function environments for the file. */
let clusters: FileProxiedClusters | undefined;
const startedTasks: string[] = [];

afterEach(async () => {
  await Promise.all(startedTasks.splice(0).map((id) => cancelIfRunning(id)));
  clusters?.reset();
  clusters = undefined;
});

afterAll(stopFileProxiedClusters);

function seeded(prefix: string, seedShape: WorkedExampleShape = shape) {
  return seededIndex(prefix, seedShape);
}

/** The live run's task, when the header check cancelled it: it ended early with `canceled`. */
async function expectCancelledEarly(taskId: string | undefined, sourceDocs: number): Promise<void> {
  expect(taskId).toMatch(/^[^:]+:\d+$/);
  const done = await finishedTask(taskId!);
  expect(cancellationOf(done), JSON.stringify(done)).toBe('by user request');
  expect((done.response?.created ?? 0) + (done.response?.updated ?? 0)).toBeLessThan(sourceDocs);
}

describe('rail 1: the dry run', () => {
  it('a dry run reads both clusters with a handful of requests and writes nothing to either', async () => {
    // Prepare
    const { index, tableName } = await seeded('rails-dry');
    clusters = await fileProxiedClusters();
    const input = { runId: `${index}-dry`, source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };

    // Act
    const dry = await runLocal({ ...runOptions(tableName, clusters.target.url), input });

    // Assess
    expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    expect(dry.taskId).toBeUndefined();
    expect(dry.record?.header?.length).toBeGreaterThan(0);
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(described(clusters.source.writeRequests())).toEqual([]);
    const targetRequests = clusters.target.requests();
    const sourceRequests = clusters.source.requests();
    expect(targetRequests.length).toBeGreaterThan(0);
    expect(sourceRequests.length).toBeGreaterThan(0);
    // Today: GET /, resolve, census, task list and probe sample on the target; GET /, census and mget on the source.
    const all = [...described(targetRequests), ...described(sourceRequests)];
    expect(all.length, all.join('\n')).toBeLessThanOrEqual(15);
    expect(targetRequests.some((r) => r.path.includes('_reindex'))).toBe(false);
    const lock = await (await ledgerOf(tableName)).getLock(index);
    expect(lock).toBeUndefined();
  });

  it('a live run without a dry run fails DryRunRequired, writes nothing to the target and releases its lock', async () => {
    // Prepare
    const { index, tableName } = await seeded('rails-nodry');
    clusters = await fileProxiedClusters();
    const targetBefore = await countOf(defaultTarget().url, index);
    const input = { runId: `${index}-live`, source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100, dryRun: false };

    // Act
    const live = await runLocal({ ...runOptions(tableName, clusters.target.url), input });

    // Assess
    expect([live.status, live.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(live.cause).toContain('no dry run approved this exact request');
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'DryRunRequired' });
    expect(live.taskId).toBeUndefined();
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(described(clusters.source.writeRequests())).toEqual([]);
    expect(await countOf(defaultTarget().url, index)).toBe(targetBefore);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
  });

  it('a live run whose batch size differs from the approved dry run fails DryRunRequired; the approved one then launches', async () => {
    // Prepare
    const { index, tableName } = await seeded('rails-batch');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    clusters.target.resetLog();

    // Act
    const changed = await runLocal({ ...options, input: { ...base, batchSize: 200, runId: `${index}-live-200`, dryRun: false } });
    const writesWhileRefused = described(clusters.target.writeRequests());
    const approved = await runLocal({ ...options, input: { ...base, runId: `${index}-live-100`, dryRun: false } });

    // Assess
    expect([changed.status, changed.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(changed.taskId).toBeUndefined();
    expect(writesWhileRefused).toEqual([]);
    expect([approved.status, approved.error, approved.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(approved.record?.approvedBy).toMatchObject({ runId: `${index}-dry` });
    expect(approved.record?.counters).toMatchObject({ total: expectedCounters(shape).total });
  });

  it('a live run whose query differs from the approved dry run fails DryRunRequired and launches nothing', async () => {
    // Prepare
    const { index, tableName } = await seeded('rails-query');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    clusters.target.resetLog();
    const narrowed = { ...base.source, query: { range: { timestamp: { gte: '2026-05-20T00:00:00Z' } } } };

    // Act
    const live = await runLocal({ ...options, input: { ...base, source: narrowed, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(live.taskId).toBeUndefined();
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
  });
});

describe('rail 2: the header check', () => {
  const bigShape: WorkedExampleShape = { missing: 3_000, targetOlder: 0, equal: 0, targetNewer: 0 };

  /** A live run whose launch reaches the target changed by `mutate` (through the fault proxy). */
  async function launchWith(prefix: string, mutate: (body: Record<string, unknown>) => void) {
    const { index, tableName } = await seeded(prefix, bigShape);
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100, requestsPerSecond: 200 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const tampered = clusters.target.inject(tamperedLaunch(mutate));
    const live = await runLocal({ ...options, input: { ...base, runId: `${index}-live`, dryRun: false } });
    expect(tampered.fired()).toBe(1);
    return { index, tableName, live };
  }

  it('a launch that drops version_type is cancelled at once: HeaderCheckFailed, FAILED recorded, lock released', async () => {
    // Prepare
    const dropVersionType = (body: Record<string, unknown>) => {
      delete (body['dest'] as Record<string, unknown>)['version_type'];
    };

    // Act
    const { index, tableName, live } = await launchWith('rails-hdr-vt', dropVersionType);

    // Assess
    expect([live.status, live.error]).toEqual(['FAILED', 'HeaderCheckFailed']);
    expect(live.cause).toContain('is not what the dry run approved');
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'HeaderCheckFailed' });
    await expectCancelledEarly(live.taskId, bigShape.missing);
    expect(await countOf(defaultTarget().url, index)).toBeLessThan(bigShape.missing);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
  });

  it('a launch into the approved index with another batch size is cancelled: only the request hash tells them apart', async () => {
    // Prepare
    const otherBatchSize = (body: Record<string, unknown>) => {
      (body['source'] as { size: number }).size = 50;
    };

    // Act
    const { index, tableName, live } = await launchWith('rails-hdr-size', otherBatchSize);

    // Assess
    expect([live.status, live.error]).toEqual(['FAILED', 'HeaderCheckFailed']);
    expect(live.cause).toContain('hashes to');
    expect(live.cause).not.toContain('writes into');
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'HeaderCheckFailed' });
    await expectCancelledEarly(live.taskId, bigShape.missing);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
  });
});

describe('foreign reindex tasks writing into the target', () => {
  /** Ids whose target copy equals the source: a foreign external-version reindex of them writes nothing. */
  const equalIds = (docs: ReturnType<typeof seedDocs>) => docs.filter((d) => d.kind === 'equal').slice(0, 5).map((d) => d.id);

  it('a foreign reindex already running into the target refuses the live run at pre-flight: ForeignReindexRunning, nothing launched', async () => {
    // Prepare
    const { index, docs, tableName } = await seeded('rails-foreign-pre');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const foreign = await startForeignReindex({ sourceIndex: index, dest: index, ids: equalIds(docs) });
    startedTasks.push(foreign);
    clusters.target.resetLog();

    // Act
    const live = await runLocal({ ...options, input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error]).toEqual(['FAILED', 'ForeignReindexRunning']);
    expect(live.cause).toContain(foreign);
    expect(live.taskId).toBeUndefined();
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
    // Refused, not cancelled: the pipeline does not stop someone else's task before it owns the target.
    const stillThere = await rest<{ completed: boolean }>(defaultTarget().url, 'GET', `/_tasks/${foreign}`);
    expect(stillThere.body.completed).toBe(false);
  });

  it('a foreign reindex started mid-run is cancelled, recorded and alarmed on; the run still succeeds with exact counters', async () => {
    // Prepare
    const { index, docs, tableName } = await seeded('rails-foreign-mid');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const metrics = collectingMetrics();
    let foreign: string | undefined;
    const beforeState = async (key: string) => {
      if (key === 'PollTaskFunctionArn' && foreign === undefined) {
        foreign = await startForeignReindex({ sourceIndex: index, dest: index, ids: equalIds(docs) });
        startedTasks.push(foreign);
        await parkedAfterFirstBatch(foreign);
      }
    };

    // Act
    const live = await runLocal({ ...options, metrics, beforeState, input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const expected = expectedCounters(shape);
    expect(live.record?.counters).toMatchObject({ ...expected, deleted: 0, noops: 0, failures: 0 });
    expect(foreign).toBeDefined();
    expect(live.record?.foreignTasks?.map((t) => t['taskId'])).toEqual([foreign]);
    expect(live.record?.foreignTasks?.[0]).toMatchObject({ opaqueId: 'someone-else/pasted-from-the-seed' });
    expect(metrics.emitted).toContainEqual({ targetIndex: index, name: 'ForeignReindexCancelled', value: 1 });
    const done = await finishedTask(foreign!);
    expect(done.task.cancelled, JSON.stringify(done)).toBe(true);
    expect(done.response?.canceled, JSON.stringify(done)).toBe('by user request');
  });
});

describe('modes', () => {
  it('create-only creates exactly the missing documents and leaves every existing target document as it was', async () => {
    // Prepare
    const { index, docs, tableName } = await seeded('rails-create-only');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: servers.source.url, index }, target: { index }, mode: 'create-only', dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');

    // Act
    const live = await runLocal({ ...options, input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const existing = shape.targetOlder + shape.equal + shape.targetNewer;
    expect(live.record?.counters).toMatchObject({
      total: expectedCounters(shape).total,
      created: shape.missing,
      updated: 0,
      versionConflicts: existing,
      deleted: 0,
      noops: 0,
      failures: 0,
    });
    const older = docs.filter((d) => d.kind === 'targetOlder');
    const { body } = await clientFor(defaultTarget().url).mget({ index, body: { ids: older.map((d) => d.id) } });
    const kept = (body as { docs: Array<{ _version: number; _source: { writer: string } }> }).docs;
    expect(kept.map((d) => [d._version, d._source.writer])).toEqual(older.map((d) => [targetCopy(d)!.version, 'dual-write (older)']));
  });

  it('overwrite on an empty target creates every source document', async () => {
    // Prepare
    const emptyTarget: WorkedExampleShape = { missing: 200, targetOlder: 0, equal: 0, targetNewer: 0 };
    const { index, tableName } = await seeded('rails-overwrite', emptyTarget);
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const base = { source: { url: servers.source.url, index }, target: { index }, mode: 'overwrite', dateField: 'timestamp', batchSize: 100 };
    const dry = await runLocal({ ...options, input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');

    // Act
    const live = await runLocal({ ...options, input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.counters).toMatchObject({ total: 200, created: 200, updated: 0, versionConflicts: 0, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
    expect(await countOf(defaultTarget().url, index)).toBe(200);
  });
});
