import { errors, type Client } from '@opensearch-project/opensearch';
import { call, classifyClusterError, errorType, isNotFound } from './search-client';

/** The few cluster reads and writes the pipeline makes, each one request, each named for what it does. */

export interface DayCount {
  readonly day: string;
  readonly count: number;
}

export interface IndexCensus {
  /** Documents matching the run's query (all of them without one). */
  readonly count: number;
  /** Documents per UTC day of `dateField`; empty without a date field. */
  readonly days: readonly DayCount[];
  /** Documents without `dateField`. */
  readonly withoutDate: number;
}

type Query = Record<string, unknown> | null | undefined;

/**
 * Count, daily histogram and documents without the date field, in one search. Undefined when the
 * index does not exist.
 */
export async function censusOf(client: Client, index: string, dateField: string | null, query: Query): Promise<IndexCensus | undefined> {
  const body: Record<string, unknown> = {
    size: 0,
    track_total_hits: true,
    ...(query ? { query } : {}),
    ...(dateField
      ? {
          aggs: {
            days: {
              date_histogram: { field: dateField, calendar_interval: 'day', time_zone: 'UTC', format: 'yyyy-MM-dd', min_doc_count: 1 },
            },
            without_date: { missing: { field: dateField } },
          },
        }
      : {}),
  };
  try {
    const { body: res } = await client.search({ index, body });
    const r = res as {
      hits: { total: { value: number } };
      aggregations?: { days: { buckets: Array<{ key_as_string: string; doc_count: number }> }; without_date: { doc_count: number } };
    };
    return {
      count: r.hits.total.value,
      days: (r.aggregations?.days.buckets ?? []).map((b) => ({ day: b.key_as_string, count: b.doc_count })),
      withoutDate: r.aggregations?.without_date.doc_count ?? 0,
    };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw classifyClusterError(err, `census of ${index}`);
  }
}

/** What a target name resolves to: concrete indices behind it (an alias may name several). */
export async function resolveIndex(client: Client, name: string): Promise<{ exists: boolean; indices: string[] }> {
  try {
    const { body } = await client.transport.request({ method: 'GET', path: `/_resolve/index/${encodeURIComponent(name)}` });
    const r = body as { indices: Array<{ name: string }>; aliases: Array<{ name: string; indices: string[] }> };
    const alias = r.aliases.find((a) => a.name === name);
    if (alias) return { exists: true, indices: alias.indices };
    const direct = r.indices.filter((i) => i.name === name).map((i) => i.name);
    return { exists: direct.length > 0, indices: direct };
  } catch (err) {
    if (isNotFound(err)) return { exists: false, indices: [] };
    throw classifyClusterError(err, `resolve ${name}`);
  }
}

export interface ReindexTask {
  readonly taskId: string;
  readonly description: string;
  readonly opaqueId: string | undefined;
  readonly status: Record<string, unknown>;
}

/** Reindex tasks running on the cluster whose description writes into `index`. */
export async function reindexTasksInto(client: Client, index: string): Promise<ReindexTask[]> {
  const { body } = await call('list reindex tasks', () => client.tasks.list({ actions: '*reindex', detailed: true }));
  const nodes = (body as { nodes?: Record<string, { tasks: Record<string, { description?: string; headers?: Record<string, string>; status?: Record<string, unknown> }> }> }).nodes ?? {};
  const tasks: ReindexTask[] = [];
  for (const node of Object.values(nodes)) {
    for (const [taskId, task] of Object.entries(node.tasks)) {
      const description = task.description ?? '';
      if (writesInto(description, index)) {
        tasks.push({ taskId, description, opaqueId: task.headers?.['X-Opaque-Id'], status: task.status ?? {} });
      }
    }
  }
  return tasks;
}

/** `reindex from [...] to [dest]` (Elasticsearch appends `[_doc]`). */
export function writesInto(description: string, index: string): boolean {
  const match = /\bto \[([^\]]+)\](?:\[_doc\])?\s*$/.exec(description);
  return match?.[1] === index;
}

export interface VersionedId {
  readonly id: string;
  readonly version: number;
}

/** A seeded random sample of the index's ids with their versions (same seed, same sample). */
export async function sampleIds(client: Client, index: string, size: number, seed: number, query: Query): Promise<VersionedId[]> {
  if (size === 0) return [];
  const body: Record<string, unknown> = {
    size,
    version: true,
    _source: false,
    query: { function_score: { query: query ?? { match_all: {} }, random_score: { seed, field: '_seq_no' }, boost_mode: 'replace' } },
  };
  const { body: res } = await call(`sample ${index}`, () => client.search({ index, body }));
  return (res as { hits: { hits: Array<{ _id: string; _version: number }> } }).hits.hits.map((h) => ({ id: h._id, version: h._version }));
}

/**
 * `size` documents of `index` drawn at random (seeded) within `query`, each with the byte length of its
 * `_source` as JSON: what a scroll batch of them carries.
 */
export async function sampleSourceSizes(client: Client, index: string, size: number, seed: number, query: Query): Promise<Array<{ id: string; sourceBytes: number }>> {
  const body: Record<string, unknown> = {
    size,
    query: { function_score: { query: query ?? { match_all: {} }, random_score: { seed, field: '_seq_no' }, boost_mode: 'replace' } },
  };
  const { body: res } = await call(`sample documents of ${index}`, () => client.search({ index, body }));
  return (res as { hits: { hits: Array<{ _id: string; _source?: unknown }> } }).hits.hits.map((h) => ({
    id: h._id,
    sourceBytes: Buffer.byteLength(JSON.stringify(h._source ?? {}), 'utf8'),
  }));
}

/**
 * The smallest indexing-pressure limit of the cluster's nodes (`indexing_pressure.memory.limit_in_bytes`):
 * a bulk over it, with the node's others in flight, is rejected with 429. Undefined where not reported.
 */
export async function indexingPressureLimit(client: Client): Promise<number | undefined> {
  const { body } = await call('node stats (indexing pressure)', () => client.nodes.stats({ metric: ['indexing_pressure'] }));
  const limits = Object.values((body as { nodes?: Record<string, { indexing_pressure?: { memory?: { limit_in_bytes?: number } } }> }).nodes ?? {})
    .map((node) => node.indexing_pressure?.memory?.limit_in_bytes)
    .filter((limit): limit is number => typeof limit === 'number' && limit > 0);
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** Versions of `ids` in `index`: null for an id the index does not hold. */
export async function versionsOf(client: Client, index: string, ids: readonly string[]): Promise<Map<string, number | null>> {
  const versions = new Map<string, number | null>();
  if (ids.length === 0) return versions;
  const { body } = await call(`mget ${index}`, () => client.mget({ index, _source: false, body: { ids: [...ids] } }));
  for (const doc of (body as { docs: Array<{ _id: string; found: boolean; _version?: number }> }).docs) {
    versions.set(doc._id, doc.found ? doc._version ?? null : null);
  }
  return versions;
}

export interface TaskView {
  readonly completed: boolean;
  readonly task: { description?: string; headers?: Record<string, string>; status?: Record<string, unknown>; cancelled?: boolean };
  readonly response?: Record<string, unknown> & { failures?: unknown[]; canceled?: string };
  readonly error?: { type?: string; reason?: string };
}

/**
 * `GET _tasks/{id}`, optionally waiting up to `waitSeconds` for completion. Undefined on 404: the
 * task is neither running nor stored, which means the outcome is unknown, never that it is done.
 */
export async function getTask(client: Client, taskId: string, waitSeconds = 0): Promise<TaskView | undefined> {
  try {
    const { body } = await client.tasks.get(
      { task_id: taskId, ...(waitSeconds > 0 ? { wait_for_completion: true, timeout: `${waitSeconds}s` } : {}) },
      { requestTimeout: (waitSeconds + 30) * 1000 },
    );
    return body as TaskView;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    // A long-poll that runs out answers 500 timeout_exception while the task goes on: read it as it is.
    if (waitSeconds > 0 && err instanceof errors.ResponseError && errorType(err).startsWith('timeout_exception')) {
      return getTask(client, taskId, 0);
    }
    throw classifyClusterError(err, `GET _tasks/${taskId}`);
  }
}

export async function cancelTask(client: Client, taskId: string): Promise<void> {
  try {
    await client.tasks.cancel({ task_id: taskId });
  } catch (err) {
    if (isNotFound(err)) return;
    throw classifyClusterError(err, `cancel ${taskId}`);
  }
}

/**
 * `_reindex/{id}/_rethrottle`: a lower rate takes effect after the batch in flight. An unknown task answers
 * 200 with `node_failures` (pinned in test/contract/tasks.test.ts): reported as false, the task is gone.
 */
export async function rethrottleTask(client: Client, taskId: string, requestsPerSecond: number): Promise<boolean> {
  const { body } = await call(`rethrottle ${taskId}`, () => client.reindexRethrottle({ task_id: taskId, requests_per_second: requestsPerSecond }));
  return !((body as { node_failures?: unknown[] }).node_failures?.length);
}

export async function refresh(client: Client, index: string): Promise<void> {
  await call(`refresh ${index}`, () => client.indices.refresh({ index }));
}

/** Documents matching `query` in `index` (0 when the index does not exist). */
export async function countOf(client: Client, index: string, query: Query): Promise<number> {
  try {
    const { body } = await client.count({ index, body: query ? { query } : {} });
    return (body as { count: number }).count;
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw classifyClusterError(err, `count ${index}`);
  }
}

/**
 * Every id and version matching `query`, in pages of `size`: one scroll in `_doc` order (no sort key, so
 * nothing loads `_id` fielddata), no `_source`; with `slice`, that slice of them (by `_id`, as the scroll
 * slices by default: its terms are hashed, no fielddata either). One consistent snapshot of the index per call; the
 * scroll is cleared however the loop ends. Nothing when the index does not exist.
 */
export async function* idPages(
  client: Client,
  index: string,
  query: Query,
  size: number,
  slice?: { readonly id: number; readonly max: number },
): AsyncGenerator<VersionedId[]> {
  type Page = { _scroll_id?: string; hits: { hits: Array<{ _id: string; _version: number }> } };
  let page: Page;
  try {
    const { body } = await client.search({
      index,
      scroll: '5m',
      body: { size, version: true, _source: false, sort: ['_doc'], query: query ?? { match_all: {} }, ...(slice ? { slice: { id: slice.id, max: slice.max } } : {}) },
    });
    page = body as Page;
  } catch (err) {
    if (isNotFound(err)) return;
    throw classifyClusterError(err, `scroll ${index}`);
  }
  let scrollId = page._scroll_id;
  try {
    while (page.hits.hits.length > 0) {
      yield page.hits.hits.map((h) => ({ id: h._id, version: h._version }));
      if (!scrollId) return;
      const id = scrollId;
      const { body } = await call(`scroll ${index}`, () => client.scroll({ body: { scroll_id: id, scroll: '5m' } }));
      page = body as Page;
      scrollId = page._scroll_id ?? scrollId;
    }
  } finally {
    if (scrollId) {
      const id = scrollId;
      await client.clearScroll({ body: { scroll_id: id } }).catch(() => undefined);
    }
  }
}
