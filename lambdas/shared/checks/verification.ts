import type { Mode } from '../runtime/config';
import type { DayCount } from './coverage';
import { dayStart } from '../planning/partitions';
import { thousands } from './counters';

/**
 * Full verification, the pure part: every document of the run's scope on both clusters, compared by id
 * and version, both ways. The index is cut into ranges of `dateField` (day groups from both clusters'
 * histograms, a dense range halved by time until it is small enough), plus the documents without the date
 * field. Each range is read in pages (`_doc` order, ids and versions only, no `_source`); each page is
 * looked up by id on the other cluster. So memory holds a page, never a range, and nothing sorts or
 * aggregates on `_id` (no fielddata on production heaps).
 *
 * Every difference found is looked up again on both clusters before it counts: dual-write keeps writing
 * during the check, and a document written to one side a moment before the other is not a difference.
 */

/** What a document is, after comparing its versions on both clusters. */
export type DocumentClass =
  | 'equal'
  /** The target holds a newer version (dual-write got there after the backfill): kept. */
  | 'targetNewer'
  /** create-only keeps target copies older than the source on purpose; overwrite's target versions are the target's own. */
  | 'sourceNewerByDesign'
  /** Merge: the target copy is older than the source's, which the backfill should have replaced. */
  | 'regression'
  | 'missing'
  /** On the target and not on the source: a resurrected delete or a lost dual-write. */
  | 'targetOnly';

export const DIFFERENCE_CLASSES = ['regression', 'missing', 'targetOnly'] as const;
export type DifferenceClass = (typeof DIFFERENCE_CLASSES)[number];

export function isDifference(c: DocumentClass): c is DifferenceClass {
  return (DIFFERENCE_CLASSES as readonly string[]).includes(c);
}

/** Classifies one id from its version on each cluster (null: not there). Undefined when on neither. */
export function classify(mode: Mode, sourceVersion: number | null, targetVersion: number | null): DocumentClass | undefined {
  if (sourceVersion === null) return targetVersion === null ? undefined : 'targetOnly';
  if (targetVersion === null) return 'missing';
  // overwrite writes the target's own internal versions: only presence compares.
  if (mode === 'overwrite') return 'equal';
  if (targetVersion === sourceVersion) return 'equal';
  if (targetVersion > sourceVersion) return 'targetNewer';
  return mode === 'create-only' ? 'sourceNewerByDesign' : 'regression';
}

export interface ClassCounts {
  equal: number;
  targetNewer: number;
  sourceNewerByDesign: number;
  regression: number;
  missing: number;
  targetOnly: number;
  /** Found different on the first look, equal (or gone from both) on the confirming lookup. */
  settled: number;
}

export function emptyCounts(): ClassCounts {
  return { equal: 0, targetNewer: 0, sourceNewerByDesign: 0, regression: 0, missing: 0, targetOnly: 0, settled: 0 };
}

export function addCounts(a: ClassCounts, b: Partial<ClassCounts>): ClassCounts {
  const sum = { ...a };
  for (const key of Object.keys(sum) as Array<keyof ClassCounts>) sum[key] += b[key] ?? 0;
  return sum;
}

/** One confirmed difference, as the receipts list it (one JSON line each). */
export interface Difference {
  readonly id: string;
  readonly class: DifferenceClass;
  readonly sourceVersion: number | null;
  readonly targetVersion: number | null;
}

/** A candidate from the first look, with what the confirming lookup on both clusters found. */
export interface Confirmation {
  readonly id: string;
  readonly sourceVersion: number | null;
  readonly targetVersion: number | null;
}

/**
 * The confirming lookup's verdict on the candidates of one page: those still different count in their
 * (possibly new) class; the others are `settled`, except ids now equal or kept which count as such.
 */
export function confirm(mode: Mode, confirmations: readonly Confirmation[]): { counts: Partial<ClassCounts>; differences: Difference[] } {
  const counts: Partial<ClassCounts> = {};
  const differences: Difference[] = [];
  for (const c of confirmations) {
    const now = classify(mode, c.sourceVersion, c.targetVersion);
    if (now === undefined || !isDifference(now)) {
      counts.settled = (counts.settled ?? 0) + 1;
      continue;
    }
    counts[now] = (counts[now] ?? 0) + 1;
    differences.push({ id: c.id, class: now, sourceVersion: c.sourceVersion, targetVersion: c.targetVersion });
  }
  return { counts, differences };
}

// --- ranges ---------------------------------------------------------------------------------------

/**
 * One range of the verification: dated documents in `[gte, lt)` (epoch milliseconds; an absent bound is
 * open), the documents without the date field, or, without a date field, every document.
 */
export type VerificationRange = (
  | { readonly id: string; readonly kind: 'range'; readonly gte?: number; readonly lt?: number }
  | { readonly id: string; readonly kind: 'missing-date' }
  | { readonly id: string; readonly kind: 'all' }
) & {
  /**
   * One slice of a range that cannot be split by date: the scroll's `slice` (by `_id`, which no update
   * changes), on each cluster separately. Each cluster's slices partition its own documents, and every
   * lookup goes by id, so the two clusters' slices need not match.
   */
  readonly slice?: { readonly id: number; readonly max: number };
};

/** The most slices of one range (`index.max_slices_per_scroll`'s default). */
export const MAX_SLICES = 1024;

/** Documents per range aimed at: a page-by-page pass over 200,000 ids takes seconds, well inside one invocation. */
export const DEFAULT_RANGE_DOCS = 200_000;

const DAY_MS = 86_400_000;

/**
 * The first ranges: consecutive days grouped up to `rangeDocs` documents (by the larger of the two
 * clusters' counts of each day, so a range dense on the target only is cut too), an open range before the
 * first day and one after the last (documents dated outside the histograms, written since), and the
 * documents without the date field. A day denser than `rangeDocs` is one range here;
 * {@link splitRange} halves it later.
 */
export function planRanges(
  dateField: string | null,
  sourceDays: readonly DayCount[],
  targetDays: readonly DayCount[],
  rangeDocs: number = DEFAULT_RANGE_DOCS,
): VerificationRange[] {
  if (dateField === null) return [{ id: 'r0001', kind: 'all' }];
  const larger = new Map<string, number>();
  for (const d of [...sourceDays, ...targetDays]) larger.set(d.day, Math.max(larger.get(d.day) ?? 0, d.count));
  const days = [...larger.keys()].sort();
  const ranges: Array<{ kind: 'range'; gte?: number; lt?: number } | { kind: 'missing-date' }> = [];
  if (days.length === 0) {
    ranges.push({ kind: 'range' });
  } else {
    const first = Date.parse(dayStart(days[0]!));
    ranges.push({ kind: 'range', lt: first });
    let start = first;
    let docs = 0;
    let previousEnd = first;
    for (const day of days) {
      const dayMs = Date.parse(dayStart(day));
      const count = larger.get(day) ?? 0;
      if (docs > 0 && docs + count > rangeDocs) {
        ranges.push({ kind: 'range', gte: start, lt: dayMs });
        start = dayMs;
        docs = 0;
      }
      docs += count;
      previousEnd = dayMs + DAY_MS;
    }
    ranges.push({ kind: 'range', gte: start, lt: previousEnd });
    ranges.push({ kind: 'range', gte: previousEnd });
  }
  ranges.push({ kind: 'missing-date' });
  return ranges.map((r, i) => ({ id: rangeId(i + 1), ...r }));
}

/**
 * The two halves of a range too dense to read as one, or undefined when it cannot be split by date: a
 * range open at either end, of one millisecond, not a date range, or a slice. {@link sliceRange} cuts
 * those instead.
 */
export function splitRange(range: VerificationRange): [VerificationRange, VerificationRange] | undefined {
  if (range.slice || range.kind !== 'range' || range.gte === undefined || range.lt === undefined || range.lt - range.gte < 2) return undefined;
  const middle = range.gte + Math.floor((range.lt - range.gte) / 2);
  return [
    { id: `${range.id}a`, kind: 'range', gte: range.gte, lt: middle },
    { id: `${range.id}b`, kind: 'range', gte: middle, lt: range.lt },
  ];
}

/**
 * A range that cannot be halved by date, holding `docs` on its denser cluster, as slices of about
 * `rangeDocs` each (at most {@link MAX_SLICES}); undefined when it is small enough or already a slice.
 */
export function sliceRange(range: VerificationRange, docs: number, rangeDocs: number = DEFAULT_RANGE_DOCS): VerificationRange[] | undefined {
  if (range.slice || docs <= rangeDocs) return undefined;
  const max = Math.min(MAX_SLICES, Math.ceil(docs / rangeDocs));
  return Array.from({ length: max }, (_, id) => ({ ...range, id: `${range.id}s${id}`, slice: { id, max } }));
}

function rangeId(n: number): string {
  return `r${String(n).padStart(4, '0')}`;
}

/** The query that selects one range's documents within the run's `source.query` (the same on both clusters). */
export function rangeQuery(range: VerificationRange, dateField: string | null, runQuery: Record<string, unknown> | null): Record<string, unknown> {
  const run = runQuery === null ? [] : [structuredClone(runQuery)];
  if (range.kind === 'all' || dateField === null) return run[0] ?? { match_all: {} };
  if (range.kind === 'missing-date') return { bool: { filter: run, must_not: [{ exists: { field: dateField } }] } };
  const own =
    range.gte === undefined && range.lt === undefined
      ? { exists: { field: dateField } }
      : {
          range: {
            [dateField]: {
              ...(range.gte === undefined ? {} : { gte: range.gte }),
              ...(range.lt === undefined ? {} : { lt: range.lt }),
              format: 'epoch_millis',
            },
          },
        };
  return { bool: { filter: [...run, own] } };
}

/** A range as a person reads it: `2026-03-04T00:00:00.000Z → 2026-03-05T00:00:00.000Z`. */
export function describeRange(range: VerificationRange): string {
  const slice = range.slice ? `, slice ${range.slice.id + 1} of ${range.slice.max}` : '';
  if (range.kind === 'all') return `every document${slice}`;
  if (range.kind === 'missing-date') return `documents without the date field${slice}`;
  const at = (ms: number | undefined, open: string) => (ms === undefined ? open : new Date(ms).toISOString());
  return `${at(range.gte, 'before')} → ${at(range.lt, 'after')}${slice}`;
}

// --- the verdict ----------------------------------------------------------------------------------

/** The first ids named per class in the cause and on the run record. */
export const FIRST_IDS = 10;

export type FirstIds = Record<DifferenceClass, string[]>;

export function emptyFirstIds(): FirstIds {
  return { regression: [], missing: [], targetOnly: [] };
}

/** Adds differences to the first ids kept per class (each id once, at most {@link FIRST_IDS}). */
export function keepFirstIds(first: FirstIds, differences: readonly Difference[]): FirstIds {
  const kept: FirstIds = { regression: [...first.regression], missing: [...first.missing], targetOnly: [...first.targetOnly] };
  for (const d of differences) {
    const list = kept[d.class];
    if (list.length < FIRST_IDS && !list.includes(d.id)) list.push(d.id);
  }
  return kept;
}

const CLASS_WORDS: Record<DifferenceClass, string> = {
  regression: 'older on the target than on the source (regression)',
  missing: 'missing on the target',
  targetOnly: 'on the target only (resurrected delete or lost dual-write)',
};

/** The verification's part of a ParityFailed cause, or undefined when no difference was confirmed. */
export function verificationProblem(counts: ClassCounts, first: FirstIds): string | undefined {
  const parts = DIFFERENCE_CLASSES.filter((c) => counts[c] > 0).map((c) => {
    const named = first[c];
    const more = counts[c] > named.length ? ` and ${thousands(counts[c] - named.length)} more` : '';
    return `${thousands(counts[c])} ${CLASS_WORDS[c]}: ${named.join(', ')}${more}`;
  });
  if (parts.length === 0) return undefined;
  return `full verification confirmed ${parts.join('; ')}`;
}

/** Documents compared on the source side (every class but target-only). */
export function comparedCount(counts: ClassCounts): number {
  return counts.equal + counts.targetNewer + counts.sourceNewerByDesign + counts.regression + counts.missing;
}
