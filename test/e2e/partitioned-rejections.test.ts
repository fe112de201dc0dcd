/**
 * Partitioned runs into a target node whose write thread pool rejects bulks (thread_pool.write.size 1,
 * queue_size 1; test/contract/write-rejections.test.ts pins the behaviour): a real node, real rejections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { runLocal } from '../../local/pipeline';
import { adjustmentLines, summarise } from '../../local/receipts';
import { seedWorkedExample, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';
import { fileLedgerTable } from '../support/e2e-harness';

let rejecting: LocalCluster;

beforeAll(async () => {
  rejecting = await startLocalCluster({
    distribution: 'opensearch',
    settings: { 'thread_pool.write.queue_size': 1, 'thread_pool.write.size': 1 },
    log: () => {},
  });
});

afterAll(async () => {
  await rejecting?.stop();
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
    const concurrency = live.record?.concurrency as { current: number; changes: Array<{ from: number; to: number; reason: string }> };
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
    const throttle = live.record?.throttle as { changes: Array<{ taskId: string; partitionId: string | null; from: number | null; to: number; reason: string }> };
    // One change: the next is only considered a minute later (the run is over by then).
    expect(throttle.changes).toEqual([
      expect.objectContaining({ taskId: live.record?.taskId, partitionId: null, from: 2_000, to: 1_000, reason: expect.stringMatching(/retries\.bulk grew from 0 to \d+/) }),
    ]);
    const finished = await rest<{ task: { status: { requests_per_second: number } } }>(rejecting.url, 'GET', `/_tasks/${String(live.record?.taskId)}`);
    expect(finished.body.task.status.requests_per_second).toBe(1_000);
    expect(warnings.some((w) => w.message === 'the target rejects writes: rethrottled the reindex task' && w.fields.to === 1_000)).toBe(true);
    expect(adjustmentLines(summarise(live.record, { runId: `${index}-live`, status: 'SUCCEEDED', error: null, cause: null }))).toEqual([
      'rethrottled once because the target rejected writes',
      expect.stringMatching(new RegExp(`^ {2}\\S+Z {2}task ${String(live.record?.taskId)} {2}2,000 docs/s -> 1,000 docs/s {2}task \\S+: retries\\.bulk grew`)),
    ]);
  });
});
