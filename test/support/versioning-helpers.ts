import { errors, type Client } from '@opensearch-project/opensearch';

/** The error body a server answers with (`{ error: {...}, status }`), loosely typed by the client. */
export interface ErrorBody {
  readonly error: {
    readonly type: string;
    readonly reason: string;
    readonly index?: string;
    readonly shard?: string;
    readonly index_uuid?: string;
    readonly root_cause?: ReadonlyArray<{ readonly type: string; readonly reason: string }>;
  };
  readonly status: number;
}

/** One entry of a bulk-by-scroll `failures[]`. */
export interface ReindexFailure {
  readonly index: string;
  readonly id: string;
  readonly type?: string;
  readonly cause: {
    readonly type: string;
    readonly reason: string;
    readonly index?: string;
    readonly shard?: string;
    readonly index_uuid?: string;
  };
  readonly status: number;
}

/** The body of a completed `_reindex` (synchronous answer or `response` of a stored task). */
export interface ReindexBody {
  readonly took: number;
  readonly timed_out: boolean;
  readonly total: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly batches: number;
  readonly version_conflicts: number;
  readonly noops: number;
  readonly retries: { readonly bulk: number; readonly search: number };
  readonly throttled_millis: number;
  readonly failures: readonly ReindexFailure[];
}

/** The counters the pipeline reconciles, in one comparable object. */
export interface Counters {
  readonly total: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly version_conflicts: number;
  readonly noops: number;
  readonly batches: number;
}

export function countersOf(body: ReindexBody): Counters {
  const { total, created, updated, deleted, version_conflicts, noops, batches } = body;
  return { total, created, updated, deleted, version_conflicts, noops, batches };
}

export interface HttpFailure<B = ErrorBody> {
  readonly status: number;
  readonly body: B;
}

/** Awaits a request that must fail with an HTTP answer; returns its status and body. */
export async function httpFailureOf<B = ErrorBody>(request: Promise<unknown>): Promise<HttpFailure<B>> {
  try {
    await request;
  } catch (err) {
    if (err instanceof errors.ResponseError) {
      return { status: err.meta.statusCode ?? -1, body: err.meta.body as B };
    }
    throw err;
  }
  throw new Error('expected the request to fail with an HTTP error, but it succeeded');
}

export interface StoredDoc {
  readonly found: boolean;
  readonly _version?: number;
  readonly _seq_no?: number;
  readonly _source?: Record<string, unknown>;
}

/** GET a document; a missing one is `{ found: false }` (the client throws on the 404). */
export async function getDoc(client: Client, index: string, id: string): Promise<StoredDoc> {
  try {
    const { body } = await client.get({ index, id });
    return body as StoredDoc;
  } catch (err) {
    if (err instanceof errors.ResponseError && err.meta.statusCode === 404) return { found: false };
    throw err;
  }
}

export interface SeedDoc {
  readonly id: string;
  /** External version; absent means internal versioning (the doc gets `_version` 1). */
  readonly version?: number;
  readonly source: Record<string, unknown>;
}

/** Indexes the documents in order with one bulk request and refreshes; fails on any item error. */
export async function seed(client: Client, index: string, docs: readonly SeedDoc[]): Promise<void> {
  const body: Array<Record<string, unknown>> = [];
  for (const doc of docs) {
    const action: Record<string, unknown> = { _index: index, _id: doc.id };
    if (doc.version !== undefined) {
      action.version = doc.version;
      action.version_type = 'external';
    }
    body.push({ index: action }, doc.source);
  }
  const { body: res } = await client.bulk({ body, refresh: true });
  const result = res as { errors: boolean; items: unknown[] };
  if (result.errors) throw new Error(`seeding ${index} failed: ${JSON.stringify(result.items)}`);
}

/** Creates an index with one shard and no replicas (a lone node stays green, doc order is simple). */
export async function createIndex(
  client: Client,
  index: string,
  mappings?: Record<string, unknown>,
): Promise<void> {
  await client.indices.create({
    index,
    body: {
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      ...(mappings ? { mappings } : {}),
    },
  });
}

/** `http://127.0.0.1:<port>` of a server URL: the host a remote reindex names. */
export function remoteHostOf(url: string): string {
  const u = new URL(url);
  return `http://127.0.0.1:${u.port}`;
}

export function portOf(url: string): string {
  return new URL(url).port;
}
