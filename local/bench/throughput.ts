import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Client } from '@opensearch-project/opensearch';
import type { LocalCluster } from '../clusters/cluster';
import { startFaultProxy } from '../fault-proxy/fault-proxy';
import { runLocal, type LocalRunOptions, type LocalRunResult } from '../pipeline';
import { scaledShape, seedWorkedExample } from '../seed/worked-example';
import type { RunLog } from '../../lambdas/shared/runtime/run-context';
import { project, projectionLines, WORKED_EXAMPLE_MONTH, WORKED_EXAMPLE_TASK_RATE } from './projection';

/**
 * Throughput (`npm run bench`, or this section alone: `npm run bench -- throughput`): the same
 * source index reindexed by the real pipeline (ASL, handlers, rails, polling, reconcile, parity) on the
 * local clusters, once as a single task and as partitioned runs at maxConcurrency 2, 4 and 8, then the
 * single task again (the noise check; the faster single run is the reference, so noise never flatters
 * the partitioned runs). Then the projection of the worked example's month and 13-month backfill.
 *
 * - Source: the worked example's shape scaled to `SAFE_REINDEX_BENCH_THROUGHPUT_DOCS` documents (default
 *   1,000,000), dated over the 31 UTC days of May 2026, so that date partitions split it evenly.
 * - Partitions: `partitions: 8` for every concurrency (8 day ranges of 3-4 days, plus the empty
 *   missing-date partition: 9 tasks), so each run does the same work in the same tasks and only the
 *   concurrency changes; a slot runs up to 5, 3 and 2 tasks in turn at c=2, 4 and 8 (a month's 32
 *   partitions at c=4 in production: 8). `maxTasksPerDomain` 8.
 * - Each run (dry run, then live) writes into its own new target index, created empty before the dry run
 *   with the source's mappings (1 shard by default, `SAFE_REINDEX_BENCH_TARGET_SHARDS`; 0 replicas) and deleted after: every document is `created`.
 * - Poll waits are the real adaptive ones (first poll 5 s after the launch: a partition much shorter than
 *   that, as at a reduced doc count, measures orchestration more than reindexing). The slot wait of a
 *   queued partition is 1 s instead of 15-120 s: local partitions take seconds, not ~7 minutes.
 * - Order: single, c=2, c=4, c=8, single again. When this section seeds its own source (run alone, or a
 *   reduced count), the JVMs are cold: one unmeasured partitioned run goes first.
 * - The timer ("reindex part") runs from the first launch state (LaunchReindex) to the
 *   state after the reindex (Reconcile / ReconcileRun): launches, rail 2 checks, waits, polls, slot
 *   hand-overs, per-partition reconcile. docs/s = source count / that time. The whole live execution
 *   (validate, lock, pre-flight, approval check, parity, finish) is printed beside it, and so is the
 *   tasks' own span on the server (first task start to last task end, from `_tasks`).
 * - CPU: utime + stime of each JVM (/proc/<pid>/stat), of this Node process (runner, handlers, the
 *   in-process dynalite ledger) and of the whole machine (/proc/stat) over the same window as the timer,
 *   as % of one core. The machine's rest is every other process (other work on a shared machine).
 *
 * Figure 7 is CPU bound: the source is on this machine, so one task already uses most of the cores.
 * Figure 7c is the same measurement with the source network-distant, as in production, where one task
 * is latency bound (one scroll page at a time): every request to the source goes through the project's
 * fault proxy (local/fault-proxy) with a fixed delay before it is forwarded to the real Elasticsearch,
 * `SAFE_REINDEX_BENCH_SOURCE_DELAY_MS` (default 150 ms), so the remote scroll pays one round trip per
 * batch of 1,000. 150 ms puts one local task near the production per-task rate (~20 ms of local work +
 * 150 ms per batch = ~5,900 docs/s; the worked example's task: ~4,700 docs/s = ~210 ms per batch).
 * Its source has `SAFE_REINDEX_BENCH_LATENCY_DOCS` documents (default 200,000: about 2 minutes for the
 * five runs); the run input's `source.url` is the proxy's (127.0.0.1, another port: in the local
 * servers' reindex.remote allowlist, and not the target's address, so the same-cluster check passes).
 * The handlers' own source requests go through the proxy too; within the timer there are none but the
 * reindex tasks' scroll requests, which the proxy's log counts.
 */

export const THROUGHPUT_DOCS_ENV = 'SAFE_REINDEX_BENCH_THROUGHPUT_DOCS';
export const DOMAIN_CAPACITY_ENV = 'SAFE_REINDEX_BENCH_DOMAIN_CAPACITY';
export const TASK_RATE_ENV = 'SAFE_REINDEX_BENCH_TASK_RATE';
export const DEFAULT_THROUGHPUT_DOCS = 1_000_000;
export const LATENCY_DOCS_ENV = 'SAFE_REINDEX_BENCH_LATENCY_DOCS';
export const SOURCE_DELAY_ENV = 'SAFE_REINDEX_BENCH_SOURCE_DELAY_MS';
export const DEFAULT_LATENCY_DOCS = 200_000;
/** Delay the fault proxy adds before forwarding each request to the source (figure 7c). */
export const DEFAULT_SOURCE_DELAY_MS = 150;
/** An assumed domain ingest capacity, to be replaced by the target domain's measured indexing rate. */
export const DEFAULT_DOMAIN_CAPACITY = 20_000;
/** Assumed orchestration cost per further partition of a slot in production (see projection.ts). */
export const PRODUCTION_OVERHEAD_SECONDS = 30;

const CONCURRENCIES = [2, 4, 8] as const;
const PARTITIONS = 8;
const MAX_TASKS_PER_DOMAIN = 8;
const SLOT_WAIT_MS = 1000;
const BATCH = 1000;
const GOAL_RATIO_AT_4 = 2;

export interface ThroughputRow {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

export interface ThroughputContext {
  readonly es: LocalCluster;
  readonly os: LocalCluster;
  readonly source: Client;
  readonly target: Client;
  /** targetUrl, ledgerEndpoint, tableName. */
  readonly common: Omit<LocalRunOptions, 'input'>;
  /** A source index already seeded with the worked example's shape, reused when it has the wanted count. */
  readonly reuse?: { readonly index: string; readonly docs: number };
  readonly stamp: string;
  readonly say: (line: string) => void;
  readonly progressLog: (tag: string) => RunLog;
  /** The figure's number in the bench output. @default 7 */
  readonly figure?: number;
}

export interface ThroughputFigure {
  readonly lines: string[];
  readonly rows: ThroughputRow[];
}

export function numberFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name]?.replace(/[_,]/g, '');
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${env[name]}: a number above 0 is needed`);
  return value;
}

/** The source's document count: `SAFE_REINDEX_BENCH_THROUGHPUT_DOCS`, default 1,000,000 (at least 1,000). */
export function throughputDocs(env: NodeJS.ProcessEnv = process.env): number {
  const docs = Math.round(numberFromEnv(THROUGHPUT_DOCS_ENV, DEFAULT_THROUGHPUT_DOCS, env));
  if (docs < 1000) throw new Error(`${THROUGHPUT_DOCS_ENV}=${docs}: at least 1,000 documents`);
  return docs;
}

/** Figure 7c's source document count: `SAFE_REINDEX_BENCH_LATENCY_DOCS`, default 200,000 (at least 1,000). */
export function latencyDocs(env: NodeJS.ProcessEnv = process.env): number {
  const docs = Math.round(numberFromEnv(LATENCY_DOCS_ENV, DEFAULT_LATENCY_DOCS, env));
  if (docs < 1000) throw new Error(`${LATENCY_DOCS_ENV}=${docs}: at least 1,000 documents`);
  return docs;
}

/** Figure 7c's delay per source request in ms: `SAFE_REINDEX_BENCH_SOURCE_DELAY_MS`, default 150. */
export function sourceDelayMs(env: NodeJS.ProcessEnv = process.env): number {
  return Math.round(numberFromEnv(SOURCE_DELAY_ENV, DEFAULT_SOURCE_DELAY_MS, env));
}

/** The target index's shard count: `SAFE_REINDEX_BENCH_TARGET_SHARDS`, default 1 (more lets the target index on more threads). */
export function targetShards(env: NodeJS.ProcessEnv = process.env): number {
  return Math.round(numberFromEnv('SAFE_REINDEX_BENCH_TARGET_SHARDS', 1, env));
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in clock ticks; undefined when it is gone. */
function processTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Busy ticks of the whole machine (all cores): everything but idle and iowait. */
function machineTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return total - (values[3] ?? 0) - (values[4] ?? 0);
}

interface Sample {
  readonly at: number;
  /** Epoch ms, to set the timer beside the tasks' own start times. */
  readonly wall: number;
  readonly es: number | undefined;
  readonly os: number | undefined;
  readonly node: NodeJS.CpuUsage;
  readonly machine: number;
  /** Requests the source's proxy had logged (figure 7c); 0 without one. */
  readonly sourceRequests: number;
}

/** CPU over a window, as % of one core (200% = both cores of a 2-core machine). */
export interface CpuUse {
  readonly es: number;
  readonly os: number;
  readonly node: number;
  readonly machine: number;
  /** The machine minus the three above: other processes. */
  readonly rest: number;
}

function cpuBetween(a: Sample, b: Sample): CpuUse {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number) => (100 * ticks) / CLK_TCK / seconds;
  const jvm = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? NaN : pct(y - x));
  const es = jvm(a.es, b.es);
  const os = jvm(a.os, b.os);
  const du = process.cpuUsage(a.node);
  const nodePct = (100 * (du.user + du.system)) / 1e6 / seconds;
  // Clamped: the counters are read a few microseconds apart.
  const machine = pct(b.machine - a.machine);
  return { es, os, node: nodePct, machine, rest: Math.max(0, machine - es - os - nodePct) };
}

// ---------------------------------------------------------------------------------------------------
// One measured run

export interface ThroughputRun {
  readonly label: string;
  /** 1 for the single task. */
  readonly concurrency: number;
  readonly status: string;
  readonly docs: number;
  readonly created: number;
  readonly tasks: number;
  /** The timer: first launch state -> Reconcile / ReconcileRun. */
  readonly reindexSeconds: number;
  readonly docsPerSecond: number;
  /** The whole live execution. */
  readonly liveSeconds: number;
  readonly drySeconds: number;
  /** First task start -> last task end, on the server. */
  readonly taskSpanSeconds: number;
  /** Sum of the tasks' running times: docs / this is the per-task rate while they share the machine. */
  readonly taskSecondsSum: number;
  readonly slotTries: number;
  readonly historyEvents: number;
  readonly cpu: CpuUse;
  /** Documents per scroll batch the run sent (an "auto" size as its dry run resolved it). */
  readonly batchSize: number;
  /** Requests that reached the source's proxy within the timer (figure 7c), each paying its delay; NaN without a proxy. */
  readonly sourceRequests: number;
  /** Every task of the run on the server, by start time (empty when one could not be read). */
  readonly taskTimes: readonly TaskInfo[];
  /** The timer's ends, epoch ms. */
  readonly timerStartMs: number;
  readonly timerEndMs: number;
}

/** The source reached through a proxy (figure 7c): its URL for the run input, and how many requests it has seen. */
export interface SourceVia {
  readonly url: string;
  readonly requestCount: () => number;
}

/** One reindex task as the target's `_tasks` stored it: epoch start and running time. */
export interface TaskInfo {
  readonly startMs: number;
  readonly runningSeconds: number;
}

async function taskInfo(target: Client, taskId: string): Promise<TaskInfo | undefined> {
  try {
    const { body } = await target.tasks.get({ task_id: taskId }, { requestTimeout: 30_000 });
    const task = (body as { task?: { start_time_in_millis?: number; running_time_in_nanos?: number } }).task;
    if (task?.start_time_in_millis === undefined || task.running_time_in_nanos === undefined) return undefined;
    return { startMs: task.start_time_in_millis, runningSeconds: task.running_time_in_nanos / 1e9 };
  } catch {
    return undefined;
  }
}

function taskIdsOf(result: LocalRunResult): string[] {
  const record = result.record;
  if (!record) return [];
  const parts = record.partitions as ReadonlyArray<{ taskIds?: string[] }> | undefined;
  return parts ? parts.flatMap((p) => p.taskIds ?? []) : [];
}

export async function createTarget(ctx: ThroughputContext, sourceIndex: string, index: string): Promise<void> {
  const { body } = await ctx.source.indices.getMapping({ index: sourceIndex });
  const mappings = (body as Record<string, { mappings: Record<string, unknown> }>)[sourceIndex]!.mappings;
  await ctx.target.indices.delete({ index, ignore_unavailable: true });
  await ctx.target.indices.create({ index, body: { settings: { number_of_shards: targetShards(), number_of_replicas: 0 }, mappings } });
}

export async function measureRun(
  ctx: ThroughputContext,
  sourceIndex: string,
  docs: number,
  label: string,
  concurrency: number,
  via?: SourceVia,
  batchSize: number | 'auto' = BATCH,
  partitions: number = PARTITIONS,
): Promise<ThroughputRun> {
  const targetIndex = `bench-tp-${ctx.stamp}-${label}`;
  const runId = `tp-${ctx.stamp}-${label}`;
  await createTarget(ctx, sourceIndex, targetIndex);
  const input = {
    source: { url: via?.url ?? ctx.es.url, index: sourceIndex },
    target: { index: targetIndex },
    dateField: 'timestamp',
    batchSize,
    ...(concurrency > 1 ? { partitions, maxConcurrency: concurrency } : {}),
  };
  const options = { ...ctx.common, maxTasksPerDomain: MAX_TASKS_PER_DOMAIN, slotWaitMs: SLOT_WAIT_MS };

  const dryStart = performance.now();
  const dry = await runLocal({ ...options, log: ctx.progressLog(`${runId}-dry`), input: { ...input, runId: `${runId}-dry`, dryRun: true } });
  const drySeconds = (performance.now() - dryStart) / 1000;
  if (dry.status !== 'SUCCEEDED') throw new Error(`dry run ${runId}-dry: ${dry.error}: ${dry.cause}`);

  const sample = (): Sample => ({
    at: performance.now(),
    wall: Date.now(),
    es: processTicks(ctx.es.pid()),
    os: processTicks(ctx.os.pid()),
    node: process.cpuUsage(),
    machine: machineTicks(),
    sourceRequests: via ? via.requestCount() : 0,
  });
  const endKey = 'ReconcileRunFunctionArn';
  let start: Sample | undefined;
  let end: Sample | undefined;
  let slotTries = 0;
  const liveStart = performance.now();
  const live = await runLocal({
    ...options,
    log: ctx.progressLog(runId),
    input: { ...input, runId, dryRun: false },
    beforeState: (key) => {
      if (key === 'AcquireTaskSlotFunctionArn') slotTries += 1;
      if (start === undefined && key === 'LaunchReindexFunctionArn') start = sample();
      if (start !== undefined && end === undefined && key === endKey) end = sample();
    },
  });
  const liveSeconds = (performance.now() - liveStart) / 1000;
  if (live.status !== 'SUCCEEDED' || !start || !end) throw new Error(`live run ${runId}: ${live.status} ${live.error ?? ''}: ${live.cause ?? ''}`);

  const ids = taskIdsOf(live);
  const infos = (await Promise.all(ids.map((id) => taskInfo(ctx.target, id)))).filter((t): t is TaskInfo => t !== undefined);
  const firstStart = Math.min(...infos.map((t) => t.startMs));
  const lastEnd = Math.max(...infos.map((t) => t.startMs + t.runningSeconds * 1000));
  const counters = live.record?.counters as { created?: number } | undefined;
  const sentBatch = live.record?.batch?.batchSize ?? (typeof batchSize === 'number' ? batchSize : NaN);
  const reindexSeconds = (end.at - start.at) / 1000;
  await ctx.target.indices.delete({ index: targetIndex, ignore_unavailable: true });
  return {
    label,
    concurrency,
    status: live.status,
    docs,
    created: counters?.created ?? NaN,
    tasks: ids.length,
    reindexSeconds,
    docsPerSecond: docs / reindexSeconds,
    liveSeconds,
    drySeconds,
    taskSpanSeconds: infos.length === ids.length && infos.length > 0 ? (lastEnd - firstStart) / 1000 : NaN,
    taskSecondsSum: infos.length === ids.length ? infos.reduce((a, t) => a + t.runningSeconds, 0) : NaN,
    slotTries,
    historyEvents: live.execution.historyEvents,
    cpu: cpuBetween(start, end),
    sourceRequests: via ? end.sourceRequests - start.sourceRequests : NaN,
    batchSize: sentBatch,
    taskTimes: infos.length === ids.length ? [...infos].sort((x, y) => x.startMs - y.startMs) : [],
    timerStartMs: start.wall,
    timerEndMs: end.wall,
  };
}

export async function sourceIndexFor(ctx: ThroughputContext, docs: number): Promise<string> {
  if (ctx.reuse && ctx.reuse.docs === docs) {
    await ctx.source.indices.refresh({ index: ctx.reuse.index });
    const { body } = await ctx.source.count({ index: ctx.reuse.index });
    if ((body as { count: number }).count === docs) return ctx.reuse.index;
  }
  const index = `bench-tp-source-${docs}`;
  // Figure 7c at figure 7's count (a reduced run) reads the index figure 7 seeded.
  const existing = await ctx.source.count({ index }).then(
    ({ body }) => (body as { count: number }).count,
    () => undefined,
  );
  if (existing === docs) return index;
  ctx.say(`    seeding ${index} (${docs.toLocaleString('en-US')} docs over the 31 days of May 2026, source only)...`);
  const started = performance.now();
  await seedWorkedExample({ source: ctx.source, index, shape: scaledShape(docs), progress: ctx.say });
  ctx.say(`    seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return index;
}

// ---------------------------------------------------------------------------------------------------
// The figure

/** Piecewise-linear through (1, 1) and the measured (n, efficiency) points; flat beyond the last. */
function interpolate(points: ReadonlyArray<readonly [number, number]>): (n: number) => number {
  const sorted = [[1, 1] as const, ...points].sort((a, b) => a[0] - b[0]);
  return (n) => {
    if (n <= sorted[0]![0]) return sorted[0]![1];
    for (let i = 1; i < sorted.length; i++) {
      const [x0, y0] = sorted[i - 1]!;
      const [x1, y1] = sorted[i]!;
      if (n <= x1) return y0 + ((y1 - y0) * (n - x0)) / (x1 - x0);
    }
    return sorted[sorted.length - 1]![1];
  };
}

const n = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '?');
const s1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '?');
const pct = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : '?');
/** Share of the slots' time (min(c, tasks) x timer) the tasks were running on the server. */
export const busy = (r: ThroughputRun) => r.taskSecondsSum / (Math.min(r.concurrency, r.tasks) * r.reindexSeconds);
/** CPU seconds of ES + OpenSearch + node per 1,000 documents: the pipeline's own cost, whatever else runs. */
const cpuPer1k = (r: ThroughputRun) => ((r.cpu.es + r.cpu.os + r.cpu.node) / 100) * r.reindexSeconds * (1000 / r.docs);
/** One task's rate while the tasks share the machine: docs / the sum of their running times. */
export const perTask = (r: ThroughputRun) => r.docs / r.taskSecondsSum;

interface Series {
  readonly runs: ThroughputRun[];
  readonly singles: ThroughputRun[];
  /** The faster single run: noise never flatters the partitioned runs. */
  readonly reference: ThroughputRun;
  readonly ratio: (r: ThroughputRun) => number;
  readonly at: (c: number) => ThroughputRun;
}

/** Single, partitioned at each concurrency, single again: each a dry run + live run into a new target. */
async function measureSeries(ctx: ThroughputContext, sourceIndex: string, docs: number, prefix = '', via?: SourceVia): Promise<Series> {
  const runs: ThroughputRun[] = [];
  const plan: Array<[string, number]> = [['single', 1], ...CONCURRENCIES.map((c) => [`c${c}`, c] as [string, number]), ['single-again', 1]];
  for (const [label, concurrency] of plan) {
    ctx.say(`    ${prefix}${label}: dry run, then live run into a new target index...`);
    const run = await measureRun(ctx, sourceIndex, docs, `${prefix}${label}`, concurrency, via);
    ctx.say(`    ${prefix}${label}: ${s1(run.reindexSeconds)} s reindex part, ${n(run.docsPerSecond)} docs/s (live run ${s1(run.liveSeconds)} s)`);
    runs.push({ ...run, label });
  }
  const singles = runs.filter((r) => r.concurrency === 1);
  const reference = singles.reduce((a, b) => (b.docsPerSecond > a.docsPerSecond ? b : a));
  return {
    runs,
    singles,
    reference,
    ratio: (r) => r.docsPerSecond / reference.docsPerSecond,
    at: (c) => runs.find((r) => r.concurrency === c)!,
  };
}

/** The runs' table; `extra` adds columns after the last. */
function runTable(series: Series, extra?: { readonly header: string; readonly cells: (r: ThroughputRun) => string }): string[] {
  const lines = [`run              tasks  timer s   docs/s  x single  per task  slots busy  task span s  live s   ES CPU  OS CPU  node  machine  rest  CPU s/1k docs${extra ? extra.header : ''}`];
  for (const r of series.runs) {
    lines.push(
      [
        (r.concurrency === 1 ? r.label : `partitioned c=${r.concurrency}`).padEnd(15),
        String(r.tasks).padStart(6),
        s1(r.reindexSeconds).padStart(8),
        n(r.docsPerSecond).padStart(8),
        `${series.ratio(r).toFixed(2)}x`.padStart(9),
        n(perTask(r)).padStart(9),
        pct(100 * busy(r)).padStart(11),
        s1(r.taskSpanSeconds).padStart(12),
        s1(r.liveSeconds).padStart(7),
        pct(r.cpu.es).padStart(8),
        pct(r.cpu.os).padStart(7),
        pct(r.cpu.node).padStart(5),
        pct(r.cpu.machine).padStart(8),
        pct(r.cpu.rest).padStart(5),
        cpuPer1k(r).toFixed(3).padStart(14),
      ].join(' ') + (extra ? extra.cells(r) : ''),
    );
  }
  return lines;
}

export async function figureThroughput(ctx: ThroughputContext): Promise<ThroughputFigure> {
  const docs = throughputDocs();
  const capacity = numberFromEnv(DOMAIN_CAPACITY_ENV, DEFAULT_DOMAIN_CAPACITY);
  const taskRate = numberFromEnv(TASK_RATE_ENV, WORKED_EXAMPLE_TASK_RATE);
  const fig = ctx.figure ?? 7;
  const cores = cpus().length;

  ctx.say(`\n[throughput] ${n(docs)} docs: single task, partitions ${PARTITIONS} at concurrency ${CONCURRENCIES.join(', ')}, single task again`);
  const sourceIndex = await sourceIndexFor(ctx, docs);
  // JVMs that have reindexed nothing yet (this section alone) are warmed by one unmeasured run first.
  if (sourceIndex !== ctx.reuse?.index) ctx.say('    warm-up: one unmeasured partitioned run (c=8)...');
  const warmUp = sourceIndex === ctx.reuse?.index ? undefined : await measureRun(ctx, sourceIndex, docs, 'warm-up', 8);
  const series = await measureSeries(ctx, sourceIndex, docs);
  const { runs, singles, reference, ratio, at } = series;

  const lines: string[] = [];
  lines.push(`## ${fig}. Throughput — single task vs partitioned: real pipeline, real clusters, ${n(docs)} docs${docs === DEFAULT_THROUGHPUT_DOCS ? '' : ` (REDUCED by ${THROUGHPUT_DOCS_ENV})`}`);
  lines.push(`source ${sourceIndex} (${n(docs)} docs over 31 UTC days); each run: dry run + live run into a new empty target index (${targetShards()} shard(s), 0 replicas), merge mode, batch ${BATCH};`);
  lines.push(`partitioned: partitions ${PARTITIONS} (+ missing-date = 9 tasks) at maxConcurrency 2/4/8, maxTasksPerDomain ${MAX_TASKS_PER_DOMAIN}; real poll waits, slot wait ${SLOT_WAIT_MS / 1000} s (AWS: 15-120 s)`);
  lines.push(`timer = first launch state -> Reconcile/ReconcileRun (launches, rail 2, polls, hand-overs, partition reconciles); docs/s = source count / timer`);
  lines.push(`CPU = utime+stime over the timer's window, % of one core (${cores} cores = ${cores * 100}%); node = runner + handlers + dynalite; rest = other processes`);
  lines.push(...runTable(series));
  const spread = (100 * Math.abs(singles[0]!.docsPerSecond - singles[singles.length - 1]!.docsPerSecond)) / reference.docsPerSecond;
  lines.push(`reference: the faster single run (${n(reference.docsPerSecond)} docs/s); the two single runs are ${s1(spread)}% apart (noise)`);
  lines.push('per task = docs / sum of the tasks\' running times (one task\'s rate while they share the machine); slots busy = that sum / (min(c, tasks) x timer)');
  lines.push(`dry runs ${runs.map((r) => s1(r.drySeconds)).join(' / ')} s; slot tries ${runs.map((r) => r.slotTries).join(' / ')}; history events ${runs.map((r) => r.historyEvents).join(' / ')} (in table order)`);
  const idle = (r: ThroughputRun) => (Math.min(r.concurrency, r.tasks) * r.reindexSeconds - r.taskSecondsSum) / r.tasks;
  lines.push(
    `slot time not reindexing, per task (launch, rail 2, end detection, reconcile, hand-over): ${runs
      .filter((r) => r.concurrency > 1)
      .map((r) => `c=${r.concurrency} ${s1(idle(r))} s`)
      .join(', ')} (the projection assumes ${PRODUCTION_OVERHEAD_SECONDS} s with AWS's 15-120 s slot back-off)`,
  );
  if (warmUp) lines.push(`before these runs, one unmeasured warm-up run (partitioned c=8, ${s1(warmUp.reindexSeconds)} s): the JVMs had reindexed nothing yet`);
  const bad = runs.filter((r) => r.created !== r.docs);
  lines.push(bad.length === 0 ? `every run: created = ${n(docs)} = source count, parity OK` : `COUNT MISMATCH: ${bad.map((r) => `${r.label} created ${n(r.created)}`).join(', ')}`);

  const c4 = at(4);
  const ratio4 = ratio(c4);
  const cpuLine = (r: ThroughputRun) =>
    `machine ${pct(r.cpu.machine)} of ${cores * 100}% (ES ${pct(r.cpu.es)}, OpenSearch ${pct(r.cpu.os)}, node ${pct(r.cpu.node)}, other processes ${pct(r.cpu.rest)})`;
  // If ES, OpenSearch and node had every core at the cost per document they showed: the CPU's bound on the rate.
  const ceiling = (r: ThroughputRun) => (cores * 1000) / cpuPer1k(r);
  lines.push(
    `${ratio4 >= GOAL_RATIO_AT_4 ? 'goal met' : 'goal not met'}: concurrency 4 writes ${ratio4.toFixed(2)}x the single task (goal ${GOAL_RATIO_AT_4}x). Where the limit lies:`,
  );
  lines.push(`  single task:   ${cpuLine(reference)}; slots busy ${pct(100 * busy(reference))}`);
  lines.push(`  concurrency 4: ${cpuLine(c4)}; slots busy ${pct(100 * busy(c4))}`);
  lines.push(
    `  CPU bound: at ${cpuPer1k(c4).toFixed(3)} CPU s per 1,000 docs (c=4; single ${cpuPer1k(reference).toFixed(3)}), all ${cores} cores would carry at most ` +
      `${n(ceiling(c4))} docs/s = ${(ceiling(c4) / reference.docsPerSecond).toFixed(2)}x the single task`,
  );
  if (c4.cpu.machine >= 0.9 * cores * 100) lines.push(`  the ${cores} cores were saturated during the c=4 run (${pct(c4.cpu.machine)}): more tasks only divide the same CPU`);
  if (busy(c4) < 0.7) lines.push(`  the slots were idle ${pct(100 - 100 * busy(c4))} of the c=4 run: per-partition orchestration (above) is large against partitions this small`);
  const busiestRest = Math.max(...runs.map((r) => r.cpu.rest));
  if (busiestRest >= 25) lines.push(`LOADED MACHINE: other processes took up to ${pct(busiestRest)} of one core during a run; these figures are not clean (run again on a quiet machine)`);
  lines.push('');

  // Projection: the worked example on a domain, at the per-task rate, single task vs partitioned.
  const inputs = {
    docsPerMonth: WORKED_EXAMPLE_MONTH.docs,
    months: 13,
    perTaskDocsPerSecond: taskRate,
    domainCapacityDocsPerSecond: capacity,
    maxTasksPerDomain: MAX_TASKS_PER_DOMAIN,
    concurrencies: CONCURRENCIES,
    partitions: 'auto' as const,
    perPartitionOverheadSeconds: PRODUCTION_OVERHEAD_SECONDS,
  };
  const measured = interpolate(CONCURRENCIES.map((c) => [c, ratio(at(c)) / c] as const));
  const ideal = project(inputs);
  const local = project({ ...inputs, efficiency: measured });
  lines.push(`## ${fig}b. Projection — the worked example's month and the 13-month backfill (model: local/bench/projection.ts)`);
  lines.push(`per-task rate: ${TASK_RATE_ENV} or the worked example's measured ${n(WORKED_EXAMPLE_TASK_RATE)} docs/s; domain capacity: ${DOMAIN_CAPACITY_ENV} or ${n(DEFAULT_DOMAIN_CAPACITY)} (an assumption, not a measurement)`);
  lines.push(...projectionLines(ideal));
  lines.push(`with this machine's scaling efficiency (x single / c: ${CONCURRENCIES.map((c) => `c=${c} ${(ratio(at(c)) / c).toFixed(2)}`).join(', ')}; two JVMs on ${cores} cores, not a domain):`);
  lines.push(...projectionLines(local, 'measured here, interpolated').slice(4));
  lines.push('');

  const single = ideal.rows[0]!;
  const p4 = ideal.rows.find((r) => r.concurrency === 4)!;
  const rows: ThroughputRow[] = [
    {
      figure: `${fig}. throughput at concurrency 4 vs single task (${n(docs)} docs)`,
      value: `${ratio4.toFixed(2)}x (${n(c4.docsPerSecond)} vs ${n(reference.docsPerSecond)} docs/s)`,
      goal: `>= ${GOAL_RATIO_AT_4}x`,
      met: ratio4 >= GOAL_RATIO_AT_4,
    },
    {
      figure: `${fig}. throughput at concurrency 2 / 8 vs single task`,
      value: `${ratio(at(2)).toFixed(2)}x / ${ratio(at(8)).toFixed(2)}x`,
      goal: '(info)',
      met: null,
    },
    {
      figure: `${fig}. CPU bound on the gain (${cores} cores, c=4's CPU per doc)`,
      value: `${n(ceiling(c4))} docs/s = ${(ceiling(c4) / reference.docsPerSecond).toFixed(2)}x single`,
      goal: '(info)',
      met: null,
    },
    {
      figure: `${fig}. CPU at concurrency 4: ES / OpenSearch / machine`,
      value: `${pct(c4.cpu.es)} / ${pct(c4.cpu.os)} / ${pct(c4.cpu.machine)} of ${cores * 100}%`,
      goal: '(info)',
      met: null,
    },
    {
      figure: `${fig}. projection: month, single vs c=4 (capacity ${n(capacity)} docs/s)`,
      value: `${s1(single.monthSeconds / 3600)} h vs ${s1(p4.monthSeconds / 3600)} h; 13 months ${s1(single.sequentialSeconds / 3600)} h vs ${s1(p4.sequentialSeconds / 3600)} h`,
      goal: '(info)',
      met: null,
    },
  ];
  const latency = await figureLatency(ctx, fig);
  lines.push(...latency.lines);
  rows.push(...latency.rows);
  return { lines, rows };
}

/**
 * Figure 7c: figure 7's runs with the source network-distant (every request through the fault proxy,
 * `sourceDelayMs()` late), so that one task is latency bound as a remote scroll is in production.
 */
async function figureLatency(ctx: ThroughputContext, fig: number): Promise<ThroughputFigure> {
  const docs = latencyDocs();
  const delay = sourceDelayMs();
  const cores = cpus().length;
  ctx.say(
    `\n[throughput, source ${delay} ms away] ${n(docs)} docs, every source request through the fault proxy ${delay} ms late: ` +
      `single task, partitions ${PARTITIONS} at concurrency ${CONCURRENCIES.join(', ')}, single task again`,
  );
  const sourceIndex = await sourceIndexFor(ctx, docs);
  const proxy = await startFaultProxy({ target: ctx.es.url });
  let series: Series;
  try {
    proxy.inject({ path: '*', action: { kind: 'delay', ms: delay } });
    series = await measureSeries(ctx, sourceIndex, docs, 'lat-', { url: proxy.url, requestCount: () => proxy.requests().length });
  } finally {
    await proxy.stop();
  }
  const { runs, singles, reference, ratio, at } = series;
  /** Share of the tasks' running time spent waiting for the proxy's delay: one delay per request. */
  const waiting = (r: ThroughputRun) => (r.sourceRequests * delay) / 1000 / r.taskSecondsSum;
  const batches = docs / BATCH;
  /** Milliseconds per batch of one task: its round trips to the source plus the local work. */
  const batchMs = (r: ThroughputRun) => (1000 * BATCH) / perTask(r);
  /** Round trips to the source per batch: a scroll page each, plus each task's own opening and closing requests. */
  const tripsPerBatch = (r: ThroughputRun) => r.sourceRequests / batches;
  /** Milliseconds of local work per batch (scroll on ES, bulk into the target): the tasks' time minus their delays. */
  const localMs = (r: ThroughputRun) => (1000 * r.taskSecondsSum - r.sourceRequests * delay) / batches;
  const worked = WORKED_EXAMPLE_TASK_RATE;

  const lines: string[] = [];
  lines.push(
    `## ${fig}c. Throughput with the source network-distant — figure ${fig}'s runs, every source request ${delay} ms late (fault proxy), ${n(docs)} docs` +
      `${docs === DEFAULT_LATENCY_DOCS ? '' : ` (${LATENCY_DOCS_ENV})`}`,
  );
  lines.push(
    `source ${sourceIndex} through the fault proxy (local/fault-proxy, delay rule on every request, then forwarded to the real Elasticsearch); ` +
      `run input source.url = the proxy's ${proxy.url}`,
  );
  lines.push(
    `delay ${delay} ms per request (${SOURCE_DELAY_ENV}): one round trip per scroll page of ${BATCH}, so one task is latency bound, near the production per-task rate ` +
      `(the worked example's task: ${n(worked)} docs/s = ${n((1000 * BATCH) / worked)} ms per batch)`,
  );
  lines.push(`otherwise as figure ${fig}: partitions ${PARTITIONS} (9 tasks) at maxConcurrency 2/4/8, new empty target per run, same timer and CPU (node also runs the proxy)`);
  lines.push(
    ...runTable(series, {
      header: '  src req  waiting',
      cells: (r) => `  ${n(r.sourceRequests).padStart(7)}  ${pct(100 * waiting(r)).padStart(7)}`,
    }),
  );
  const spread = (100 * Math.abs(singles[0]!.docsPerSecond - singles[singles.length - 1]!.docsPerSecond)) / reference.docsPerSecond;
  lines.push(`reference: the faster single run (${n(reference.docsPerSecond)} docs/s); the two single runs are ${s1(spread)}% apart (noise)`);
  lines.push(
    `src req = requests through the proxy within the timer, each ${delay} ms late (every task's own: version check, first search, scroll pages, clear scroll; ` +
      `the handlers send none there); waiting = src req x ${delay} ms / the tasks' running time`,
  );
  lines.push(`dry runs ${runs.map((r) => s1(r.drySeconds)).join(' / ')} s; slot tries ${runs.map((r) => r.slotTries).join(' / ')}; history events ${runs.map((r) => r.historyEvents).join(' / ')} (in table order)`);
  const idle = (r: ThroughputRun) => (Math.min(r.concurrency, r.tasks) * r.reindexSeconds - r.taskSecondsSum) / r.tasks;
  const partitioned = runs.filter((r) => r.concurrency > 1);
  lines.push(
    `per partition (c=${partitioned.map((r) => r.concurrency).join(' / ')}): slot time not reindexing ${partitioned.map((r) => s1(idle(r))).join(' / ')} s ` +
      `(launch, rail 2, end detection, reconcile, hand-over; the first poll comes 5 s after a launch) beside a task of ${partitioned
        .map((r) => s1(r.taskSecondsSum / r.tasks))
        .join(' / ')} s`,
  );
  const bad = runs.filter((r) => r.created !== r.docs);
  lines.push(bad.length === 0 ? `every run: created = ${n(docs)} = source count, parity OK` : `COUNT MISMATCH: ${bad.map((r) => `${r.label} created ${n(r.created)}`).join(', ')}`);

  const c4 = at(4);
  const ratio4 = ratio(c4);
  const slots = Math.min(4, c4.tasks);
  const busyFactor = busy(c4) / busy(reference);
  const taskFactor = perTask(c4) / perTask(reference);
  const ceiling = (r: ThroughputRun) => (cores * 1000) / cpuPer1k(r);
  lines.push(
    `${ratio4 >= GOAL_RATIO_AT_4 ? 'goal met' : 'goal not met'}: concurrency 4 writes ${ratio4.toFixed(2)}x the single task (goal ${GOAL_RATIO_AT_4}x). Where the limit lies:`,
  );
  lines.push(
    `  x single = ${slots} slots x slots busy (${pct(100 * busy(c4))} vs ${pct(100 * busy(reference))} single = ${busyFactor.toFixed(2)}) ` +
      `x per-task rate (${n(perTask(c4))} vs ${n(perTask(reference))} docs/s = ${taskFactor.toFixed(2)}) = ${(slots * busyFactor * taskFactor).toFixed(2)}x`,
  );
  lines.push(
    `  single task:   ${s1(batchMs(reference))} ms per batch of ${BATCH}, ${delay} ms of it the source's delay (waiting ${pct(100 * waiting(reference))}): latency bound; ` +
      `machine CPU ${pct(reference.cpu.machine)} of ${cores * 100}% (ES ${pct(reference.cpu.es)}, OpenSearch ${pct(reference.cpu.os)}, node ${pct(reference.cpu.node)})`,
  );
  lines.push(
    `  concurrency 4: ${s1(batchMs(c4))} ms per batch per task (waiting ${pct(100 * waiting(c4))}); ` +
      `machine CPU ${pct(c4.cpu.machine)} (ES ${pct(c4.cpu.es)}, OpenSearch ${pct(c4.cpu.os)}, node ${pct(c4.cpu.node)}, other processes ${pct(c4.cpu.rest)})`,
  );
  lines.push(
    `  bounds at c=4: latency (4 tasks always busy at the single task's rate) ${n(4 * perTask(reference))} docs/s = ${((4 * perTask(reference)) / reference.docsPerSecond).toFixed(2)}x; ` +
      `CPU (${cores} cores at c=4's ${cpuPer1k(c4).toFixed(3)} CPU s per 1,000 docs) ${n(ceiling(c4))} docs/s = ${(ceiling(c4) / reference.docsPerSecond).toFixed(2)}x`,
  );
  if (busyFactor < 0.85) {
    lines.push(
      `  the slots were idle ${pct(100 - 100 * busy(c4))} of the c=4 run: launch, end detection (first poll 5 s after a launch), reconcile and hand-over per partition, against partitions of ${s1(c4.taskSecondsSum / c4.tasks)} s`,
    );
  }
  lines.push(
    `  per batch of ${BATCH}, c=4 vs single: ${tripsPerBatch(c4).toFixed(2)} vs ${tripsPerBatch(reference).toFixed(2)} round trips to the source ` +
      `(${c4.tasks} tasks each open and close their own scroll) and ${s1(localMs(c4))} vs ${s1(localMs(reference))} ms of local work ` +
      `(scroll on ES, bulk into ${targetShards()} target shard(s); 4 tasks at once on a machine at ${pct(c4.cpu.machine)} of ${cores * 100}%` +
      `${c4.cpu.rest >= 25 ? `, ${pct(c4.cpu.rest)} of it other processes` : ''})`,
  );
  const busiestRest = Math.max(...runs.map((r) => r.cpu.rest));
  if (busiestRest >= 25) lines.push(`LOADED MACHINE: other processes took up to ${pct(busiestRest)} of one core during a run; these figures are not clean (run again on a quiet machine)`);
  lines.push('');

  const rows: ThroughputRow[] = [
    {
      figure: `${fig}c. throughput at concurrency 4 vs single task, source ${delay} ms away`,
      value: `${ratio4.toFixed(2)}x (${n(c4.docsPerSecond)} vs ${n(reference.docsPerSecond)} docs/s)`,
      goal: `>= ${GOAL_RATIO_AT_4}x`,
      met: ratio4 >= GOAL_RATIO_AT_4,
    },
    {
      figure: `${fig}c. throughput at concurrency 2 / 8 vs single task, source ${delay} ms away`,
      value: `${ratio(at(2)).toFixed(2)}x / ${ratio(at(8)).toFixed(2)}x`,
      goal: '(info)',
      met: null,
    },
    {
      figure: `${fig}c. single task, source ${delay} ms away: rate, share waiting`,
      value: `${n(reference.docsPerSecond)} docs/s, ${pct(100 * waiting(reference))} of its time`,
      goal: '(info)',
      met: null,
    },
  ];
  return { lines, rows };
}
