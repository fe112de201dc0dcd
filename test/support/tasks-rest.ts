/**
 * Small helpers for the contract tests that pin the servers' task, reindex and search behaviour.
 * Raw HTTP (fetch) on purpose: these tests pin exact status codes, bodies and headers as the servers send them.
 */

export interface RestAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** One HTTP call with a JSON (or NDJSON) body; answers status, parsed JSON body and headers. */
export async function rest<T = unknown>(
  baseUrl: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD',
  path: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<RestAnswer<T>> {
  const ndjson = typeof body === 'string';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json', ...headers },
    body: body === undefined ? undefined : ndjson ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T, headers: res.headers };
}

/** Polls `probe` until it answers a value other than undefined; fails with `what` past the deadline. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, intervalMs));
  }
}

/** `http://127.0.0.1:<port>` of a local server URL, as `source.remote.host` takes it. */
export function remoteHostOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: `http://127.0.0.1:${parsed.port}`, port: Number(parsed.port) };
}

export interface BulkItemResult {
  readonly _id: string;
  readonly status: number;
  readonly result?: string;
  readonly error?: { readonly type: string; readonly reason: string };
}
export interface BulkAnswer {
  readonly errors: boolean;
  readonly items: ReadonlyArray<Readonly<Record<string, BulkItemResult>>>;
}

/** Creates `index` (1 shard, 0 replicas unless told) and bulk-loads `docs` keyed by id, refreshed. */
export async function seedIndex(
  url: string,
  index: string,
  docs: ReadonlyArray<{ readonly id: string; readonly source: Readonly<Record<string, unknown>> }>,
  settings: Readonly<Record<string, unknown>> = {},
  mappings?: Readonly<Record<string, unknown>>,
): Promise<void> {
  const created = await rest(url, 'PUT', `/${index}`, {
    settings: { number_of_shards: 1, number_of_replicas: 0, ...settings },
    ...(mappings ? { mappings } : {}),
  });
  if (created.status !== 200) throw new Error(`create ${index}: ${created.status} ${JSON.stringify(created.body)}`);
  if (docs.length === 0) return;
  const lines = docs.flatMap((d) => [JSON.stringify({ index: { _id: d.id } }), JSON.stringify(d.source)]);
  const bulk = await rest<BulkAnswer>(url, 'POST', `/${index}/_bulk?refresh=true`, `${lines.join('\n')}\n`);
  if (bulk.status !== 200 || bulk.body.errors) {
    throw new Error(`bulk into ${index}: ${bulk.status} ${JSON.stringify(bulk.body).slice(0, 500)}`);
  }
}

/** The id of the (only) node of a local server. */
export async function localNodeId(url: string): Promise<string> {
  const { body } = await rest<{ nodes: Record<string, unknown> }>(url, 'GET', '/_nodes/_local');
  const ids = Object.keys(body.nodes);
  if (ids.length !== 1 || ids[0] === undefined) throw new Error(`expected one node at ${url}, got ${ids.join(',')}`);
  return ids[0];
}

export interface ReindexCounters {
  readonly total: number;
  readonly updated: number;
  readonly created: number;
  readonly deleted: number;
  readonly batches: number;
  readonly version_conflicts: number;
  readonly noops: number;
  readonly retries: { readonly bulk: number; readonly search: number };
  readonly throttled_millis: number;
  readonly requests_per_second: number;
  readonly throttled_until_millis: number;
  readonly canceled?: string;
}

export interface ReindexFailure {
  readonly index?: string;
  readonly id?: string;
  readonly status: number;
  readonly cause: { readonly type: string; readonly reason: string };
}

export interface ReindexResponse extends ReindexCounters {
  readonly took: number;
  readonly timed_out: boolean;
  readonly throttled: string;
  readonly throttled_until: string;
  readonly failures: readonly ReindexFailure[];
}

export interface TaskInfo {
  readonly node: string;
  readonly id: number;
  readonly type: string;
  readonly action: string;
  readonly status?: ReindexCounters;
  readonly description?: string;
  readonly start_time_in_millis: number;
  readonly running_time_in_nanos: number;
  readonly cancellable: boolean;
  readonly cancelled?: boolean;
  readonly cancellation_time_millis?: number;
  readonly parent_task_id?: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface GetTaskAnswer {
  readonly completed: boolean;
  readonly task: TaskInfo;
  readonly response?: ReindexResponse;
  readonly error?: unknown;
}

export interface ListTasksAnswer {
  readonly nodes: Readonly<Record<string, { readonly tasks: Readonly<Record<string, TaskInfo>> }>>;
  readonly node_failures?: readonly ErrorCause[];
}

export interface ErrorCause {
  readonly type: string;
  readonly reason: string;
  readonly node_id?: string;
  readonly caused_by?: ErrorCause;
  readonly root_cause?: readonly ErrorCause[];
  readonly [extra: string]: unknown;
}

export interface ErrorAnswer {
  readonly error: ErrorCause;
  readonly status: number;
}

/** Launches `POST _reindex?wait_for_completion=false` and answers the task id. */
export async function launchReindex(
  targetUrl: string,
  body: Readonly<Record<string, unknown>>,
  { params = '', opaqueId }: { params?: string; opaqueId?: string } = {},
): Promise<string> {
  const answer = await rest<{ task?: string }>(
    targetUrl,
    'POST',
    `/_reindex?wait_for_completion=false${params}`,
    body,
    opaqueId ? { 'X-Opaque-Id': opaqueId } : {},
  );
  if (answer.status !== 200 || typeof answer.body.task !== 'string') {
    throw new Error(`_reindex launch: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body.task;
}

/** GET _tasks/{id}; answers the body once `accept` holds for it. */
export async function pollTask(
  url: string,
  taskId: string,
  accept: (task: GetTaskAnswer) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<GetTaskAnswer> {
  return pollUntil(
    `${what} (task ${taskId})`,
    async () => {
      const answer = await rest<GetTaskAnswer>(url, 'GET', `/_tasks/${taskId}`);
      if (answer.status !== 200) throw new Error(`GET _tasks/${taskId}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return accept(answer.body) ? answer.body : undefined;
    },
    { timeoutMs },
  );
}

/** Waits until the task has finished and answers its stored result. */
export function awaitCompletion(url: string, taskId: string, timeoutMs = 60_000): Promise<GetTaskAnswer> {
  return pollTask(url, taskId, (t) => t.completed, 'the task to complete', timeoutMs);
}

/** Documents `n0..n-1` with a `n` field, the shape the reindex tests copy. */
export function numberedDocs(count: number): Array<{ id: string; source: { n: number } }> {
  return Array.from({ length: count }, (_, i) => ({ id: `d${i}`, source: { n: i } }));
}

/**
 * A `requests_per_second` so small that after its first batch the reindex sleeps (in practice) forever: the
 * reindex YAML tests' way to hold a task running (modules/reindex/.../reindex/70_throttle.yml, 90_remote.yml).
 */
export const PARKED_RPS = '0.00000001';
