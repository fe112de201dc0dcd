/**
 * Full verification against the real servers: what one range costs. Each range is read a page at a time
 * (a scroll in `_doc` order, ids and versions only) and each page looked up by id on the other cluster,
 * so requests grow with the pages, never per document, and memory holds a page, never the range. The
 * scroll is cleared however the pass ends, and no request sorts or aggregates on `_id`.
 */
import type { Client } from '@opensearch-project/opensearch';
import { describe, expect, it } from 'vitest';
import { verifyRange } from '../../lambdas/shared/checks/verify-ranges';
import { scaledShape, seedWorkedExample } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';

const servers = localServers();
const PAGE = 500;

/** A client that keeps the method, path and body of every request it sends. */
function recordingClient(url: string): { client: Client; requests: Array<{ method: string; path: string; body: string }> } {
  const client = clientFor(url);
  const requests: Array<{ method: string; path: string; body: string }> = [];
  client.on('request', (_err, event) => {
    const params = event.meta.request.params;
    requests.push({ method: params.method, path: params.path, body: typeof params.body === 'string' ? params.body : JSON.stringify(params.body ?? '') });
  });
  return { client, requests };
}

async function pairOf(docs: number): Promise<string> {
  const index = uniqueIndex('verify-cost');
  // Every document on both clusters at the same version: the target a full copy.
  await seedWorkedExample({
    source: clientFor(servers.source.url),
    target: clientFor(defaultTarget().url),
    index,
    shape: { missing: 0, targetOlder: 0, equal: docs, targetNewer: 0 },
  });
  return index;
}

describe('full verification of one range on Elasticsearch 7.10.2 and OpenSearch', () => {
  it.each([2_000, 8_000])('%i documents: 2 requests per page on each cluster plus 3, a page of ids in memory, its scroll cleared', async (docs) => {
    const index = await pairOf(docs);
    const source = recordingClient(servers.source.url);
    const target = recordingClient(defaultTarget().url);

    const outcome = await verifyRange(
      { id: 'r0001', kind: 'all' },
      { source: source.client, sourceIndex: index, target: target.client, targetIndex: index },
      { mode: 'merge', dateField: null, runQuery: null, pageSize: PAGE, rangeDocs: 1_000_000, write: async () => undefined },
    );

    expect(outcome).toMatchObject({ kind: 'verified', counts: { equal: docs, regression: 0, missing: 0, targetOnly: 0 } });
    const pages = Math.ceil(docs / PAGE);
    // Each cluster: one count, its own pass (opening search, a scroll per further page, the empty last
    // scroll, the clear) and one lookup per page of the other cluster's pass.
    for (const side of [source, target]) {
      expect(side.requests).toHaveLength(2 * pages + 3);
      expect(side.requests.filter((r) => r.method === 'DELETE' && r.path.startsWith('/_search/scroll'))).toHaveLength(1);
      expect(side.requests.some((r) => /"sort":\[(?!"_doc")|"aggs"|"aggregations"|"_id":\{"order"/.test(r.body))).toBe(false);
    }
    expect(outcome.kind === 'verified' && outcome.peakIds).toBeLessThanOrEqual(PAGE);
  });

  it('slices a range by _id on each cluster: every document is read exactly once, whatever the two clusters\' shard counts', async () => {
    const index = uniqueIndex('verify-slices');
    const docs = scaledShape(3_000).missing + scaledShape(3_000).targetOlder + scaledShape(3_000).equal + scaledShape(3_000).targetNewer;
    await seedWorkedExample({ source: clientFor(servers.source.url), target: clientFor(defaultTarget().url), index, shape: scaledShape(3_000) });
    // The source copied into three shards, the target in one: slices by _id need not match across clusters.
    const threeShards = `${index}-3`;
    expect((await rest(servers.source.url, 'PUT', `/${threeShards}`, { settings: { number_of_shards: 3, number_of_replicas: 0 } })).status).toBe(200);
    const copy = await rest<{ created: number }>(servers.source.url, 'POST', '/_reindex?refresh=true', {
      source: { index },
      dest: { index: threeShards, version_type: 'external' },
    });
    expect(copy.body.created).toBe(docs);
    const source = clientFor(servers.source.url);
    const target = clientFor(defaultTarget().url);
    let sum = { equal: 0, targetNewer: 0, regression: 0, missing: 0, targetOnly: 0 };
    for (let id = 0; id < 4; id += 1) {
      const outcome = await verifyRange(
        { id: `r0001s${id}`, kind: 'all', slice: { id, max: 4 } },
        { source, sourceIndex: threeShards, target, targetIndex: index },
        { mode: 'merge', dateField: null, runQuery: null, pageSize: PAGE, rangeDocs: 1_000, write: async () => undefined, confirm: false },
      );
      if (outcome.kind !== 'verified') throw new Error('a slice is never split');
      for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum = { ...sum, [k]: sum[k] + outcome.counts[k] };
    }
    const shape = scaledShape(3_000);
    expect(sum).toEqual({ equal: shape.equal, targetNewer: shape.targetNewer, regression: shape.targetOlder, missing: shape.missing, targetOnly: 0 });
    expect(sum.equal + sum.targetNewer + sum.regression + sum.missing).toBe(docs);
  });
});
