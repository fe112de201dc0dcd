/**
 * Contract: delete tombstones and `index.gc_deletes`, on every OpenSearch target version. A deleted
 * document's version is remembered for `index.gc_deletes` (60 s unless the index sets it); after that,
 * an external-version write of an older copy creates the document again. The setting is dynamic, and
 * the tombstones it keeps are counted in the shard's version map memory.
 *
 * Mirrors the servers' YAML REST tests where they exist:
 * - rest-api-spec/src/main/resources/rest-api-spec/test/index/35_external_version.yml
 * - rest-api-spec/src/main/resources/rest-api-spec/test/indices.put_settings/all_path_options.yml
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';

const servers = localServers();

async function createIndex(url: string, index: string, settings: Record<string, unknown>): Promise<void> {
  const answer = await rest(url, 'PUT', `/${index}`, { settings: { number_of_shards: 1, number_of_replicas: 0, ...settings } });
  expect(answer.status).toBe(200);
}

async function write(url: string, index: string, id: string, version: number): Promise<{ status: number; body: { result?: string; error?: { type: string } } }> {
  return rest(url, 'PUT', `/${index}/_doc/${id}?version=${version}&version_type=external`, { n: version });
}

describe.each(servers.targets.map((t) => [`OpenSearch ${t.version}`, t.url] as const))('%s: tombstones', (_, url) => {
  it('reports index.gc_deletes 60s as the default of an index that sets none', async () => {
    const index = uniqueIndex('gc-default');
    await createIndex(url, index, {});

    const answer = await rest<Record<string, { settings: Record<string, string>; defaults: Record<string, string> }>>(
      url,
      'GET',
      `/${index}/_settings/index.gc_deletes?flat_settings=true&include_defaults=true`,
    );

    expect(answer.body[index]).toEqual({ settings: {}, defaults: { 'index.gc_deletes': '60s' } });
  });

  it('an older external-version copy of a deleted document is created again once its tombstone is past gc_deletes, and refused while it is kept', async () => {
    // Prepare: the same delete on an index that keeps tombstones 1 s and on one raised to 24h after creation
    const short = uniqueIndex('gc-short');
    const raised = uniqueIndex('gc-raised');
    for (const index of [short, raised]) {
      await createIndex(url, index, { 'index.gc_deletes': '1s' });
      expect((await write(url, index, 'd1', 5)).status).toBe(201);
    }
    expect((await rest(url, 'PUT', `/${raised}/_settings`, { index: { gc_deletes: '24h' } })).status).toBe(200);
    for (const index of [short, raised]) expect((await rest(url, 'DELETE', `/${index}/_doc/d1?version=6&version_type=external`)).status).toBe(200);
    await sleep(2_000);
    for (const index of [short, raised]) await rest(url, 'POST', `/${index}/_refresh`);

    // Act: the copy a reindex would bring from the source's snapshot
    const [onShort, onRaised] = [await write(url, short, 'd1', 5), await write(url, raised, 'd1', 5)];

    // Assess
    expect([onShort.status, onShort.body.result]).toEqual([201, 'created']);
    expect([onRaised.status, onRaised.body.error?.type]).toEqual([409, 'version_conflict_engine_exception']);
  });

  it('PUT index.gc_deletes null gives the index the default back', async () => {
    const index = uniqueIndex('gc-null');
    await createIndex(url, index, { 'index.gc_deletes': '24h' });

    expect((await rest(url, 'PUT', `/${index}/_settings`, { index: { gc_deletes: null } })).status).toBe(200);

    const answer = await rest<Record<string, { settings: Record<string, string> }>>(url, 'GET', `/${index}/_settings/index.gc_deletes?flat_settings=true`);
    // An index with no matching setting is left out of the answer.
    expect(answer.body).toEqual({});
  });

  it('kept tombstones take version map memory in proportion to the deletes (about 134 bytes each)', async () => {
    // Prepare
    const index = uniqueIndex('gc-heap');
    await createIndex(url, index, { 'index.gc_deletes': '24h', refresh_interval: '-1' });
    const ids = Array.from({ length: 5_000 }, (_, i) => `doc-${String(i).padStart(6, '0')}`);
    const lines = (op: 'index' | 'delete', version: number) =>
      `${ids.flatMap((id) => [JSON.stringify({ [op]: { _index: index, _id: id, version, version_type: 'external' } }), ...(op === 'index' ? ['{"n":1}'] : [])]).join('\n')}\n`;
    await rest(url, 'POST', '/_bulk', lines('index', 5));
    await rest(url, 'POST', `/${index}/_refresh`);
    const versionMap = async () =>
      (await rest<{ indices: Record<string, { total: { segments: { version_map_memory_in_bytes: number } } }> }>(url, 'GET', `/${index}/_stats/segments`)).body.indices[index]!.total
        .segments.version_map_memory_in_bytes;
    const before = await versionMap();

    // Act
    await rest(url, 'POST', '/_bulk', lines('delete', 6));
    await rest(url, 'POST', `/${index}/_refresh`);
    const perDelete = ((await versionMap()) - before) / ids.length;

    // Assess
    expect(perDelete).toBeGreaterThan(100);
    expect(perDelete).toBeLessThan(200);
  });
});
