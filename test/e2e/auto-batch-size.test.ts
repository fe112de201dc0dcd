import { afterAll, describe, expect, it } from 'vitest';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ledgerKeys } from '../../lambdas/shared/ledger/ledger';
import { requestFingerprint } from '../../lambdas/shared/planning/request-fingerprint';
import { runLocal } from '../../local/pipeline';
import { expectedCounters, type WorkedExampleShape } from '../../local/seed/worked-example';
import { ledgerOf, proxiedClusters, runOptions, seededIndex, type ProxiedClusters } from '../support/e2e-harness';

/**
 * `batchSize: "auto"` end to end: the dry run measures the source documents and shows the size it picked,
 * the approval holds the request with that size, and the live run's remote reindex asks the source for
 * batches of exactly that size.
 */

const shape: WorkedExampleShape = { missing: 150, targetOlder: 10, equal: 30, targetNewer: 10 };
let clusters: ProxiedClusters | undefined;

afterAll(async () => {
  await clusters?.stop();
});

describe('batchSize "auto"', () => {
  it('is resolved by the dry run from sampled documents, shown in its header, approved, and sent by the live run', async () => {
    // Prepare: the worked example's small documents (a few hundred bytes): the scroll ceiling bounds the size.
    const { index, tableName } = await seededIndex('auto-batch', shape);
    clusters = await proxiedClusters();
    const base = { source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 'auto' };

    // Act
    const dry = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-dry` } });
    clusters.source.resetLog();
    const live = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess: the dry run's figure and why
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.record?.batch).toMatchObject({ batchSize: 10_000, sampled: 100, boundBy: 'scroll-ceiling' });
    expect(dry.record!.batch!.meanBytes).toBeGreaterThan(50);
    const header = dry.record!.header!.join('\n');
    expect(header).toMatch(/batch size:\s+10,000 \(auto\)\n\s+from 100 sampled source documents: _source mean \d+ B, largest \d+ B; bound by the scroll ceiling/);
    // ... approved as a concrete request, under the fingerprint the header showed
    const ledger = await ledgerOf(tableName);
    const config = dry.record!.config;
    expect(config.canonicalRequest.body.source.size).toBe('auto');
    const lookupKey = requestFingerprint(config, config.canonicalRequest, config.targetEndpoint!).fingerprint;
    const lookup = await ledger.getApproval(lookupKey, new Date(), 24);
    expect(lookup.found).toBe(true);
    if (!lookup.found) return;
    expect(lookup.approval.canonicalRequest.body.source.size).toBe(10_000);
    expect(lookup.approval.planFingerprint).toBe(dry.record!.fingerprint);
    expect(header).toContain(`fingerprint:          ${dry.record!.fingerprint}`);
    // ... and the live run sent it: the remote reindex's first search asks for batches of 10,000.
    expect(live.status).toBe('SUCCEEDED');
    expect(live.record?.counters).toMatchObject({ total: expectedCounters(shape).total, failures: 0 });
    expect(live.record?.header?.join('\n')).toMatch(/batch size:\s+10,000 \(auto\)/);
    const reindexScrolls = clusters.source
      .requests()
      .filter((r) => r.method === 'POST' && r.path.startsWith(`/${index}/_search?`) && new URL(r.path, 'http://source').searchParams.get('sort') === '_doc:asc');
    expect(reindexScrolls).toHaveLength(1);
    expect(new URL(reindexScrolls[0]!.path, 'http://source').searchParams.get('size')).toBe('10000');
  });

  it('resolves once for a partitioned run: every partition\'s task sends the approved size, and the live run passes rail 1 on the plan and size', async () => {
    // Prepare
    const { index, tableName } = await seededIndex('auto-batch-parts', shape);
    clusters ??= await proxiedClusters();
    const base = { source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 'auto', partitions: 2, maxConcurrency: 2 };

    // Act
    const dry = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-dry` } });
    clusters.source.resetLog();
    const live = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-live`, dryRun: false, approvedFingerprint: dry.record!.fingerprint } });

    // Assess: the two tasks concurrently share the target's indexing pressure, and both asked for the approved size.
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.record?.batch).toMatchObject({ batchSize: 10_000, concurrentTasks: 2 });
    expect(live.status, `${live.error}: ${live.cause}`).toBe('SUCCEEDED');
    expect(live.record?.counters).toMatchObject({ total: expectedCounters(shape).total, failures: 0 });
    // The remote reindex opens its scroll sorted by _doc with versions (the handlers' own scrolls do not).
    const params = (path: string) => new URL(path, 'http://source').searchParams;
    const reindexScrolls = clusters.source.requests().filter((r) => r.method === 'POST' && r.path.startsWith(`/${index}/_search?`) && params(r.path).get('sort') === '_doc:asc');
    expect(reindexScrolls).toHaveLength(live.record!.partitions!.length);
    expect(reindexScrolls.length).toBeGreaterThanOrEqual(2);
    for (const scroll of reindexScrolls) expect(params(scroll.path).get('size')).toBe('10000');
  });

  it('refuses a live run without a resolved size, and one whose approved size was changed after the dry run: DryRunRequired, nothing launched', async () => {
    // Prepare
    const { index, tableName } = await seededIndex('auto-batch-rail', shape);
    clusters ??= await proxiedClusters();
    const base = { source: { url: clusters.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 'auto' };

    // Act 1: a live run before any dry run
    const early = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-early`, dryRun: false } });

    // Assess 1
    expect([early.status, early.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(early.record?.header?.join('\n')).toContain('batch size:           auto: no dry run has resolved it');

    // Act 2: a dry run, then its approval's request altered to another size, then the live run
    const dry = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const config = dry.record!.config;
    const key = ledgerKeys.approval(requestFingerprint(config, config.canonicalRequest, config.targetEndpoint!).fingerprint);
    const ledger = await ledgerOf(tableName);
    await ledger.client.send(
      new UpdateCommand({ TableName: tableName, Key: key, UpdateExpression: 'SET canonicalRequest.body.#source.#size = :size', ExpressionAttributeNames: { '#source': 'source', '#size': 'size' }, ExpressionAttributeValues: { ':size': 5 } }),
    );
    clusters.target.resetLog();
    const live = await runLocal({ ...runOptions(tableName), input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess 2: rail 1 sees that the approved request no longer matches what the dry run showed.
    expect([live.status, live.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(live.cause).toContain("the approved request's batch size (5) is not the one its dry run resolved (10000)");
    expect(clusters.target.writeRequests().filter((r) => r.path.startsWith('/_reindex'))).toEqual([]);
  });
});
