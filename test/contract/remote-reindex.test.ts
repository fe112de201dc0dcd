/**
 * Contract: remote `_reindex` from the real Elasticsearch 7.10.2 node into each OpenSearch node, the
 * exact path the backfill takes. The headline: into a dual-written target, `dest.version_type:
 * external` + `conflicts: proceed` writes a source document only when its version is strictly greater,
 * counts the rest as version_conflicts and reports no failure; plain internal versioning overwrites
 * newer target documents and still reports `failures: []`.
 *
 * Mirrors the servers' own YAML REST tests (elastic/elasticsearch v7.10.2 and
 * opensearch-project/OpenSearch, modules/reindex/src/yamlRestTest/resources/rest-api-spec/test/reindex/):
 * - 90_remote.yml ("Basic reindex from remote", "... with query", "... with size", "... with max_docs")
 * - 20_validation.yml ("unallowlisted remote host fails")
 * - 40_versioning.yml (the same versioning rules, here across the remote boundary)
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@opensearch-project/opensearch';
import { clientFor } from '../support/client';
import { localServers, uniqueIndex } from '../support/servers';
import {
  countersOf,
  createIndex,
  getDoc,
  httpFailureOf,
  portOf,
  remoteHostOf,
  seed,
  type ReindexBody,
  type SeedDoc,
} from '../support/versioning-helpers';

const servers = localServers();
const es = clientFor(servers.source.url);
const remoteHost = remoteHostOf(servers.source.url);
const esPort = portOf(servers.source.url);

const targets = servers.targets.map((t) => ({ label: `OpenSearch ${t.version}`, ...t }));

/**
 * One backfill situation per id. Source: every doc at an external version. Target (dual-write):
 * missing, older, equal (different content) or newer (different content).
 */
const SOURCE: SeedDoc[] = [
  { id: 'missing-1', version: 3, source: { from: 'source', id: 'missing-1' } },
  { id: 'missing-2', version: 4, source: { from: 'source', id: 'missing-2' } },
  { id: 'older-1', version: 10, source: { from: 'source', id: 'older-1' } },
  { id: 'older-2', version: 11, source: { from: 'source', id: 'older-2' } },
  { id: 'equal-1', version: 7, source: { from: 'source', id: 'equal-1' } },
  { id: 'newer-1', version: 5, source: { from: 'source', id: 'newer-1' } },
  { id: 'newer-2', version: 6, source: { from: 'source', id: 'newer-2' } },
];
const TARGET: SeedDoc[] = [
  { id: 'older-1', version: 5, source: { from: 'target', id: 'older-1' } },
  { id: 'older-2', version: 2, source: { from: 'target', id: 'older-2' } },
  { id: 'equal-1', version: 7, source: { from: 'target', id: 'equal-1' } },
  { id: 'newer-1', version: 9, source: { from: 'target', id: 'newer-1' } },
  { id: 'newer-2', version: 12, source: { from: 'target', id: 'newer-2' } },
];

/** A source index on Elasticsearch holding SOURCE (created once, read by every test that needs it). */
let mixedSource: Promise<string> | undefined;
/** The target after a version-aware merge: source wins where it is newer, the target keeps equal and newer copies. */
const VERSION_AWARE_RESULT = {
  'missing-1': { version: 3, from: 'source' },
  'missing-2': { version: 4, from: 'source' },
  'older-1': { version: 10, from: 'source' },
  'older-2': { version: 11, from: 'source' },
  'equal-1': { version: 7, from: 'target' },
  'newer-1': { version: 9, from: 'target' },
  'newer-2': { version: 12, from: 'target' },
};

function mixedSourceIndex(): Promise<string> {
  mixedSource ??= (async () => {
    const index = uniqueIndex('contract-remote-src');
    await createIndex(es, index);
    await seed(es, index, SOURCE);
    return index;
  })();
  return mixedSource;
}

async function seededTarget(client: Client, prefix: string): Promise<string> {
  const index = uniqueIndex(prefix);
  await createIndex(client, index);
  await seed(client, index, TARGET);
  return index;
}

type DocState = { version: number; from: unknown } | 'absent';

async function stateOf(client: Client, index: string): Promise<Record<string, DocState>> {
  const out: Record<string, DocState> = {};
  for (const { id } of SOURCE) {
    const doc = await getDoc(client, index, id);
    out[id] = doc.found ? { version: doc._version ?? -1, from: doc._source?.from } : 'absent';
  }
  return out;
}

function asReindex(body: unknown): ReindexBody {
  return body as ReindexBody;
}

describe.each(targets)('$label: remote reindex from Elasticsearch 7.10.2', ({ url }) => {
  const target = clientFor(url);

  it('with version_type external and conflicts proceed, keeps every equal or newer target document and counts it as a version_conflict, with no failure', async () => {
    // Prepare
    const src = await mixedSourceIndex();
    const dest = await seededTarget(target, 'contract-remote-merge');

    // Act
    const { body, statusCode } = await target.reindex({
      refresh: true,
      body: {
        conflicts: 'proceed',
        source: { remote: { host: remoteHost }, index: src },
        dest: { index: dest, version_type: 'external' },
      },
    });

    // Assess: created = missing (2), updated = target older (2), version_conflicts = equal + newer (1 + 2).
    const res = asReindex(body);
    expect(statusCode).toBe(200);
    expect(countersOf(res)).toEqual({ total: 7, created: 2, updated: 2, deleted: 0, version_conflicts: 3, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(res.created + res.updated + res.deleted + res.noops + res.version_conflicts).toBe(res.total);
    expect(await stateOf(target, dest)).toEqual(VERSION_AWARE_RESULT);
  });

  it('with default internal versioning, silently overwrites newer target documents with older source copies and still reports failures: [] (the bug)', async () => {
    // Prepare
    const src = await mixedSourceIndex();
    const dest = await seededTarget(target, 'contract-remote-overwrite');

    // Act
    const { body } = await target.reindex({
      refresh: true,
      body: { source: { remote: { host: remoteHost }, index: src }, dest: { index: dest } },
    });

    // Assess: every existing document counts as "updated"; target versions just go up by one.
    const res = asReindex(body);
    expect(countersOf(res)).toEqual({ total: 7, created: 2, updated: 5, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(await stateOf(target, dest)).toEqual({
      'missing-1': { version: 1, from: 'source' },
      'missing-2': { version: 1, from: 'source' },
      'older-1': { version: 6, from: 'source' },
      'older-2': { version: 3, from: 'source' },
      'equal-1': { version: 8, from: 'source' },
      'newer-1': { version: 10, from: 'source' },
      'newer-2': { version: 13, from: 'source' },
    });
  });

  it('with version_type external and conflicts abort, answers 409 listing every equal or newer target document as a failure', async () => {
    // Prepare
    const src = await mixedSourceIndex();
    const dest = await seededTarget(target, 'contract-remote-abort');

    // Act
    const failure = await httpFailureOf<ReindexBody>(
      target.reindex({
        refresh: true,
        body: {
          conflicts: 'abort',
          source: { remote: { host: remoteHost }, index: src },
          dest: { index: dest, version_type: 'external' },
        },
      }),
    );

    // Assess: the one batch was written in full before the abort; the conflicts are failures now.
    expect(failure.status).toBe(409);
    expect(countersOf(failure.body)).toEqual({ total: 7, created: 2, updated: 2, deleted: 0, version_conflicts: 3, noops: 0, batches: 1 });
    const failures = [...failure.body.failures].sort((a, b) => a.id.localeCompare(b.id));
    expect(failures.map((f) => [f.index, f.id, f.status, f.cause.type, f.cause.reason])).toEqual([
      [dest, 'equal-1', 409, 'version_conflict_engine_exception', '[equal-1]: version conflict, current version [7] is higher or equal to the one provided [7]'],
      [dest, 'newer-1', 409, 'version_conflict_engine_exception', '[newer-1]: version conflict, current version [9] is higher or equal to the one provided [5]'],
      [dest, 'newer-2', 409, 'version_conflict_engine_exception', '[newer-2]: version conflict, current version [12] is higher or equal to the one provided [6]'],
    ]);
    expect(await stateOf(target, dest)).toEqual(VERSION_AWARE_RESULT);
  });

  it('with op_type create and conflicts proceed, creates only the missing documents and never touches an existing one', async () => {
    // Prepare
    const src = await mixedSourceIndex();
    const dest = await seededTarget(target, 'contract-remote-create');

    // Act
    const { body } = await target.reindex({
      refresh: true,
      body: {
        conflicts: 'proceed',
        source: { remote: { host: remoteHost }, index: src },
        dest: { index: dest, op_type: 'create' },
      },
    });

    // Assess
    const res = asReindex(body);
    expect(countersOf(res)).toEqual({ total: 7, created: 2, updated: 0, deleted: 0, version_conflicts: 5, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(await stateOf(target, dest)).toEqual({
      'missing-1': { version: 1, from: 'source' },
      'missing-2': { version: 1, from: 'source' },
      'older-1': { version: 5, from: 'target' },
      'older-2': { version: 2, from: 'target' },
      'equal-1': { version: 7, from: 'target' },
      'newer-1': { version: 9, from: 'target' },
      'newer-2': { version: 12, from: 'target' },
    });
  });

  describe('source.query, source.size and max_docs', () => {
    /** Five documents on 2026-05-01 .. 2026-05-05, one per day, external versions 1..5. */
    let dated: Promise<string> | undefined;
    function datedSource(): Promise<string> {
      dated ??= (async () => {
        const index = uniqueIndex('contract-remote-dated');
        await createIndex(es, index, { properties: { timestamp: { type: 'date' } } });
        await seed(
          es,
          index,
          [1, 2, 3, 4, 5].map((d) => ({ id: `day-${d}`, version: d, source: { timestamp: `2026-05-0${d}T12:00:00Z` } })),
        );
        return index;
      })();
      return dated;
    }

    it('copies only the documents the remote source.query selects (a [start, end) date range)', async () => {
      // Prepare
      const src = await datedSource();
      const dest = uniqueIndex('contract-remote-query'); // 90_remote.yml "Reindex from remote with query"

      // Act
      const { body } = await target.reindex({
        refresh: true,
        body: {
          conflicts: 'proceed',
          source: {
            remote: { host: remoteHost },
            index: src,
            query: { range: { timestamp: { gte: '2026-05-02T00:00:00Z', lt: '2026-05-04T00:00:00Z' } } },
          },
          dest: { index: dest, version_type: 'external' },
        },
      });

      // Assess
      const res = asReindex(body);
      expect(countersOf(res)).toEqual({ total: 2, created: 2, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
      const { body: search } = await target.search({ index: dest, body: { sort: [{ timestamp: 'asc' }] } });
      const hits = (search as unknown as { hits: { hits: Array<{ _id: string }> } }).hits.hits;
      expect(hits.map((h) => h._id)).toEqual(['day-2', 'day-3']);
      expect((await getDoc(target, dest, 'day-3'))._version).toBe(3);
    });

    it('fetches source.size documents per batch from the remote: 5 documents at size 2 are 3 batches', async () => {
      // Prepare
      const src = await datedSource();
      const dest = uniqueIndex('contract-remote-size');

      // Act
      const { body } = await target.reindex({
        refresh: true,
        body: {
          conflicts: 'proceed',
          source: { remote: { host: remoteHost }, index: src, size: 2 },
          dest: { index: dest, version_type: 'external' },
        },
      });

      // Assess
      const res = asReindex(body);
      expect(countersOf(res)).toEqual({ total: 5, created: 5, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 3 });
    });

    it('stops after max_docs documents, and total reports max_docs, not the source count', async () => {
      // Prepare
      const src = await datedSource();
      const dest = uniqueIndex('contract-remote-maxdocs'); // 90_remote.yml "Reindex from remote with max_docs"

      // Act
      const { body } = await target.reindex({
        refresh: true,
        body: {
          max_docs: 3,
          conflicts: 'proceed',
          source: { remote: { host: remoteHost }, index: src },
          dest: { index: dest, version_type: 'external' },
        },
      });

      // Assess
      const res = asReindex(body);
      expect(countersOf(res)).toEqual({ total: 3, created: 3, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
      const { body: count } = await target.count({ index: dest });
      expect((count as { count: number }).count).toBe(3);
    });

    it('treats a top-level size as max_docs (its old name), without a deprecation warning', async () => {
      // Prepare
      const src = await datedSource();
      const dest = uniqueIndex('contract-remote-toplevel-size'); // 90_remote.yml "Reindex from remote with size"

      // Act
      const res = await target.reindex({
        refresh: true,
        body: {
          size: 2,
          conflicts: 'proceed',
          source: { remote: { host: remoteHost }, index: src },
          dest: { index: dest, version_type: 'external' },
        },
      });

      // Assess
      expect(countersOf(asReindex(res.body))).toEqual({ total: 2, created: 2, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
      // Surprise: neither OpenSearch version sends a deprecation `Warning` header for it.
      expect(res.headers?.warning).toBeUndefined();
      expect(res.warnings).toBeNull();
    });
  });

  it.each([
    { slices: 2 as const, shown: '2' },
    // slices=auto is refused too; the reason shows its internal value, 0.
    { slices: 'auto' as const, shown: '0' },
  ])('refuses slices=$slices with a remote source: 400 action_request_validation_exception naming [$shown]', async ({ slices, shown }) => {
    // Prepare
    const src = await mixedSourceIndex();
    const dest = uniqueIndex('contract-remote-slices');

    // Act
    const failure = await httpFailureOf(
      target.reindex({
        slices,
        body: { source: { remote: { host: remoteHost }, index: src }, dest: { index: dest } },
      }),
    );

    // Assess
    expect(failure.status).toBe(400);
    expect(failure.body.error.type).toBe('action_request_validation_exception');
    expect(failure.body.error.reason).toBe(
      `Validation Failed: 1: reindex from remote sources doesn't support slices > 1 but was [${shown}];`,
    );
    expect((await target.indices.exists({ index: dest })).body).toBe(false);
  });

  it('refuses a host outside reindex.remote.allowlist with 400 before connecting', async () => {
    // 20_validation.yml "unallowlisted remote host fails".
    // Prepare: 127.0.0.2 is loopback too, but not in the allowlist (127.0.0.1:*, localhost:*).
    const src = await mixedSourceIndex();
    const dest = uniqueIndex('contract-remote-allowlist');

    // Act
    const failure = await httpFailureOf(
      target.reindex({
        body: { source: { remote: { host: `http://127.0.0.2:${esPort}` }, index: src }, dest: { index: dest } },
      }),
    );

    // Assess
    expect(failure.status).toBe(400);
    expect(failure.body.error.type).toBe('illegal_argument_exception');
    expect(failure.body.error.reason).toBe(`[127.0.0.2:${esPort}] not allowlisted in reindex.remote.allowlist`);
    expect((await target.indices.exists({ index: dest })).body).toBe(false);
  });

  it('accepts a remote reindex into an index of the same name as the source', async () => {
    // Prepare
    const name = uniqueIndex('contract-remote-samename');
    await createIndex(es, name);
    await seed(es, name, SOURCE.slice(0, 3));

    // Act
    const { body } = await target.reindex({
      refresh: true,
      body: {
        conflicts: 'proceed',
        source: { remote: { host: remoteHost }, index: name },
        dest: { index: name, version_type: 'external' },
      },
    });

    // Assess
    const res = asReindex(body);
    expect(countersOf(res)).toEqual({ total: 3, created: 3, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
  });

  /** Ids of an index's documents in `_seq_no` order (the order of their last write). */
  async function idsBySeqNo(client: Client, index: string): Promise<{ ids: string[]; seqNos: number[] }> {
    const { body } = await client.search({
      index,
      body: { size: 100, seq_no_primary_term: true, sort: [{ _seq_no: 'asc' }] },
    });
    const hits = (body as unknown as { hits: { hits: Array<{ _id: string; _seq_no: number }> } }).hits.hits;
    return { ids: hits.map((h) => h._id), seqNos: hits.map((h) => h._seq_no) };
  }

  it('writes documents in source insertion order: the last indexed on the source arrive last', async () => {
    // Prepare: ids deliberately not in lexical order, indexed one bulk at a time (three segments).
    const order = ['k', 'c', 'x', 'a', 'q', 'm', 'b', 'z'];
    const src = uniqueIndex('contract-remote-order-src');
    await createIndex(es, src);
    for (const chunk of [order.slice(0, 3), order.slice(3, 6), order.slice(6)]) {
      await seed(es, src, chunk.map((id) => ({ id, source: { id } })));
    }
    const dest = uniqueIndex('contract-remote-order-dest');
    await createIndex(target, dest);

    // Act: one document per batch, so every document is its own bulk request on the target.
    const { body } = await target.reindex({
      refresh: true,
      body: { source: { remote: { host: remoteHost }, index: src, size: 1 }, dest: { index: dest } },
    });

    // Assess: target arrival order (_seq_no) is the source insertion order.
    const res = asReindex(body);
    expect(countersOf(res)).toEqual({ total: 8, created: 8, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 8 });
    expect(await idsBySeqNo(target, dest)).toEqual({ ids: order, seqNos: [0, 1, 2, 3, 4, 5, 6, 7] });
  });

  it('moves a document rewritten on the source to the end: arrival order is the order of last write on the source', async () => {
    // Prepare: 'k' is indexed first, then rewritten after all the others.
    const order = ['k', 'c', 'x', 'a', 'q'];
    const src = uniqueIndex('contract-remote-rewrite-src');
    await createIndex(es, src);
    await seed(es, src, order.map((id) => ({ id, source: { id, pass: 1 } })));
    await seed(es, src, [{ id: 'k', source: { id: 'k', pass: 2 } }]);
    const dest = uniqueIndex('contract-remote-rewrite-dest');
    await createIndex(target, dest);

    // Act
    const { body } = await target.reindex({
      refresh: true,
      body: { source: { remote: { host: remoteHost }, index: src, size: 1 }, dest: { index: dest } },
    });

    // Assess: same order on both sides, by _seq_no; the rewritten 'k' is last on the source and arrives last.
    const res = asReindex(body);
    expect(countersOf(res)).toEqual({ total: 5, created: 5, updated: 0, deleted: 0, version_conflicts: 0, noops: 0, batches: 5 });
    expect(await idsBySeqNo(es, src)).toEqual({ ids: ['c', 'x', 'a', 'q', 'k'], seqNos: [1, 2, 3, 4, 5] });
    expect((await idsBySeqNo(target, dest)).ids).toEqual(['c', 'x', 'a', 'q', 'k']);
    expect((await getDoc(target, dest, 'k'))._source).toEqual({ id: 'k', pass: 2 });
  });
});
