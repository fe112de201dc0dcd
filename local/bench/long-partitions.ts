import { cpus } from 'node:os';
import { startFaultProxy } from '../fault-proxy/fault-proxy';
import { project, projectionLines, WORKED_EXAMPLE_MONTH, WORKED_EXAMPLE_TASK_RATE } from './projection';
import { slotTimeline } from './slot-timeline';
import {
  busy,
  measureRun,
  numberFromEnv,
  perTask,
  sourceDelayMs,
  sourceIndexFor,
  targetShards,
  type ThroughputContext,
  type ThroughputFigure,
  type ThroughputRow,
  type ThroughputRun,
} from './throughput';

/**
 * Partitions that last a minute (`npm run bench -- partitions`, and part of the whole bench): the
 * orchestration cost per partition measured where it is small against the partition, as in production
 * (a month's partitions run ~10 minutes each), with the source 150 ms away as figure 7c.
 *
 * - Source: the worked example's shape scaled to `SAFE_REINDEX_BENCH_LONG_DOCS` documents (default
 *   1,500,000) over the 31 days of May 2026, through the fault proxy `SAFE_REINDEX_BENCH_SOURCE_DELAY_MS`
 *   late (150 ms).
 * - Runs, in order: the single task, `partitions: 4` at `maxConcurrency` 4 (4 day ranges + the empty
 *   missing-date partition = 5 tasks: one wave of 4 partitions of ~375,000 documents, over a minute
 *   each, and the empty one in the first slot to free), the single task again (the noise check; the
 *   faster single run is the reference). Batch 1,000 (the default); each: dry run + live run into a new
 *   empty target index; timer as figure 7.
 * - The slots' time from the tasks' own start and running times on the target (`_tasks`): first
 *   launches, each hand-over (a task's end to the next start in its slot), the tail, and how evenly the
 *   day ranges filled the slots (the planner never splits a day: 31 days in 4 ranges are 8, 8, 8 and 7).
 * - The projection of the worked example's month and 13-month backfill with the rates measured here (and
 *   figure 7d's batch-size gain when it ran in the same bench).
 */

export const LONG_DOCS_ENV = 'SAFE_REINDEX_BENCH_LONG_DOCS';
export const DEFAULT_LONG_DOCS = 1_500_000;
const CONCURRENCY = 4;
const PARTITIONS = 4;
const GOAL_RATIO = 3.5;
const GOAL_BUSY = 0.9;
const GOAL_PARTITION_SECONDS = 60;
/** What a hand-over costs on AWS beyond what is measured here: about 5 Lambda Task states of ~100 ms (not measured). */
const AWS_TRANSITION_SECONDS = 0.5;

function longDocs(env: NodeJS.ProcessEnv = process.env): number {
  const docs = Math.round(numberFromEnv(LONG_DOCS_ENV, DEFAULT_LONG_DOCS, env));
  if (docs < 10_000) throw new Error(`${LONG_DOCS_ENV}=${docs}: at least 10,000 documents`);
  return docs;
}

const n = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '?');
const s1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '?');
const s2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '?');
const pct = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : '?');

export interface LongPartitionsOptions {
  /** Figure 7d's "auto" over 1,000 when it ran in this bench: the projection then has an auto row. */
  readonly autoSpeedup?: number;
}

export async function figureLongPartitions(ctx: ThroughputContext, fig: string, options: LongPartitionsOptions = {}): Promise<ThroughputFigure> {
  const docs = longDocs();
  const delay = sourceDelayMs();
  const cores = cpus().length;
  ctx.say(`\n[partitions of a minute, source ${delay} ms away] ${n(docs)} docs: single task, partitions ${PARTITIONS} at concurrency ${CONCURRENCY}, single task again`);
  const sourceIndex = await sourceIndexFor(ctx, docs);
  const proxy = await startFaultProxy({ target: ctx.es.url });
  const runs: ThroughputRun[] = [];
  try {
    proxy.inject({ path: '*', action: { kind: 'delay', ms: delay } });
    const via = { url: proxy.url, requestCount: () => proxy.requests().length };
    for (const [label, concurrency] of [['long-single', 1], [`long-c${CONCURRENCY}`, CONCURRENCY], ['long-single-again', 1]] as const) {
      ctx.say(`    ${label}: dry run, then live run into a new target index...`);
      const run = await measureRun(ctx, sourceIndex, docs, label, concurrency, via, 1000, PARTITIONS);
      ctx.say(`    ${label}: ${s1(run.reindexSeconds)} s reindex part, ${n(run.docsPerSecond)} docs/s`);
      runs.push(run);
    }
  } finally {
    await proxy.stop();
  }
  const [a, c4, b] = runs as [ThroughputRun, ThroughputRun, ThroughputRun];
  const reference = a.docsPerSecond >= b.docsPerSecond ? a : b;
  const ratio = c4.docsPerSecond / reference.docsPerSecond;
  const slots = Math.min(CONCURRENCY, c4.tasks);
  const timeline = c4.taskTimes.length > 0 ? slotTimeline(c4.taskTimes, slots, c4.timerStartMs, c4.timerEndMs) : undefined;
  const partitionSeconds = c4.taskTimes.map((t) => t.runningSeconds).filter((s) => s >= 1);
  const shortest = partitionSeconds.length > 0 ? Math.min(...partitionSeconds) : NaN;
  const handOvers = timeline?.handOverSeconds ?? [];
  const meanHandOver = handOvers.length > 0 ? handOvers.reduce((x, y) => x + y, 0) / handOvers.length : NaN;
  const taskFactor = perTask(c4) / perTask(reference);
  const ratioGoalMet = ratio >= GOAL_RATIO && shortest >= GOAL_PARTITION_SECONDS;

  const lines: string[] = [];
  lines.push(
    `## ${fig}. Partitions of a minute — ${n(docs)} docs${docs === DEFAULT_LONG_DOCS ? '' : ` (${LONG_DOCS_ENV})`}, every source request ${delay} ms late (fault proxy, as figure 7c), batch 1,000`,
  );
  lines.push(
    `source ${sourceIndex} (31 UTC days); partitions ${PARTITIONS} at maxConcurrency ${CONCURRENCY} = ${c4.tasks} tasks (${PARTITIONS} day ranges + the missing-date partition, empty here); ` +
      `target ${targetShards()} shard(s); each run a dry run + live run into a new empty target index; timer as figure 7`,
  );
  lines.push('  run                tasks  timer s    docs/s  x single  per task  slots busy   machine CPU');
  for (const r of runs) {
    lines.push(
      `  ${r.label.padEnd(18)} ${String(r.tasks).padStart(5)} ${s1(r.reindexSeconds).padStart(8)} ${n(r.docsPerSecond).padStart(9)} ${`${s2(r.docsPerSecond / reference.docsPerSecond)}x`.padStart(9)} ` +
        `${n(perTask(r)).padStart(9)} ${pct(100 * busy(r)).padStart(11)} ${pct(r.cpu.machine).padStart(13)}`,
    );
  }
  lines.push(`reference: the faster single run (${n(reference.docsPerSecond)} docs/s); the two are ${s1((100 * Math.abs(a.docsPerSecond - b.docsPerSecond)) / reference.docsPerSecond)}% apart (noise)`);
  if (runs.some((r) => r.created !== docs)) lines.push(`COUNT MISMATCH: created ${runs.map((r) => n(r.created)).join(' / ')} of ${n(docs)}`);
  else lines.push(`every run: created = ${n(docs)} = source count, parity OK`);
  lines.push(`partitions: ${c4.taskTimes.map((t) => `${s1(t.runningSeconds)} s`).join(', ')} on the server (the shortest with documents: ${s1(shortest)} s; goal >= ${GOAL_PARTITION_SECONDS} s)`);
  if (timeline) {
    lines.push(
      `slots of the c=${CONCURRENCY} run (from the tasks' start and running times on the target): first wave launched ${timeline.firstWaveSeconds.map(s1).join(' / ')} s after the timer's start ` +
        `(the Map's iterations start together; a first invocation of each function starts its environment); hand-over${handOvers.length === 1 ? '' : 's'} ` +
        `${handOvers.map(s2).join(' / ') || 'none'} s (a task's end to the next task's start in its slot: end detection, poll, reconcile, slot release and acquire, launch); ` +
        `tail ${s2(timeline.tailSeconds)} s (the last task's end to ReconcileRun)`,
    );
    lines.push(
      `  balance: the busiest slot ran tasks for ${s1(timeline.longestSlotSeconds)} s of the ${s1(c4.reindexSeconds)} s timer; the day ranges filled the slots to ${pct(100 * timeline.balance)} ` +
        `(a day is never split), so the most any orchestration could give here is ${s2(CONCURRENCY * timeline.balance * taskFactor)}x at this per-task rate`,
    );
  }
  lines.push(
    `${ratioGoalMet ? 'goal met' : 'goal not met'}: concurrency ${CONCURRENCY} writes ${s2(ratio)}x the single task (goal ${GOAL_RATIO}x with partitions of ${GOAL_PARTITION_SECONDS} s or more); ` +
      `slots busy ${pct(100 * busy(c4))} (goal ${pct(100 * GOAL_BUSY)}; ${busy(c4) >= GOAL_BUSY ? 'met' : 'not met'})`,
  );
  lines.push(
    `  x single = ${slots} slots x slots busy (${pct(100 * busy(c4))} vs ${pct(100 * busy(reference))} single) x per-task rate (${n(perTask(c4))} vs ${n(perTask(reference))} docs/s = ${s2(taskFactor)}: ` +
      `${CONCURRENCY} scrolls and bulks at once on ${cores} cores, machine CPU ${pct(c4.cpu.machine)} of ${cores * 100}%)`,
  );
  lines.push('');

  // The projection with the rates measured here: the worked example's per-task rate, this run's scaling at c=4, its hand-over.
  const efficiency = ratio / CONCURRENCY;
  const overhead = Number.isFinite(meanHandOver) ? meanHandOver + AWS_TRANSITION_SECONDS : AWS_TRANSITION_SECONDS;
  const inputs = {
    docsPerMonth: WORKED_EXAMPLE_MONTH.docs,
    months: 13,
    perTaskDocsPerSecond: WORKED_EXAMPLE_TASK_RATE,
    domainCapacityDocsPerSecond: Number.MAX_SAFE_INTEGER,
    maxTasksPerDomain: CONCURRENCY,
    concurrencies: [CONCURRENCY],
    partitions: 'auto' as const,
    perPartitionOverheadSeconds: overhead,
    efficiency: (tasks: number) => (tasks <= 1 ? 1 : efficiency),
  };
  lines.push(`## ${fig}b. Projection with these rates — the worked example's month and the 13-month backfill, one month at a time (model: local/bench/projection.ts)`);
  lines.push(
    `per task ${n(WORKED_EXAMPLE_TASK_RATE)} docs/s at batch 1,000 (the worked example's); c=${CONCURRENCY} at this figure's ${s2(efficiency)} of ${CONCURRENCY} tasks' rate; ` +
      `${s2(overhead)} s per hand-over (${s2(meanHandOver)} s measured + ${AWS_TRANSITION_SECONDS} s assumed for AWS's state transitions and invocations); the domain's capacity not capped (add yours)`,
  );
  const at1000 = project(inputs);
  lines.push(...projectionLines(at1000, `c=${CONCURRENCY} ${s2(efficiency)} (measured here)`).slice(4, 7));
  const rows: ThroughputRow[] = [
    {
      figure: `${fig}. concurrency ${CONCURRENCY} vs single task, partitions of a minute, source ${delay} ms away`,
      value: `${s2(ratio)}x (${n(c4.docsPerSecond)} vs ${n(reference.docsPerSecond)} docs/s; partitions >= ${s1(shortest)} s)`,
      goal: `>= ${GOAL_RATIO}x`,
      met: ratioGoalMet,
    },
    {
      figure: `${fig}. slots busy at concurrency ${CONCURRENCY}, partitions of a minute`,
      value: `${pct(100 * busy(c4))} (hand-over ${s2(meanHandOver)} s per partition)`,
      goal: `>= ${pct(100 * GOAL_BUSY)}`,
      met: busy(c4) >= GOAL_BUSY,
    },
  ];
  const single = at1000.rows[0]!;
  const p4 = at1000.rows[1]!;
  let projected = `batch 1,000: month ${s1(single.monthSeconds / 3600)} h vs ${s1(p4.monthSeconds / 3600)} h at c=${CONCURRENCY}; 13 months ${s1(single.sequentialSeconds / 3600)} h vs ${s1(p4.sequentialSeconds / 3600)} h`;
  if (options.autoSpeedup !== undefined && Number.isFinite(options.autoSpeedup)) {
    const auto = project({ ...inputs, perTaskDocsPerSecond: WORKED_EXAMPLE_TASK_RATE * options.autoSpeedup });
    lines.push(`with batchSize "auto", each task ${s2(options.autoSpeedup)}x faster as in figure 7d (${n(WORKED_EXAMPLE_TASK_RATE * options.autoSpeedup)} docs/s; assumes the production task gains what the bench's did):`);
    lines.push(...projectionLines(auto).slice(5, 7));
    projected += `; auto: ${s1(auto.rows[0]!.monthSeconds / 3600)} h vs ${s1(auto.rows[1]!.monthSeconds / 3600)} h, 13 months ${s1(auto.rows[0]!.sequentialSeconds / 3600)} h vs ${s1(auto.rows[1]!.sequentialSeconds / 3600)} h`;
  } else {
    lines.push('(with batchSize "auto": run the whole bench, whose figure 7d gives the per-task gain)');
  }
  lines.push('a domain caps all of this at its own ingest rate: the projection in figure 7b shows that cap (SAFE_REINDEX_BENCH_DOMAIN_CAPACITY)');
  lines.push('');
  rows.push({ figure: `${fig}b. projection with these rates (no domain cap)`, value: projected, goal: '(info)', met: null });
  return { lines, rows };
}
