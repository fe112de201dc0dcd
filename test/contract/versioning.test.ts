/**
 * Contract: how the servers decide a write against an existing document, one document at a time
 * (index API) and in bulk through a local `_reindex`. The whole product rests on these rules:
 * `version_type: external` writes only when the new version is strictly greater, everything else is a
 * 409 `version_conflict_engine_exception`, and `conflicts: proceed` turns those into a counter.
 *
 * Mirrors the servers' own YAML REST tests (same files in elastic/elasticsearch v7.10.2 and
 * opensearch-project/OpenSearch):
 * - rest-api-spec/src/main/resources/rest-api-spec/test/index/35_external_version.yml
 * - rest-api-spec/src/main/resources/rest-api-spec/test/index/36_external_gte_version.yml
 * - rest-api-spec/src/main/resources/rest-api-spec/test/index/20_optype.yml
 * - modules/reindex/src/yamlRestTest/resources/rest-api-spec/test/reindex/10_basic.yml
 *   ("Response format for version conflict", "... with conflicts=proceed")
 * - modules/reindex/src/yamlRestTest/resources/rest-api-spec/test/reindex/40_versioning.yml
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@opensearch-project/opensearch';
import { clientFor } from '../support/client';
import { localServers, uniqueIndex } from '../support/servers';
import {
  countersOf,
  createIndex,
  getDoc,
  httpFailureOf,
  seed,
  type ReindexBody,
  type ReindexFailure,
} from '../support/versioning-helpers';

const servers = localServers();

interface Labelled {
  readonly label: string;
  readonly url: string;
  /** Elasticsearch 7.x still names the mapping type (`_doc`) in bulk-by-scroll failures. */
  readonly failureType: { readonly type?: '_doc' };
}

const everyServer: Labelled[] = [
  { label: `Elasticsearch ${servers.source.version}`, url: servers.source.url, failureType: { type: '_doc' } },
  ...servers.targets.map((t) => ({ label: `OpenSearch ${t.version}`, url: t.url, failureType: {} })),
];

/** The version every "existing" document is written with before the write under test. */
const EXISTING = 5;

interface WriteResponse {
  readonly _index: string;
  readonly _id: string;
  readonly _version: number;
  readonly result: string;
}

type WriteParams = { version?: number; version_type?: 'external' | 'external_gte'; op_type?: 'create' };

type Outcome =
  | { readonly kind: 'written'; readonly status: 200 | 201; readonly result: 'created' | 'updated'; readonly version: number }
  | { readonly kind: 'conflict'; readonly reason: (id: string) => string };

interface WriteCase {
  readonly name: string;
  /** Whether a document with external version EXISTING is there before the write. */
  readonly existing: boolean;
  readonly params: WriteParams;
  readonly outcome: Outcome;
}

const higherOrEqual = (current: number, provided: number) => (id: string) =>
  `[${id}]: version conflict, current version [${current}] is higher or equal to the one provided [${provided}]`;
const higher = (current: number, provided: number) => (id: string) =>
  `[${id}]: version conflict, current version [${current}] is higher than the one provided [${provided}]`;
const alreadyExists = (current: number) => (id: string) =>
  `[${id}]: version conflict, document already exists (current version [${current}])`;

const writeCases: WriteCase[] = [
  // version_type=external: strictly greater wins (35_external_version.yml).
  { name: 'external creates a missing document with the given version', existing: false,
    params: { version_type: 'external', version: 5 }, outcome: { kind: 'written', status: 201, result: 'created', version: 5 } },
  { name: 'external refuses a lower version with 409', existing: true,
    params: { version_type: 'external', version: 3 }, outcome: { kind: 'conflict', reason: higherOrEqual(EXISTING, 3) } },
  { name: 'external refuses an equal version with 409', existing: true,
    params: { version_type: 'external', version: EXISTING }, outcome: { kind: 'conflict', reason: higherOrEqual(EXISTING, EXISTING) } },
  { name: 'external replaces the document when the version is higher', existing: true,
    params: { version_type: 'external', version: 7 }, outcome: { kind: 'written', status: 200, result: 'updated', version: 7 } },
  // version_type=external_gte: equal also wins (36_external_gte_version.yml).
  { name: 'external_gte creates a missing document with the given version', existing: false,
    params: { version_type: 'external_gte', version: 5 }, outcome: { kind: 'written', status: 201, result: 'created', version: 5 } },
  { name: 'external_gte refuses a lower version with 409', existing: true,
    params: { version_type: 'external_gte', version: 3 }, outcome: { kind: 'conflict', reason: higher(EXISTING, 3) } },
  { name: 'external_gte replaces the document when the version is equal', existing: true,
    params: { version_type: 'external_gte', version: EXISTING }, outcome: { kind: 'written', status: 200, result: 'updated', version: EXISTING } },
  { name: 'external_gte replaces the document when the version is higher', existing: true,
    params: { version_type: 'external_gte', version: 7 }, outcome: { kind: 'written', status: 200, result: 'updated', version: 7 } },
  // Internal versioning (no version): last write wins, whatever the existing version.
  { name: 'internal creates a missing document at version 1', existing: false,
    params: {}, outcome: { kind: 'written', status: 201, result: 'created', version: 1 } },
  { name: 'internal overwrites an existing document and bumps its version by one', existing: true,
    params: {}, outcome: { kind: 'written', status: 200, result: 'updated', version: EXISTING + 1 } },
  // op_type=create: only a missing document is written (20_optype.yml).
  { name: 'op_type=create creates a missing document at version 1', existing: false,
    params: { op_type: 'create' }, outcome: { kind: 'written', status: 201, result: 'created', version: 1 } },
  { name: 'op_type=create refuses an existing document with 409', existing: true,
    params: { op_type: 'create' }, outcome: { kind: 'conflict', reason: alreadyExists(EXISTING) } },
];

describe.each(everyServer)('$label: single-document writes against an existing version', ({ url }) => {
  const client = clientFor(url);
  let index = '';
  let n = 0;

  beforeAll(async () => {
    index = uniqueIndex('contract-ver-doc');
    await createIndex(client, index);
  });

  /** A fresh id; when `existing`, a document { state: 'before' } at external version EXISTING. */
  async function prepare(existing: boolean): Promise<string> {
    n += 1;
    const id = `doc-${n}`;
    if (existing) {
      await client.index({ index, id, body: { state: 'before' }, version: EXISTING, version_type: 'external', refresh: true });
    }
    return id;
  }

  it.each(writeCases)('$name', async ({ existing, params, outcome }) => {
    // Prepare
    const id = await prepare(existing);

    // Act
    const write = client.index({ index, id, body: { state: 'after' }, refresh: true, ...params });

    // Assess
    if (outcome.kind === 'written') {
      const res = await write;
      const body = res.body as WriteResponse;
      expect(res.statusCode).toBe(outcome.status);
      expect(body.result).toBe(outcome.result);
      expect(body._version).toBe(outcome.version);
      const stored = await getDoc(client, index, id);
      expect(stored._version).toBe(outcome.version);
      expect(stored._source).toEqual({ state: 'after' });
    } else {
      const failure = await httpFailureOf(write);
      expect(failure.status).toBe(409);
      expect(failure.body.status).toBe(409);
      expect(failure.body.error.type).toBe('version_conflict_engine_exception');
      expect(failure.body.error.reason).toBe(outcome.reason(id));
      expect(failure.body.error.index).toBe(index);
      const stored = await getDoc(client, index, id);
      expect(stored._version).toBe(EXISTING);
      expect(stored._source).toEqual({ state: 'before' });
    }
  });

  it('refuses a version with internal versioning (optimistic concurrency needs if_seq_no) with 400', async () => {
    // Prepare
    const id = await prepare(true);

    // Act
    const failure = await httpFailureOf(client.index({ index, id, body: { state: 'after' }, version: 7 }));

    // Assess
    expect(failure.status).toBe(400);
    expect(failure.body.error.type).toBe('action_request_validation_exception');
    expect(failure.body.error.reason).toBe(
      'Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. ' +
        'Please use `if_seq_no` and `if_primary_term` instead;',
    );
    expect((await getDoc(client, index, id))._source).toEqual({ state: 'before' });
  });

  it('refuses op_type=create combined with version_type=external with 400', async () => {
    // Prepare
    const id = await prepare(false);

    // Act
    const failure = await httpFailureOf(
      client.index({ index, id, body: { state: 'after' }, op_type: 'create', version: 7, version_type: 'external' }),
    );

    // Assess
    expect(failure.status).toBe(400);
    expect(failure.body.error.type).toBe('action_request_validation_exception');
    expect(failure.body.error.reason).toBe(
      'Validation Failed: 1: create operations only support internal versioning. use index instead;',
    );
    expect((await getDoc(client, index, id)).found).toBe(false);
  });
});

/**
 * The four situations a backfill meets, as (source version, target version) of one id:
 * missing on the target, target older, target equal (different content), target newer.
 */
const MIXED = {
  source: [
    { id: 'missing', version: 4, source: { from: 'source', id: 'missing' } },
    { id: 'older', version: 6, source: { from: 'source', id: 'older' } },
    { id: 'equal', version: 5, source: { from: 'source', id: 'equal' } },
    { id: 'newer', version: 5, source: { from: 'source', id: 'newer' } },
  ],
  target: [
    { id: 'older', version: 3, source: { from: 'target', id: 'older' } },
    { id: 'equal', version: 5, source: { from: 'target', id: 'equal' } },
    { id: 'newer', version: 9, source: { from: 'target', id: 'newer' } },
  ],
} as const;

async function prepareMixed(client: Client, prefix: string): Promise<{ src: string; dest: string }> {
  const src = uniqueIndex(`${prefix}-src`);
  const dest = uniqueIndex(`${prefix}-dest`);
  await createIndex(client, src);
  await createIndex(client, dest);
  await seed(client, src, MIXED.source);
  await seed(client, dest, MIXED.target);
  return { src, dest };
}

async function docsOf(client: Client, index: string): Promise<Record<string, { version?: number; from?: unknown }>> {
  const out: Record<string, { version?: number; from?: unknown }> = {};
  for (const id of ['missing', 'older', 'equal', 'newer']) {
    const doc = await getDoc(client, index, id);
    out[id] = doc.found ? { version: doc._version, from: doc._source?.from } : {};
  }
  return out;
}

function byId(failures: readonly ReindexFailure[]): ReindexFailure[] {
  return [...failures].sort((a, b) => a.id.localeCompare(b.id));
}

describe.each(everyServer)('$label: local _reindex into an index that already holds documents', ({ url, failureType }) => {
  const client = clientFor(url);

  it('with dest.version_type external and conflicts proceed, creates the missing, updates the older and counts equal and newer as version_conflicts', async () => {
    // Prepare
    // 40_versioning.yml "version_type=external has refresh semantics", with counters added.
    const { src, dest } = await prepareMixed(client, 'contract-ver-ext-proceed');

    // Act
    const { body, statusCode } = await client.reindex({
      refresh: true,
      body: { conflicts: 'proceed', source: { index: src }, dest: { index: dest, version_type: 'external' } },
    });

    // Assess
    const res = body as unknown as ReindexBody;
    expect(statusCode).toBe(200);
    expect(countersOf(res)).toEqual({ total: 4, created: 1, updated: 1, deleted: 0, version_conflicts: 2, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(await docsOf(client, dest)).toEqual({
      missing: { version: 4, from: 'source' },
      older: { version: 6, from: 'source' },
      equal: { version: 5, from: 'target' },
      newer: { version: 9, from: 'target' },
    });
  });

  it('with dest.version_type external and conflicts abort, answers 409 with one failure per conflict, and still writes the rest of the batch', async () => {
    // Prepare
    const { src, dest } = await prepareMixed(client, 'contract-ver-ext-abort');

    // Act
    const failure = await httpFailureOf<ReindexBody>(
      client.reindex({
        refresh: true,
        body: { conflicts: 'abort', source: { index: src }, dest: { index: dest, version_type: 'external' } },
      }),
    );

    // Assess
    // Elasticsearch 7.10.2 adds `type: '_doc'` to each failure; OpenSearch has no such key.
    expect(failure.status).toBe(409);
    expect(countersOf(failure.body)).toEqual({ total: 4, created: 1, updated: 1, deleted: 0, version_conflicts: 2, noops: 0, batches: 1 });
    const failures = byId(failure.body.failures);
    expect(failures).toEqual([
      {
        index: dest,
        ...failureType,
        id: 'equal',
        cause: {
          type: 'version_conflict_engine_exception',
          reason: '[equal]: version conflict, current version [5] is higher or equal to the one provided [5]',
          index: dest,
          shard: '0',
          index_uuid: expect.any(String),
        },
        status: 409,
      },
      {
        index: dest,
        ...failureType,
        id: 'newer',
        cause: {
          type: 'version_conflict_engine_exception',
          reason: '[newer]: version conflict, current version [9] is higher or equal to the one provided [5]',
          index: dest,
          shard: '0',
          index_uuid: expect.any(String),
        },
        status: 409,
      },
    ]);
    expect(await docsOf(client, dest)).toEqual({
      missing: { version: 4, from: 'source' },
      older: { version: 6, from: 'source' },
      equal: { version: 5, from: 'target' },
      newer: { version: 9, from: 'target' },
    });
  });

  it('with op_type create and conflicts proceed, writes only the missing document and counts every existing one as a version_conflict', async () => {
    // Prepare
    // 10_basic.yml "Response format for version conflict with conflicts=proceed"; 40_versioning.yml "op_type can be set to create".
    const { src, dest } = await prepareMixed(client, 'contract-ver-create-proceed');

    // Act
    const { body } = await client.reindex({
      refresh: true,
      body: { conflicts: 'proceed', source: { index: src }, dest: { index: dest, op_type: 'create' } },
    });

    // Assess
    const res = body as unknown as ReindexBody;
    expect(countersOf(res)).toEqual({ total: 4, created: 1, updated: 0, deleted: 0, version_conflicts: 3, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(await docsOf(client, dest)).toEqual({
      missing: { version: 1, from: 'source' },
      older: { version: 3, from: 'target' },
      equal: { version: 5, from: 'target' },
      newer: { version: 9, from: 'target' },
    });
  });

  it('with op_type create and conflicts abort, answers 409 with "document already exists" failures', async () => {
    // Prepare
    // 10_basic.yml "Response format for version conflict" (catch: conflict).
    const { src, dest } = await prepareMixed(client, 'contract-ver-create-abort');

    // Act
    const failure = await httpFailureOf<ReindexBody>(
      client.reindex({ refresh: true, body: { source: { index: src }, dest: { index: dest, op_type: 'create' } } }),
    );

    // Assess
    expect(failure.status).toBe(409);
    expect(countersOf(failure.body)).toEqual({ total: 4, created: 1, updated: 0, deleted: 0, version_conflicts: 3, noops: 0, batches: 1 });
    expect(byId(failure.body.failures).map((f) => [f.id, f.status, f.cause.type, f.cause.reason])).toEqual([
      ['equal', 409, 'version_conflict_engine_exception', '[equal]: version conflict, document already exists (current version [5])'],
      ['newer', 409, 'version_conflict_engine_exception', '[newer]: version conflict, document already exists (current version [9])'],
      ['older', 409, 'version_conflict_engine_exception', '[older]: version conflict, document already exists (current version [3])'],
    ]);
  });

  it('with default internal versioning, overwrites every existing document, newer ones included, and reports no conflict', async () => {
    // Prepare
    // 40_versioning.yml "versioning defaults to overwrite".
    const { src, dest } = await prepareMixed(client, 'contract-ver-internal');

    // Act
    const { body } = await client.reindex({ refresh: true, body: { source: { index: src }, dest: { index: dest } } });

    // Assess
    const res = body as unknown as ReindexBody;
    expect(countersOf(res)).toEqual({ total: 4, created: 1, updated: 3, deleted: 0, version_conflicts: 0, noops: 0, batches: 1 });
    expect(res.failures).toEqual([]);
    expect(await docsOf(client, dest)).toEqual({
      missing: { version: 1, from: 'source' },
      older: { version: 4, from: 'source' },
      equal: { version: 6, from: 'source' },
      newer: { version: 10, from: 'source' },
    });
  });
});
