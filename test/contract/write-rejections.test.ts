/**
 * How target write rejections (HTTP 429; OpenSearch calls them rejected_execution_exception) show up, on a real OpenSearch node
 * (each supported version in turn) started with a one-thread write pool and a write queue of one.
 * A bulk whose documents span many shards becomes one shard-level request per shard, all submitted to the write pool
 * at once: one runs, one waits, the rest are rejected. The source is the shared Elasticsearch 7.10.2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { SERVERS } from '../../local/clusters/distributions';
import { localServers, uniqueIndex } from '../support/servers';
import {
  numberedDocs,
  remoteHostOf,
  rest,
  seedIndex,
  type BulkAnswer,
  type ReindexResponse,
} from '../support/tasks-rest';

const servers = localServers();
const source = remoteHostOf(servers.source.url);
const SOURCE_DOCS = 1000;
const SHARDS = 10;
const sourceIndex = uniqueIndex('rejections-src');

interface ThreadPoolInfo {
  nodes: Record<string, { thread_pool: Record<string, { type: string; size?: number; queue_size: number }> }>;
}
interface ThreadPoolStats {
  nodes: Record<string, { thread_pool: Record<string, { rejected: number; completed: number }> }>;
}

beforeAll(async () => {
  await seedIndex(servers.source.url, sourceIndex, numberedDocs(SOURCE_DOCS));
});

// Every OpenSearch version, each on its own node (one after the other: the blocks run in sequence).
const versions = SERVERS.filter((s) => s.distribution === 'opensearch').map((s) => s.version);

describe.each(versions)('OpenSearch %s with thread_pool.write.size 1 and queue_size 1', (version) => {
  let node: LocalCluster;

  beforeAll(async () => {
    node = await startLocalCluster({
      distribution: 'opensearch',
      version,
      settings: { 'thread_pool.write.queue_size': 1, 'thread_pool.write.size': 1 },
      log: () => {},
    });
  });

  afterAll(async () => {
    await node?.stop();
  });

  async function writeRejections(): Promise<number> {
    const { body } = await rest<ThreadPoolStats>(node.url, 'GET', '/_nodes/stats/thread_pool');
    return Object.values(body.nodes).reduce((n, x) => n + (x.thread_pool.write?.rejected ?? 0), 0);
  }

  async function createTarget(prefix: string): Promise<string> {
    const index = uniqueIndex(prefix);
    // Mapped up front: a dynamic mapping update makes a shard bulk wait and resume on the write pool, and that resumption
    // can itself be rejected (seen: "rejected execution of org.opensearch.action.bulk.TransportShardBulkAction$2@...").
    await seedIndex(node.url, index, [], { number_of_shards: SHARDS }, { properties: { n: { type: 'long' } } });
    return index;
  }

  it('the node accepts both settings: the write pool is fixed, one thread, queue of one', async () => {
    // Act
    const { status, body } = await rest<ThreadPoolInfo>(node.url, 'GET', '/_nodes/thread_pool');
    // Assess
    expect(status).toBe(200);
    const pools = Object.values(body.nodes).map((n) => n.thread_pool.write);
    expect(pools).toEqual([{ type: 'fixed', size: 1, queue_size: 1 }]);
  });

  it('a plain _bulk across many shards answers 200 with errors: true and per-item 429 rejected_execution_exception (not es_rejected_…)', async () => {
    // Prepare
    const index = await createTarget('rejections-bulk');
    const rejectedBefore = await writeRejections();
    const lines = numberedDocs(SOURCE_DOCS).flatMap((d) => [JSON.stringify({ index: { _id: d.id } }), JSON.stringify(d.source)]);
    // Act
    const answer = await rest<BulkAnswer>(node.url, 'POST', `/${index}/_bulk`, `${lines.join('\n')}\n`);
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBe(true);
    const items = answer.body.items.map((i) => i.index!);
    const rejected = items.filter((i) => i.status === 429);
    const created = items.filter((i) => i.status === 201);
    expect(rejected.length).toBeGreaterThan(0);
    expect(created.length).toBeGreaterThan(0);
    expect(rejected.length + created.length).toBe(SOURCE_DOCS);
    // Elasticsearch names this es_rejected_execution_exception; OpenSearch (2.19.1 and 3.5.0) drops the prefix.
    // The rejected runnable is the shard-level write (TransportWriteAction$1) or, rarely, a shard bulk resuming
    // (TransportShardBulkAction$2); the executor's counters in the text vary with timing.
    for (const item of rejected) {
      expect(item.error?.type).toBe('rejected_execution_exception');
      expect(item.error?.reason).toMatch(
        new RegExp(
          '^rejected execution of org\\.opensearch\\.action\\.(support\\.replication\\.TransportWriteAction\\$1|bulk\\.TransportShardBulkAction\\$2)@[0-9a-f]+ ' +
            'on OpenSearchThreadPoolExecutor\\[name = Node 1/write, queue capacity = 1, ' +
            'org\\.opensearch\\.common\\.util\\.concurrent\\.OpenSearchThreadPoolExecutor@[0-9a-f]+\\[Running, ' +
            'pool size = 1, active threads = [01], queued tasks = [01], completed tasks = \\d+\\]\\]$',
        ),
      );
    }
    expect(await writeRejections()).toBeGreaterThan(rejectedBefore);
  });

  it('a remote reindex with one large batch retries the rejected part: retries.bulk > 0, exact counters, no failures', async () => {
    // Prepare
    const dest = await createTarget('rejections-reindex');
    const rejectedBefore = await writeRejections();
    // Act
    const answer = await rest<ReindexResponse>(node.url, 'POST', '/_reindex?refresh=true', {
      source: { remote: { host: source.host }, index: sourceIndex, size: SOURCE_DOCS },
      dest: { index: dest },
    });
    const count = await rest<{ count: number }>(node.url, 'GET', `/${dest}/_count`);
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      total: SOURCE_DOCS,
      created: SOURCE_DOCS,
      updated: 0,
      version_conflicts: 0,
      batches: 1,
      failures: [],
    });
    // The bulk retry (exponential backoff from 500 ms, up to 11 times) resends only the rejected items.
    expect(answer.body.retries.bulk).toBeGreaterThan(0);
    expect(answer.body.retries.search).toBe(0);
    expect(count.body.count).toBe(SOURCE_DOCS);
    expect(await writeRejections()).toBeGreaterThan(rejectedBefore);
  });
});
