import { afterAll, describe, expect, it } from 'vitest';
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
    const scrollStart = clusters.source.requests().find((r) => r.method === 'POST' && r.path.startsWith(`/${index}/_search?`) && r.path.includes('scroll='));
    expect(new URL(scrollStart!.path, 'http://source').searchParams.get('size')).toBe('10000');
  });
});
