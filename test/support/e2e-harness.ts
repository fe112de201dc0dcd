import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../local/fault-proxy/fault-proxy';
import { localLedger } from '../../local/pipeline';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { Ledger } from '../../lambdas/shared/ledger/ledger';
import { clientFor } from './client';
import { seedWorkedExample, type WorkedExampleShape } from '../../local/seed/worked-example';
import { defaultTarget, localServers, uniqueIndex } from './servers';
import { pollUntil, rest } from './tasks-rest';

/** Shared set-up of the end-to-end tests: proxies in front of the real clusters, ledger access, task reads. */

export interface ProxiedClusters {
  /** In front of Elasticsearch 7.10.2: use its url as `source.url`. */
  readonly source: FaultProxy;
  /** In front of the default OpenSearch target: pass its url as `targetUrl`. */
  readonly target: FaultProxy;
  stop(): Promise<void>;
}

export async function proxiedClusters(): Promise<ProxiedClusters> {
  const source = await startFaultProxy({ target: localServers().source.url });
  const target = await startFaultProxy({ target: defaultTarget().url });
  return {
    source,
    target,
    stop: async () => {
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

export interface FileProxiedClusters extends ProxiedClusters {
  /** Removes every injected fault and empties both request logs (between tests). */
  reset(): void;
}

let fileProxies: Promise<FileProxiedClusters> | undefined;

/**
 * Fault proxies in front of both clusters, started on first use and shared by every test of this file
 * (vitest evaluates this module once per file). A function's environment carries its target endpoint,
 * so one proxy URL per file lets the functions' warm environments serve all of the file's runs. Call
 * `reset()` after each test and `stop()` after the file.
 */
export function fileProxiedClusters(): Promise<FileProxiedClusters> {
  fileProxies ??= proxiedClusters().then((clusters) => ({
    ...clusters,
    reset: () => {
      for (const proxy of [clusters.source, clusters.target]) {
        proxy.clear();
        proxy.resetLog();
      }
    },
    stop: async () => {
      fileProxies = undefined;
      await clusters.stop();
    },
  }));
  return fileProxies;
}

/** Stops this file's proxies, if a test started them. */
export async function stopFileProxiedClusters(): Promise<void> {
  await (await fileProxies)?.stop();
}

/**
 * The ledger table of this test file (vitest evaluates this module once per file): every run of the
 * file writes to it, as every run of a deployed stack writes to its one table, so the functions'
 * warm execution environments serve the file's runs as a warm container serves later executions.
 */
export const fileLedgerTable = uniqueIndex('ledger');

/** Where this test process's runs list their differing ids (the local stand-in for the differences bucket). */
export const differencesDirectory = join(tmpdir(), `safe-reindex-differences-${process.pid}`);

/** The runLocal options every end-to-end test shares: fast waits, its own ledger table. */
export function runOptions(tableName: string, targetUrl: string = defaultTarget().url) {
  return { targetUrl, ledgerEndpoint: localServers().ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, differencesDirectory } as const;
}

export function ledgerOf(tableName: string): Promise<Ledger> {
  return localLedger(localServers().ledgerEndpoint, tableName);
}

/** Every item of a ledger table (one test file's runs at most, so this is small). */
export async function ledgerItems(tableName: string): Promise<Array<Record<string, unknown>>> {
  const ledger = await ledgerOf(tableName);
  const { Items } = await ledger.client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
  return Items ?? [];
}

/** `METHOD path` of each logged request: readable in an assertion failure. */
export function described(requests: readonly ProxiedRequest[]): string[] {
  return requests.map((r) => `${r.method} ${r.path}`);
}

export interface TaskAnswer {
  readonly completed: boolean;
  readonly task: { readonly description?: string; readonly cancelled?: boolean; readonly status?: Record<string, unknown> };
  readonly response?: { readonly canceled?: string; readonly total?: number; readonly created?: number; readonly updated?: number };
  readonly error?: { readonly type?: string; readonly reason?: string };
}

/**
 * How a finished task says it was cancelled: `response.canceled` when the cancel found it between batches
 * (the usual case), a task_cancelled_exception when it interrupted a request in flight; undefined otherwise.
 */
export function cancellationOf(done: TaskAnswer): string | undefined {
  if (!done.task.cancelled) return undefined;
  if (done.response?.canceled) return done.response.canceled;
  return done.error?.type?.includes('task_cancelled') ? 'by user request' : undefined;
}

/** GET _tasks/<id> on the target until it reports completed (a cancelled task finishes within moments). */
export function finishedTask(taskId: string, timeoutMs = 20_000): Promise<TaskAnswer> {
  return pollUntil(
    `task ${taskId} to complete`,
    async () => {
      const answer = await rest<TaskAnswer>(defaultTarget().url, 'GET', `/_tasks/${taskId}`);
      return answer.status === 200 && answer.body.completed ? answer.body : undefined;
    },
    { timeoutMs },
  );
}

/**
 * A reindex from the source into `dest` started by someone else (the seed's pasted command): throttled to
 * one document per ten seconds so it is still running when the pipeline looks. With `ids`, it reads only
 * those documents, and `version_type: external` + `conflicts: proceed` against equal target copies makes it
 * write nothing.
 */
export async function startForeignReindex(options: { sourceIndex: string; dest: string; ids: readonly string[] }): Promise<string> {
  const target = clientFor(defaultTarget().url);
  const { body } = await target.transport.request(
    {
      method: 'POST',
      path: '/_reindex',
      querystring: { wait_for_completion: false, requests_per_second: 0.1 },
      body: {
        conflicts: 'proceed',
        source: {
          remote: { host: localServers().source.url },
          index: options.sourceIndex,
          size: 1,
          query: { ids: { values: [...options.ids] } },
        },
        dest: { index: options.dest, version_type: 'external' },
      },
    },
    { headers: { 'X-Opaque-Id': 'someone-else/pasted-from-the-seed' } },
  );
  return (body as { task: string }).task;
}

/** Waits until a throttled task has written its first batch and sleeps before the next one. */
export function parkedAfterFirstBatch(taskId: string, timeoutMs = 20_000): Promise<TaskAnswer> {
  return pollUntil(
    `task ${taskId} to finish its first batch`,
    async () => {
      const answer = await rest<TaskAnswer>(defaultTarget().url, 'GET', `/_tasks/${taskId}`);
      const status = answer.body.task?.status as { batches?: number; throttled_until_millis?: number } | undefined;
      return answer.status === 200 && (status?.batches ?? 0) >= 1 && (status?.throttled_until_millis ?? 0) > 0 ? answer.body : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** Cancels a task if it still runs (test clean-up). */
export async function cancelIfRunning(taskId: string | undefined): Promise<void> {
  if (!taskId) return;
  await rest(defaultTarget().url, 'POST', `/_tasks/${taskId}/_cancel`);
}

/** Document count of `index` on `url` after a refresh. */
export async function countOf(url: string, index: string): Promise<number> {
  await rest(url, 'POST', `/${index}/_refresh`);
  const answer = await rest<{ count: number }>(url, 'GET', `/${index}/_count`);
  return answer.body.count;
}

/** A uniquely named index seeded on the source and the target (dual-write copies), and the file's ledger table. */
export async function seededIndex(prefix: string, shape: WorkedExampleShape) {
  const index = uniqueIndex(prefix);
  const docs = await seedWorkedExample({
    source: clientFor(localServers().source.url),
    target: clientFor(defaultTarget().url),
    index,
    shape,
  });
  return { index, docs, tableName: fileLedgerTable };
}

/** The task a run without partitions is running now (its whole-index task, as the ledger records it), if launched. */
export async function runningTaskId(ledger: Ledger, runId: string): Promise<string | undefined> {
  return (await ledger.listPartitions(runId)).find((p) => p.partitionId === WHOLE_INDEX_PARTITION_ID)?.taskId;
}
