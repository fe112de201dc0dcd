import { thousands } from './counters';

/**
 * How much of the target dual-write already covers, from its daily `date_histogram` (UTC days).
 * Dual-write is switched on mid-day and today's day is still being written, so only the days strictly
 * between the first and the last day are complete.
 */

/** One UTC day of a daily histogram. */
export interface DayCount {
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly count: number;
}

/** A bucket of a `date_histogram` aggregation as the server answers it. */
export interface HistogramBucket {
  /** Start of the bucket, epoch milliseconds. */
  readonly key: number;
  readonly key_as_string?: string;
  readonly doc_count: number;
}

export interface Coverage {
  readonly docs: number;
  /** First UTC day holding documents, or null for an empty target. */
  readonly firstDay: string | null;
  readonly lastDay: string | null;
  /** Calendar days from the first to the last day, both included. */
  readonly days: number;
  /** Complete UTC days: those strictly between the first and the last day. */
  readonly fullDays: number;
}

const DAY_MS = 86_400_000;

export const EMPTY_COVERAGE: Coverage = { docs: 0, firstDay: null, lastDay: null, days: 0, fullDays: 0 };

/** The UTC day (`YYYY-MM-DD`) an epoch-millisecond instant falls in. */
export function utcDay(epochMillis: number): string {
  return new Date(epochMillis).toISOString().slice(0, 10);
}

/** Server buckets to days, sorted; buckets of the same UTC day are added up. */
export function daysFromBuckets(buckets: readonly HistogramBucket[]): DayCount[] {
  const counts = new Map<string, number>();
  for (const bucket of buckets) {
    const day = utcDay(bucket.key);
    counts.set(day, (counts.get(day) ?? 0) + bucket.doc_count);
  }
  return [...counts.entries()].map(([day, count]) => ({ day, count })).sort(byDay);
}

export function coverageOf(days: readonly DayCount[]): Coverage {
  const withDocs = days.filter((d) => d.count > 0).sort(byDay);
  const first = withDocs[0];
  const last = withDocs[withDocs.length - 1];
  if (first === undefined || last === undefined) return EMPTY_COVERAGE;
  const span = daysBetween(first.day, last.day) + 1;
  return {
    docs: withDocs.reduce((sum, d) => sum + d.count, 0),
    firstDay: first.day,
    lastDay: last.day,
    days: span,
    fullDays: Math.max(0, span - 2),
  };
}

/** One line for a header or a cause: `2026-05-27 .. 2026-05-31 (UTC), 5 day(s), 3 full day(s), 14,188 docs`. */
export function describeCoverage(c: Coverage): string {
  if (c.firstDay === null) return 'empty (no dual-write data)';
  return `${c.firstDay} .. ${c.lastDay} (UTC), ${c.days} day(s), ${c.fullDays} full day(s), ${thousands(c.docs)} docs`;
}

/** Whole days from one `YYYY-MM-DD` to another. */
export function daysBetween(from: string, to: string): number {
  return Math.round((dayStart(to) - dayStart(from)) / DAY_MS);
}

function dayStart(day: string): number {
  const millis = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(millis)) throw new Error(`not a YYYY-MM-DD day: ${day}`);
  return millis;
}

function byDay(a: DayCount, b: DayCount): number {
  return a.day < b.day ? -1 : a.day > b.day ? 1 : 0;
}
