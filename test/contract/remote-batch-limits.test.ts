/**
 * The two ceilings on a remote reindex's batch size (`source.size`), as the servers enforce them:
 * - the target buffers each scroll response of the remote source in memory up to 100 MiB (the low-level
 *   REST client's HeapBufferedResponseConsumerFactory.DEFAULT_BUFFER_LIMIT, 100 * 1024 * 1024); a larger
 *   batch fails the task: "Remote responded with a chunk that was too large. Use a smaller batch size.";
 * - the target rejects (429) the bulk of a batch above its indexing-pressure limit
 *   (`indexing_pressure.memory.limit`, 10% of the heap: 51.2 MiB on these 512 MiB nodes);
 * - the source refuses a scroll batch above its index.max_result_window (10,000 by default).
 * The 100 MiB case needs a batch of more than 100 MiB of source: a node of its own (1 GiB heap) holds
 * 110 documents of 1 MiB each; each supported OpenSearch version reindexes from it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REMOTE_RESPONSE_BUFFER_BYTES, SCROLL_BATCH_CEILING } from '../../lambdas/shared/planning/batch-size';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { localServers, uniqueIndex } from '../support/servers';
import { remoteHostOf, rest, seedIndex, type ReindexResponse } from '../support/tasks-rest';

const servers = localServers();
const MIB = 1024 * 1024;
const BIG_DOCS = 110;
let bigSource: LocalCluster;
const bigIndex = uniqueIndex('batch-bytes-src');

beforeAll(async () => {
  bigSource = await startLocalCluster({ distribution: 'elasticsearch', heap: '1g', log: () => {} });
  await seedIndex(bigSource.url, bigIndex, []);
  // In bulks of 10 MiB: the source's http.max_content_length is 100 MiB.
  for (let start = 0; start < BIG_DOCS; start += 10) {
    const lines = Array.from({ length: 10 }, (_, i) => [JSON.stringify({ index: { _id: String(start + i) } }), JSON.stringify({ n: start + i, body: 'x'.repeat(MIB) })]).flat();
    const bulk = await rest<{ errors: boolean }>(bigSource.url, 'POST', `/${bigIndex}/_bulk`, `${lines.join('\n')}\n`);
    expect(bulk.status).toBe(200);
    expect(bulk.body.errors).toBe(false);
  }
  await rest(bigSource.url, 'POST', `/${bigIndex}/_refresh`);
}, 180_000);

afterAll(async () => {
  await bigSource?.stop();
});

describe.each(servers.targets.map((t) => [t.version, t.url] as const))('OpenSearch %s reindexing from a remote Elasticsearch 7.10.2', (_version, targetUrl) => {
  it(`fails a batch whose scroll response exceeds ${REMOTE_RESPONSE_BUFFER_BYTES / MIB} MiB, rejects one over its indexing pressure, and takes the same documents in batches under both`, async () => {
    const remote = { host: remoteHostOf(bigSource.url).host };

    const tooBig = await rest<ReindexResponse & { error?: { reason?: string; caused_by?: { reason?: string } } }>(targetUrl, 'POST', '/_reindex?refresh=true', {
      source: { remote, index: bigIndex, size: BIG_DOCS },
      dest: { index: uniqueIndex('batch-bytes-big'), version_type: 'external' },
      conflicts: 'proceed',
    });
    expect(BIG_DOCS * MIB).toBeGreaterThan(REMOTE_RESPONSE_BUFFER_BYTES);
    expect(JSON.stringify(tooBig.body)).toContain('Remote responded with a chunk that was too large. Use a smaller batch size.');
    expect(JSON.stringify(tooBig.body)).toContain(`[${REMOTE_RESPONSE_BUFFER_BYTES}]`);

    // Under the buffer, a batch must also pass the target's indexing pressure: a bulk of 60 MiB on a
    // node of 512 MiB heap (limit 10% of it) is rejected, 429, before anything is written.
    const { body: stats } = await rest<{ nodes: Record<string, { indexing_pressure: { memory: { limit_in_bytes: number } } }> }>(targetUrl, 'GET', '/_nodes/stats/indexing_pressure');
    const limit = Object.values(stats.nodes)[0]!.indexing_pressure.memory.limit_in_bytes;
    expect(limit).toBe(Math.floor(0.1 * 512 * MIB));
    const overPressure = await rest(targetUrl, 'POST', '/_reindex?refresh=true', {
      source: { remote, index: bigIndex, size: 60 },
      dest: { index: uniqueIndex('batch-bytes-pressure'), version_type: 'external' },
      conflicts: 'proceed',
    });
    expect(overPressure.status).toBe(429);
    expect(JSON.stringify(overPressure.body)).toMatch(new RegExp(`rejected_execution_exception.*coordinating_operation_bytes=\\d+, max_coordinating_and_primary_bytes=${limit}`));

    const fits = await rest<ReindexResponse>(targetUrl, 'POST', '/_reindex?refresh=true', {
      source: { remote, index: bigIndex, size: 40 },
      dest: { index: uniqueIndex('batch-bytes-fits'), version_type: 'external' },
      conflicts: 'proceed',
    });
    expect(fits.status, JSON.stringify(fits.body).slice(0, 800)).toBe(200);
    expect(fits.body).toMatchObject({ total: BIG_DOCS, created: BIG_DOCS, batches: 3, failures: [] });
  });

  it(`is refused a scroll batch above the source's index.max_result_window (${SCROLL_BATCH_CEILING.toLocaleString('en-US')})`, async () => {
    const index = uniqueIndex('batch-window-src');
    await seedIndex(servers.source.url, index, [{ id: '1', source: { n: 1 } }]);
    const remote = { host: remoteHostOf(servers.source.url).host };
    const body = (size: number) => ({ source: { remote, index, size }, dest: { index: uniqueIndex('batch-window-dst'), version_type: 'external' }, conflicts: 'proceed' });

    const over = await rest(targetUrl, 'POST', '/_reindex?refresh=true', body(SCROLL_BATCH_CEILING + 1));
    expect(JSON.stringify(over.body)).toContain(`Batch size is too large, size must be less than or equal to: [${SCROLL_BATCH_CEILING}]`);
    const at = await rest<ReindexResponse>(targetUrl, 'POST', '/_reindex?refresh=true', body(SCROLL_BATCH_CEILING));
    expect(at.body).toMatchObject({ total: 1, created: 1, failures: [] });
  });
});
