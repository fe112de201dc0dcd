import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reindexTasksInto } from '../../lambdas/shared/cluster-ops';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { runLocal } from '../../local/pipeline';
import { expectedCounters, seedWorkedExample, targetCopy, type SeedDoc, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { localServers, uniqueIndex } from '../support/servers';
import { fileLedgerTable } from '../support/e2e-harness';

/** A partition lost to a real node restart is rerun alone, and the target ends exact. */

const servers = localServers();
let node: LocalCluster;

beforeAll(async () => {
  node = await startLocalCluster({ distribution: 'opensearch', log: () => {} });
});
afterAll(async () => {
  await node?.stop();
});

function expectedOnTarget(doc: SeedDoc): { version: number; writer: string } {
  return doc.kind === 'missing' || doc.kind === 'targetOlder' ? { version: doc.sourceVersion, writer: 'source' } : targetCopy(doc)!;
}

describe('a partitioned run on a target node that is killed and restarted', () => {
  it('reruns the lost partition alone (the finished one is not touched) and leaves every document at the right version', async () => {
    // Prepare: 3 ranges + the no-date partition, one at a time, throttled so the second is mid-way at the crash.
    const shape: WorkedExampleShape = { missing: 1_800, targetOlder: 60, equal: 100, targetNewer: 40 };
    const index = uniqueIndex('part-restart');
    const tableName = fileLedgerTable;
    const target = clientFor(node.url);
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
    const options = { targetUrl: node.url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, slotWaitMs: 100 };
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
        if (key === 'LaunchPartitionFunctionArn') launches += 1;
        if (key === 'PollPartitionFunctionArn' && launches >= 2 && !crashed && (await running())) {
          crashed = true;
          await node.restart();
        }
      },
    });

    // Assess
    expect(crashed).toBe(true);
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const parts = live.record?.partitions as Array<{ id: string; status: string; attempts: number; errors?: Array<{ error: string }> }>;
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
