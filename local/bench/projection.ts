import { DEFAULT_PARTITION_LIMITS } from '../../lambdas/shared/planning/partitions';

/**
 * Projection: how long the worked example's month and the 13-month backfill take, single task
 * versus partitioned, at a per-task rate and a target domain's ingest capacity. Pure: no I/O, no clock.
 *
 * The model, for one monthly index of `docsPerMonth` documents:
 *
 * - **Tasks.** A single-task run is 1 task. A partitioned run has `R` range partitions plus the
 *   missing-date partition (R + 1 tasks): `R` is the number asked for, or for `'auto'` the planner's
 *   choice (`ceil(docs / targetDocsPerPartition)` capped at `maxPartitions`, {@link DEFAULT_PARTITION_LIMITS}),
 *   and never more than the month's days (the planner never splits a day).
 * - **Rate.** `c` tasks at once write `c × perTaskDocsPerSecond × efficiency(tasks on the domain)` docs/s,
 *   never more than `domainCapacityDocsPerSecond`, the rate the target domain can absorb (an input: its
 *   indexing rate under the real mapping, measured on the domain, not here). `efficiency` is 1 unless
 *   given (the local benchmark can supply the scaling it measured; a 2-core machine running both
 *   servers is not a domain, so the default is the ideal).
 * - **Orchestration.** `perTaskDocsPerSecond` is a whole single-task run's rate (the worked example's
 *   5 h include its launch, checks and polling), so a single task costs docs / rate and nothing more.
 *   Each slot of a partitioned run runs `ceil(tasks / c)` tasks one after another; each after its first
 *   adds `perPartitionOverheadSeconds` (the queued partition's slot back-off, 15 s doubling to 120 s,
 *   plus launch, rail 2 check, end detection and reconcile).
 * - **Balance.** Partitions hold equal counts and the domain's capacity is shared evenly; the tail of an
 *   uneven last wave and the dry run (seconds) are ignored.
 * - **Months.** "One at a time" is `MonthlyBackfill` today: months × month time. "Indices at once" runs
 *   `k = min(months, floor(maxTasksPerDomain / c))` monthly indices together (separate runs sharing the
 *   domain's task slots), in rounds of `k` that start together; each index of a round of `m` gets
 *   `min(c × rate × efficiency(m × c), capacity / m)`. `MonthlyBackfill` does not do this itself: it means
 *   starting several backfills (or `ReindexRun`s) by hand.
 */

export interface ProjectionInputs {
  /** Documents of one monthly index (worked example: 84,986,805). */
  readonly docsPerMonth: number;
  /** Days of the month: the planner never splits a day, so at most this many range partitions. @default 31 */
  readonly daysPerMonth?: number;
  /** Monthly indices of the backfill. */
  readonly months: number;
  /** Docs/s of one reindex task alone, over a whole single-task run (worked example: 84,986,805 / 5 h ≈ 4,722). */
  readonly perTaskDocsPerSecond: number;
  /** Docs/s the target domain can absorb, all tasks together. */
  readonly domainCapacityDocsPerSecond: number;
  /** Reindex tasks allowed into the domain at once (the deployment setting); every concurrency must be at most this. */
  readonly maxTasksPerDomain: number;
  /** The partitioned runs' `maxConcurrency` values to project. */
  readonly concurrencies: readonly number[];
  /** `partitions` of the input: a number of ranges, or `'auto'`. @default 'auto' */
  readonly partitions?: number | 'auto';
  /** Seconds each further task of a slot adds (see the model). */
  readonly perPartitionOverheadSeconds: number;
  /** Aggregate rate of `n` tasks on the domain over `n ×` the per-task rate. @default 1 for every n */
  readonly efficiency?: (tasksOnDomain: number) => number;
}

export interface ProjectionRow {
  /** 1: the single-task run; otherwise the partitioned run's `maxConcurrency`. */
  readonly concurrency: number;
  readonly partitioned: boolean;
  /** Reindex tasks of one month's run (partitioned: range partitions + the missing-date one). */
  readonly tasks: number;
  /** Docs/s of one index running alone. */
  readonly docsPerSecond: number;
  /** The domain capacity, not the tasks, sets `docsPerSecond`. */
  readonly capped: boolean;
  /** Wall time of one month alone. */
  readonly monthSeconds: number;
  /** All months, one at a time. */
  readonly sequentialSeconds: number;
  /** Indices run together within `maxTasksPerDomain`. */
  readonly indicesAtOnce: number;
  /** All months, `indicesAtOnce` indices at a time. */
  readonly atOnceSeconds: number;
  /** The single task's month time over this row's. */
  readonly monthSpeedup: number;
}

export interface Projection {
  readonly inputs: Required<Omit<ProjectionInputs, 'efficiency'>> & { readonly efficiency: (tasksOnDomain: number) => number };
  /** Range partitions of a partitioned month (after 'auto' and the day cap). */
  readonly rangePartitions: number;
  /** The single-task row first, then one per concurrency in the order given. */
  readonly rows: readonly ProjectionRow[];
}

/** The worked example (docs/design.md; `WORKED_EXAMPLE` in orchestration.ts): 84,986,805 documents in 5 h. */
export const WORKED_EXAMPLE_MONTH = { docs: 84_986_805, seconds: 5 * 3600, days: 31 } as const;
/** Its per-task rate: 84,986,805 / 18,000 s ≈ 4,722 docs/s. */
export const WORKED_EXAMPLE_TASK_RATE = WORKED_EXAMPLE_MONTH.docs / WORKED_EXAMPLE_MONTH.seconds;

/** Range partitions of one month: the planner's choice for the request, at most one per day. */
export function rangePartitionsFor(docs: number, days: number, partitions: number | 'auto'): number {
  const asked =
    partitions === 'auto'
      ? Math.min(DEFAULT_PARTITION_LIMITS.maxPartitions, Math.max(1, Math.ceil(docs / DEFAULT_PARTITION_LIMITS.targetDocsPerPartition)))
      : partitions;
  return Math.min(asked, days);
}

export function project(given: ProjectionInputs): Projection {
  const inputs = {
    ...given,
    daysPerMonth: given.daysPerMonth ?? WORKED_EXAMPLE_MONTH.days,
    partitions: given.partitions ?? ('auto' as const),
    efficiency: given.efficiency ?? (() => 1),
  };
  positive('docsPerMonth', inputs.docsPerMonth);
  positive('months', inputs.months, true);
  positive('daysPerMonth', inputs.daysPerMonth, true);
  positive('perTaskDocsPerSecond', inputs.perTaskDocsPerSecond);
  positive('domainCapacityDocsPerSecond', inputs.domainCapacityDocsPerSecond);
  positive('maxTasksPerDomain', inputs.maxTasksPerDomain, true);
  if (!(inputs.perPartitionOverheadSeconds >= 0)) throw new RangeError(`perPartitionOverheadSeconds must be 0 or more, not ${inputs.perPartitionOverheadSeconds}`);
  if (inputs.partitions !== 'auto') positive('partitions', inputs.partitions, true);
  for (const c of inputs.concurrencies) {
    positive('concurrency', c, true);
    if (c > inputs.maxTasksPerDomain) throw new RangeError(`concurrency ${c} is more than maxTasksPerDomain ${inputs.maxTasksPerDomain} (the run would be refused)`);
  }
  const ranges = rangePartitionsFor(inputs.docsPerMonth, inputs.daysPerMonth, inputs.partitions);
  const efficiency = (tasks: number): number => {
    const e = inputs.efficiency(tasks);
    if (!(e > 0)) throw new RangeError(`efficiency(${tasks}) must be above 0, not ${e}`);
    return e;
  };

  /** One index's rate with `c` tasks, `m` indices sharing the domain. */
  const rate = (c: number, m: number) => Math.min(c * inputs.perTaskDocsPerSecond * efficiency(m * c), inputs.domainCapacityDocsPerSecond / m);
  const monthSeconds = (c: number, tasks: number, docsPerSecond: number) =>
    inputs.docsPerMonth / docsPerSecond + (Math.ceil(tasks / c) - 1) * inputs.perPartitionOverheadSeconds;

  const row = (c: number, partitioned: boolean): Omit<ProjectionRow, 'monthSpeedup'> => {
    const tasks = partitioned ? ranges + 1 : 1;
    // More slots than tasks run nothing more.
    const busy = Math.min(c, tasks);
    const alone = rate(busy, 1);
    const k = Math.max(1, Math.min(inputs.months, Math.floor(inputs.maxTasksPerDomain / c)));
    let atOnceSeconds = 0;
    for (let left = inputs.months; left > 0; left -= k) {
      const m = Math.min(k, left);
      atOnceSeconds += monthSeconds(busy, tasks, rate(busy, m));
    }
    const month = monthSeconds(busy, tasks, alone);
    return {
      concurrency: c,
      partitioned,
      tasks,
      docsPerSecond: alone,
      capped: alone >= inputs.domainCapacityDocsPerSecond,
      monthSeconds: month,
      sequentialSeconds: inputs.months * month,
      indicesAtOnce: k,
      atOnceSeconds,
    };
  };
  const single = row(1, false);
  const rows = [single, ...inputs.concurrencies.map((c) => row(c, true))].map((r) => ({ ...r, monthSpeedup: single.monthSeconds / r.monthSeconds }));
  return { inputs: { ...inputs, efficiency }, rangePartitions: ranges, rows };
}

/** `5.0 h`, or `2.7 d (65.0 h)` from two days up. */
export function hours(seconds: number): string {
  const h = seconds / 3600;
  return h >= 48 ? `${(h / 24).toFixed(1)} d (${h.toFixed(1)} h)` : `${h.toFixed(1)} h`;
}

/** The inputs, then the table, as the bench prints them. */
export function projectionLines(p: Projection, efficiencyNote = 'ideal: 1 at every concurrency'): string[] {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const i = p.inputs;
  const lines = [
    `inputs: ${n(i.docsPerMonth)} docs a month over ${i.daysPerMonth} days, ${i.months} months; per-task rate ${n(i.perTaskDocsPerSecond)} docs/s;`,
    `        domain ingest capacity ${n(i.domainCapacityDocsPerSecond)} docs/s; maxTasksPerDomain ${i.maxTasksPerDomain};`,
    `        partitions ${JSON.stringify(i.partitions)} -> ${p.rangePartitions} ranges + 1 missing-date = ${p.rangePartitions + 1} tasks;`,
    `        ${i.perPartitionOverheadSeconds} s per further task of a slot; scaling efficiency ${efficiencyNote}`,
    'run                 tasks  docs/s (one index)   month     speed-up   13 months one at a time   indices at once  13 months that way',
  ];
  for (const r of p.rows) {
    lines.push(
      [
        (r.partitioned ? `partitioned, c=${r.concurrency}` : 'single task').padEnd(19),
        String(r.tasks).padStart(5),
        `${n(r.docsPerSecond)}${r.capped ? ' (capped)' : ''}`.padStart(19),
        hours(r.monthSeconds).padStart(8),
        `${r.monthSpeedup.toFixed(2)}x`.padStart(10),
        hours(r.sequentialSeconds).padStart(25),
        String(r.indicesAtOnce).padStart(16),
        hours(r.atOnceSeconds).padStart(19),
      ].join('  '),
    );
  }
  return lines;
}

function positive(name: string, value: number, whole = false): void {
  if (!(value > 0) || !Number.isFinite(value) || (whole && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a ${whole ? 'whole number' : 'number'} above 0, not ${value}`);
  }
}
