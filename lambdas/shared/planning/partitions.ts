import type { DayCount } from '../checks/coverage';
import { createHash } from 'node:crypto';
import { requestHash, stableJson, type CanonicalRequest } from './canonical-request';
import { ZERO_COUNTERS, type Counters } from '../checks/counters';

/**
 * The partition planner of a partitioned run: pure, no cluster access. It splits one
 * index by `dateField` into contiguous half-open ranges `[start, end)` of roughly equal document
 * counts, from the pre-flight daily histogram (UTC days), plus one partition for the documents
 * without the date field, so that every document falls in exactly one partition:
 *
 * - boundaries sit at UTC day starts (`YYYY-MM-DDT00:00:00.000Z`) and a day is never split;
 * - the first range is open below (no `gte`) and the last open above (no `lt`): documents dated
 *   before the first or after the last histogram day (dual-write keeps writing today's documents)
 *   are not skipped;
 * - the missing-date partition (`must_not exists`) is always there in a partitioned plan, even at 0
 *   documents: documents without the field may be written after the histogram was taken;
 * - a range with neither bound (a partitioned plan over an empty histogram) filters on
 *   `exists` instead, the exact complement of the missing-date partition.
 *
 * The plan (each partition's query) belongs to the canonical request and so to the fingerprint
 * ({@link planKey}); the expected counts ({@link expectedCounts}) do not: dual-write keeps moving them.
 */

/** A `source.query` clause, as in the run config. */
export type SourceQuery = Record<string, unknown>;

/** `partitions` of the execution input: absent or 1 is today's single task. */
export type PartitionsRequest = number | 'auto';

export interface PartitionLimits {
  /** Most range partitions a plan may have (the missing-date partition comes on top). */
  readonly maxPartitions: number;
  /** `'auto'`: documents per range partition aimed at. */
  readonly targetDocsPerPartition: number;
}

/**
 * Defaults. `targetDocsPerPartition` 2,000,000: at the single-task rate of the worked example
 * (~4,700 docs/s) a partition takes ~7 minutes, so a lost partition is rerun alone in minutes,
 * and an 85M-document month gives enough partitions (capped at 32) to keep `maxTasksPerDomain`
 * (default 4) slots busy to the end. `maxPartitions` 32 bounds the child executions and ledger
 * items of one run.
 */
export const DEFAULT_PARTITION_LIMITS: PartitionLimits = Object.freeze({
  maxPartitions: 32,
  targetDocsPerPartition: 2_000_000,
});

/** The date format of every bound the planner writes. */
export const PARTITION_DATE_FORMAT = 'strict_date_optional_time';

export interface RangePartition {
  readonly id: string;
  readonly kind: 'range';
  /** Inclusive lower bound (`gte`), a UTC day start; absent on the first range (open below). */
  readonly start?: string;
  /** Exclusive upper bound (`lt`), a UTC day start; absent on the last range (open above). */
  readonly end?: string;
  readonly query: SourceQuery;
}

export interface MissingDatePartition {
  readonly id: string;
  readonly kind: 'missing-date';
  readonly query: SourceQuery;
}

/**
 * The single partition of an unpartitioned plan (`partitions` absent or 1): every document, the
 * run's own query unchanged (null without one). Today's single task.
 */
export interface WholePartition {
  readonly id: string;
  readonly kind: 'all';
  readonly query: SourceQuery | null;
}

export type Partition = RangePartition | MissingDatePartition | WholePartition;

export interface PartitionPlan {
  readonly dateField: string | null;
  readonly requested: PartitionsRequest;
  /** True for today's single task: one `'all'` partition with the run's query unchanged. */
  readonly single: boolean;
  /** Ranges in date order, then the missing-date partition. */
  readonly partitions: readonly Partition[];
  /** Why the plan differs from the request (fewer days than partitions, auto's choice, ...). */
  readonly notes: readonly string[];
}

export interface PartitionPlanInput {
  /** The source's daily histogram (UTC days), as `censusOf` returns it. Order and zero days do not matter. */
  readonly days: readonly DayCount[];
  /** Documents without `dateField`. */
  readonly withoutDate: number;
  readonly dateField: string | null;
  /** Absent or 1: a single task; a whole number ≥ 1: that many ranges; `'auto'`: from the histogram. */
  readonly partitions?: PartitionsRequest | undefined;
  /** The run's `source.query`; kept inside every partition's filter. */
  readonly query: SourceQuery | null | undefined;
  readonly limits?: Partial<PartitionLimits> | undefined;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Plans the partitions of one run. Throws an Error naming `partitions` for an invalid request. */
export function planPartitions(input: PartitionPlanInput): PartitionPlan {
  const limits = limitsOf(input.limits);
  const requested = requestOf(input.partitions, limits);
  const days = normaliseDays(input.days);
  const withoutDate = countOf(input.withoutDate, 'withoutDate');
  const runQuery = input.query ?? null;
  const dated = days.reduce((sum, d) => sum + d.count, 0);
  const notes: string[] = [];

  if (requested === 1) return singlePlan(input.dateField, requested, runQuery, notes);

  const dateField = input.dateField;
  if (dateField === null || dateField === '') {
    if (requested === 'auto') {
      notes.push('partitions "auto": no dateField, so one task');
      return singlePlan(null, requested, runQuery, notes);
    }
    throw new Error(`partitions: ${requested} needs a dateField to split on (or use partitions: 1)`);
  }

  let ranges: number;
  if (requested === 'auto') {
    const total = dated + withoutDate;
    if (total <= limits.targetDocsPerPartition) {
      notes.push(`partitions "auto": ${total} documents fit one partition (target ${limits.targetDocsPerPartition}), so one task`);
      return singlePlan(dateField, requested, runQuery, notes);
    }
    const wanted = Math.ceil(dated / limits.targetDocsPerPartition);
    ranges = Math.min(Math.max(wanted, 1), limits.maxPartitions);
    notes.push(
      `partitions "auto": ${dated} dated documents / ${limits.targetDocsPerPartition} per partition → ${wanted}` +
        (wanted > limits.maxPartitions ? `, capped at maxPartitions ${limits.maxPartitions}` : ''),
    );
  } else {
    ranges = requested;
  }

  if (days.length === 0) {
    notes.push(`the histogram of ${dateField} is empty: one range partition (every dated document) instead of ${ranges}`);
    ranges = 1;
  } else if (ranges > days.length) {
    notes.push(`${ranges} range partitions asked for but only ${days.length} day(s) hold documents (a day is never split): ${days.length}`);
    ranges = days.length;
  }

  const bounds = boundaries(days, ranges);
  const width = Math.max(2, String(ranges + 1).length);
  const id = (n: number): string => `p${String(n).padStart(width, '0')}`;
  const partitions: Partition[] = [];
  for (let i = 0; i < ranges; i += 1) {
    const start = i === 0 ? undefined : bounds[i - 1];
    const end = i === ranges - 1 ? undefined : bounds[i];
    partitions.push({
      id: id(i + 1),
      kind: 'range',
      ...(start === undefined ? {} : { start }),
      ...(end === undefined ? {} : { end }),
      query: rangeQuery(dateField, runQuery, start, end),
    });
  }
  partitions.push({ id: id(ranges + 1), kind: 'missing-date', query: missingDateQuery(dateField, runQuery) });

  return { dateField, requested, single: false, partitions, notes };
}

/**
 * Expected documents per partition, in plan order, from a histogram (the plan's own, or a fresher
 * one for the header). Shown, never fingerprinted. Their sum is every dated day plus `withoutDate`.
 */
export function expectedCounts(
  plan: PartitionPlan,
  days: readonly DayCount[],
  withoutDate: number,
): Array<{ id: string; count: number }> {
  const normal = normaliseDays(days);
  const missing = countOf(withoutDate, 'withoutDate');
  return plan.partitions.map((p) => {
    switch (p.kind) {
      case 'all':
        return { id: p.id, count: normal.reduce((sum, d) => sum + d.count, 0) + missing };
      case 'missing-date':
        return { id: p.id, count: missing };
      case 'range': {
        const from = p.start?.slice(0, 10);
        const to = p.end?.slice(0, 10);
        const count = normal
          .filter((d) => (from === undefined || d.day >= from) && (to === undefined || d.day < to))
          .reduce((sum, d) => sum + d.count, 0);
        return { id: p.id, count };
      }
    }
  });
}

/** The part of a partition the fingerprint covers: its id, kind, bounds and query; never a count. */
export interface PartitionKey {
  readonly id: string;
  readonly kind: Partition['kind'];
  readonly start?: string;
  readonly end?: string;
  readonly query: SourceQuery | null;
}

/**
 * What the plan adds to the canonical request (and so to the fingerprint): the partitions' ranges
 * and queries, in plan order, with no counts and no notes. The same plan always gives the same
 * key; serialise it with `stableJson` like the rest of the request.
 */
export function planKey(plan: PartitionPlan): PartitionKey[] {
  return plan.partitions.map((p) => ({
    id: p.id,
    kind: p.kind,
    ...(p.kind === 'range' && p.start !== undefined ? { start: p.start } : {}),
    ...(p.kind === 'range' && p.end !== undefined ? { end: p.end } : {}),
    query: p.query === null ? null : structuredClone(p.query),
  }));
}

/** The UTC day start of a `YYYY-MM-DD` day, as a range bound. */
export function dayStart(day: string): string {
  return `${day}T00:00:00.000Z`;
}

function singlePlan(dateField: string | null, requested: PartitionsRequest, runQuery: SourceQuery | null, notes: string[]): PartitionPlan {
  return {
    dateField,
    requested,
    single: true,
    partitions: [{ id: 'p01', kind: 'all', query: runQuery === null ? null : structuredClone(runQuery) }],
    notes,
  };
}

function rangeQuery(dateField: string, runQuery: SourceQuery | null, start: string | undefined, end: string | undefined): SourceQuery {
  const own: SourceQuery =
    start === undefined && end === undefined
      ? { exists: { field: dateField } }
      : {
          range: {
            [dateField]: {
              ...(start === undefined ? {} : { gte: start }),
              ...(end === undefined ? {} : { lt: end }),
              format: PARTITION_DATE_FORMAT,
            },
          },
        };
  return { bool: { filter: [...runFilter(runQuery), own] } };
}

function missingDateQuery(dateField: string, runQuery: SourceQuery | null): SourceQuery {
  return { bool: { filter: runFilter(runQuery), must_not: [{ exists: { field: dateField } }] } };
}

function runFilter(runQuery: SourceQuery | null): SourceQuery[] {
  return runQuery === null ? [] : [structuredClone(runQuery)];
}

/**
 * Range starts (UTC day starts) splitting the days into `ranges` contiguous groups of about equal
 * sums: cut j goes where the running sum comes closest to j·total/ranges (the earlier day on a
 * tie), each group keeping at least one day. Each group's sum is then within one day's count of
 * total/ranges whenever the per-group minimum of one day does not bind. Returns ranges − 1 bounds.
 */
function boundaries(days: readonly DayCount[], ranges: number): string[] {
  if (ranges <= 1) return [];
  const prefix = [0];
  for (const d of days) prefix.push((prefix[prefix.length - 1] ?? 0) + d.count);
  const total = prefix[days.length] ?? 0;
  const bounds: string[] = [];
  let previous = 0;
  for (let j = 1; j < ranges; j += 1) {
    const target = (j * total) / ranges;
    const lo = previous + 1;
    const hi = days.length - (ranges - j);
    let best = lo;
    for (let c = lo + 1; c <= hi; c += 1) {
      if (Math.abs((prefix[c] ?? 0) - target) < Math.abs((prefix[best] ?? 0) - target)) best = c;
      else if ((prefix[c] ?? 0) > target) break;
    }
    const first = days[best];
    if (first === undefined) throw new Error(`partition boundary ${best} out of range`);
    bounds.push(dayStart(first.day));
    previous = best;
  }
  return bounds;
}

/** Sorted, merged, non-empty days; an invalid day or count throws. */
function normaliseDays(days: readonly DayCount[]): DayCount[] {
  const counts = new Map<string, number>();
  for (const d of days) {
    if (!isDay(d.day)) throw new Error(`histogram day ${JSON.stringify(d.day)} is not a YYYY-MM-DD date`);
    counts.set(d.day, (counts.get(d.day) ?? 0) + countOf(d.count, `histogram count of ${d.day}`));
  }
  return [...counts]
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([day, count]) => ({ day, count }));
}

function isDay(day: unknown): day is string {
  if (typeof day !== 'string') return false;
  const m = DAY.exec(day);
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === day;
}

function countOf(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what} must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function limitsOf(given: Partial<PartitionLimits> | undefined): PartitionLimits {
  const limits = { ...DEFAULT_PARTITION_LIMITS, ...stripUndefined(given ?? {}) };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new Error(`partitions limit ${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}`);
    }
  }
  return limits;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function requestOf(value: unknown, limits: PartitionLimits): PartitionsRequest {
  if (value === undefined || value === null) return 1;
  if (value === 'auto') return 'auto';
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`partitions must be a whole number ≥ 1 or "auto", got ${JSON.stringify(value)}`);
  }
  if (value > limits.maxPartitions) {
    throw new Error(`partitions ${value} is more than maxPartitions ${limits.maxPartitions}`);
  }
  return value;
}

/** A partitioned run's plan as recorded: each partition's key (fingerprinted through the approval) and its expected count. */
export interface RecordedPlan {
  readonly requested: PartitionPlan['requested'];
  readonly single: boolean;
  readonly partitions: ReadonlyArray<PartitionKey & { readonly expected: number }>;
  readonly notes: readonly string[];
}

/**
 * A run's plan of tasks: the request of one partition, its X-Opaque-Id run tag, the plan's
 * fingerprint, and the run-level slot key (the same `TaskSlots` semaphore, keyed on a per-run path of
 * the target endpoint). Each partition's item in the ledger is `PartitionItem` (ledger.ts).
 */

/** Attempts of one partition (first run included) before it is left FAILED and the run fails. */
export const PARTITION_MAX_ATTEMPTS = 3;

/**
 * The one partition of a run without `partitions`: every document of its scope, the approved request
 * unchanged, tagged with the run id alone (`X-Opaque-Id: <runId>/<hash>`). It gets one attempt: a lost
 * or failed whole-index task ends the run with its own error, and the operator decides the rerun.
 */
export const WHOLE_INDEX_PARTITION_ID = 'all';
export const WHOLE_INDEX_MAX_ATTEMPTS = 1;

/** The hash a partitioned run's fingerprint covers: the base request plus the partitions spec. */
export function partitionedRequestHash(base: CanonicalRequest, spec: PartitionsRequest): string {
  return createHash('sha256').update(stableJson({ request: requestHash(base), partitions: spec })).digest('hex');
}

/**
 * A partitioned run's fingerprint: the request fingerprint (base request, partitions spec, target) plus
 * each partition's id, bounds and query, so that a dry run approves the concrete plan. Counts are not in it.
 */
export function planFingerprint(requestFingerprint: string, plan: ReadonlyArray<PartitionKey & { readonly expected?: number }>): string {
  const keys = plan.map(({ expected: _expected, ...key }) => key);
  return createHash('sha256').update(stableJson({ fingerprint: requestFingerprint, partitions: keys })).digest('hex');
}

/** One partition's request: the approved canonical request with `source.query` = the partition's query. */
export function partitionRequest(approved: CanonicalRequest, query: SourceQuery | null): CanonicalRequest {
  const { query: _old, ...source } = approved.body.source;
  return { ...approved, body: { ...approved.body, source: query === null ? source : { ...source, query } } };
}

/** The run id a partition's task carries in `X-Opaque-Id` (`<runId>.<pid>/<hash>`, the whole index `<runId>/<hash>`; run ids allow '.'). */
export function partitionTag(runId: string, partitionId: string): string {
  return partitionId === WHOLE_INDEX_PARTITION_ID ? runId : `${runId}.${partitionId}`;
}

/** How a message names a task: `task n:5`, or `partition p02: task n:5` when the run is partitioned. */
export function taskLabel(partitionId: string, taskId: string): string {
  return partitionId === WHOLE_INDEX_PARTITION_ID ? `task ${taskId}` : `partition ${partitionId}: task ${taskId}`;
}

/** Whether an `X-Opaque-Id` run tag is one of this run's tasks (the whole index, or one of its partitions). */
export function isRunTag(runId: string, tag: string | undefined): boolean {
  return tag === runId || (tag !== undefined && tag.startsWith(`${runId}.`) && /^p\d+$/.test(tag.slice(runId.length + 1)));
}

/** The run-level slots of a run: the target endpoint with a per-run path (its own domain key). */
export function runSlotDomain(targetEndpoint: string, runId: string): string {
  const url = new URL(targetEndpoint);
  return `${url.protocol}//${url.host}/_safe-reindex-run/${runId}`;
}

export function sumCounters(all: ReadonlyArray<Counters | undefined>): Counters {
  return all.reduce<Counters>(
    (sum, c) =>
      c === undefined
        ? sum
        : {
            total: sum.total + c.total,
            created: sum.created + c.created,
            updated: sum.updated + c.updated,
            deleted: sum.deleted + c.deleted,
            noops: sum.noops + c.noops,
            versionConflicts: sum.versionConflicts + c.versionConflicts,
            failures: sum.failures + c.failures,
          },
    ZERO_COUNTERS,
  );
}
