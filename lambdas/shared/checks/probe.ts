import type { Mode } from '../runtime/config';

/**
 * The version probe of the pre-flight: target documents sampled, each looked up on the source, classified
 * by which copy is newer, and the reindex counters that the classes predict.
 */

/** One sampled target document and the version of the same id on the source (null: not on the source). */
export interface SampledPair {
  readonly id: string;
  readonly targetVersion: number;
  readonly sourceVersion: number | null;
}

export const VERSION_CLASSES = ['equal', 'sourceNewer', 'targetNewer', 'targetOnly'] as const;
export type VersionClass = (typeof VERSION_CLASSES)[number];

export type ClassCounts = Readonly<Record<VersionClass, number>>;

export interface ProbeExample extends SampledPair {
  readonly class: VersionClass;
}

/** The reindex counters a run is expected to end with; they add up to the source count. */
export interface PredictedSplit {
  readonly created: number;
  readonly updated: number;
  readonly versionConflicts: number;
}

/** A range of whole counts, both ends included. */
export interface CountRange {
  readonly low: number;
  readonly high: number;
}

/**
 * How far the sample lets the prediction be off: each counter's range holds the run's final value with
 * at least `confidence` (jointly: the two sampled shares each get half of the error budget).
 */
export interface PredictionInterval {
  readonly confidence: number;
  readonly created: CountRange;
  readonly updated: CountRange;
  readonly versionConflicts: CountRange;
}

export interface ProbeInput {
  readonly pairs: readonly SampledPair[];
  readonly sourceCount: number;
  readonly targetCount: number;
  readonly mode: Mode;
}

export interface ProbeResult {
  readonly sampled: number;
  readonly counts: ClassCounts;
  readonly examples: readonly ProbeExample[];
  /** Target documents that also exist on the source, extrapolated from the sample. */
  readonly estimatedOverlap: number;
  readonly predicted: PredictedSplit;
  /** The 95% interval around `predicted`; a point where the sample holds every target document. */
  readonly interval: PredictionInterval;
}

export type VersioningVerdict = { readonly broken: false } | { readonly broken: true; readonly reason: string };

export const MAX_EXAMPLES = 5;
/** Fewer overlapping sampled documents than this say nothing about the versioning contract. */
export const MIN_OVERLAP_FOR_VERDICT = 5;

export function classify(pair: SampledPair): VersionClass {
  if (pair.sourceVersion === null) return 'targetOnly';
  if (pair.sourceVersion > pair.targetVersion) return 'sourceNewer';
  if (pair.sourceVersion < pair.targetVersion) return 'targetNewer';
  return 'equal';
}

export function countClasses(pairs: readonly SampledPair[]): ClassCounts {
  const counts: Record<VersionClass, number> = { equal: 0, sourceNewer: 0, targetNewer: 0, targetOnly: 0 };
  for (const pair of pairs) counts[classify(pair)] += 1;
  return counts;
}

/** Up to five examples: the first of each class present, then the rest in sample order. */
export function pickExamples(pairs: readonly SampledPair[], max = MAX_EXAMPLES): ProbeExample[] {
  const examples = pairs.map((pair) => ({ ...pair, class: classify(pair) }));
  const firstOfEach = VERSION_CLASSES.map((c) => examples.find((e) => e.class === c)).filter(
    (e): e is ProbeExample => e !== undefined,
  );
  const rest = examples.filter((e) => !firstOfEach.includes(e));
  return [...firstOfEach, ...rest].slice(0, max);
}

export function probe(input: ProbeInput): ProbeResult {
  const counts = countClasses(input.pairs);
  const estimatedOverlap = estimateOverlap(counts, input.sourceCount, input.targetCount);
  return {
    sampled: input.pairs.length,
    counts,
    examples: pickExamples(input.pairs),
    estimatedOverlap,
    predicted: predictSplit(input.mode, counts, input.sourceCount, estimatedOverlap),
    interval: predictionInterval(input.mode, counts, input.sourceCount, input.targetCount, estimatedOverlap),
  };
}

export const PREDICTION_CONFIDENCE = 0.95;
/** Two-sided normal quantile for 1 - 0.05/2 per share (Bonferroni over the two shares): 97.5% each. */
const Z_PER_SHARE = 2.2414;

/**
 * The Wilson score interval of a sampled share, narrowed by the finite-population correction: a sample
 * drawn without replacement from `population` items says more the larger a part of it it is, and all
 * of it when it is the whole population.
 */
export function shareInterval(hits: number, sampled: number, population: number, z = Z_PER_SHARE): CountRange {
  if (sampled === 0) return { low: 0, high: 1 };
  const share = hits / sampled;
  const correction = population > 1 ? Math.sqrt(Math.max(0, (population - sampled) / (population - 1))) : 0;
  const zz = z * correction;
  if (zz === 0) return { low: share, high: share };
  const z2 = zz * zz;
  const denominator = 1 + z2 / sampled;
  const centre = (share + z2 / (2 * sampled)) / denominator;
  const half = (zz * Math.sqrt((share * (1 - share)) / sampled + z2 / (4 * sampled * sampled))) / denominator;
  return { low: Math.max(0, Math.min(share, centre - half)), high: Math.min(1, Math.max(share, centre + half)) };
}

/**
 * The range each predicted counter can take given the sample: the share of target documents that the
 * source also holds (which fixes created), and among those the share whose source copy is newer (which
 * splits them into updated and version_conflicts), each with its interval, combined at their ends.
 */
export function predictionInterval(mode: Mode, counts: ClassCounts, sourceCount: number, targetCount: number, overlap: number): PredictionInterval {
  const sampled = sumOf(counts);
  const onSource = shareInterval(sampled - counts.targetOnly, sampled, targetCount);
  const overlapRange: CountRange = {
    low: Math.min(sourceCount, overlap, Math.floor(targetCount * onSource.low)),
    high: Math.min(sourceCount, Math.max(overlap, Math.ceil(targetCount * onSource.high))),
  };
  const created = { low: sourceCount - overlapRange.high, high: sourceCount - overlapRange.low };
  const point = predictSplit(mode, counts, sourceCount, overlap);
  const zero: CountRange = { low: 0, high: 0 };
  switch (mode) {
    case 'merge': {
      const overlapSampled = counts.equal + counts.sourceNewer + counts.targetNewer;
      const newer = shareInterval(counts.sourceNewer, overlapSampled, overlap);
      return {
        confidence: PREDICTION_CONFIDENCE,
        created,
        updated: {
          low: Math.min(point.updated, Math.floor(overlapRange.low * newer.low)),
          high: Math.max(point.updated, Math.ceil(overlapRange.high * newer.high)),
        },
        versionConflicts: {
          low: Math.min(point.versionConflicts, Math.floor(overlapRange.low * (1 - newer.high))),
          high: Math.max(point.versionConflicts, Math.ceil(overlapRange.high * (1 - newer.low))),
        },
      };
    }
    case 'create-only':
      return { confidence: PREDICTION_CONFIDENCE, created, updated: zero, versionConflicts: overlapRange };
    case 'overwrite':
      return { confidence: PREDICTION_CONFIDENCE, created, updated: overlapRange, versionConflicts: zero };
  }
}

/** targetCount × the sampled share that exists on the source, never more than the source holds. */
export function estimateOverlap(counts: ClassCounts, sourceCount: number, targetCount: number): number {
  const sampled = sumOf(counts);
  if (sampled === 0) return 0;
  const onSource = sampled - counts.targetOnly;
  return Math.min(sourceCount, Math.round((targetCount * onSource) / sampled));
}

export function predictSplit(mode: Mode, counts: ClassCounts, sourceCount: number, overlap: number): PredictedSplit {
  const created = sourceCount - overlap;
  switch (mode) {
    case 'merge': {
      const overlapSampled = counts.equal + counts.sourceNewer + counts.targetNewer;
      const updated = overlapSampled === 0 ? 0 : Math.round((overlap * counts.sourceNewer) / overlapSampled);
      return { created, updated, versionConflicts: overlap - updated };
    }
    case 'create-only':
      return { created, updated: 0, versionConflicts: overlap };
    case 'overwrite':
      // Internal versioning replaces every existing copy; the guard only lets it run on an empty target,
      // where overlap is 0 and everything is created.
      return { created, updated: overlap, versionConflicts: 0 };
  }
}

/**
 * The target does not carry the source's versions when most sampled documents present on both are older
 * on the target: typically dual-write indexing with internal versioning (1, 2, 3) while the source holds
 * application versions. A merge would then let every source copy win over the live target.
 */
export function versioningLooksBroken(pairs: readonly SampledPair[], minOverlap = MIN_OVERLAP_FOR_VERDICT): VersioningVerdict {
  const overlapping = pairs.filter((p) => p.sourceVersion !== null);
  const behind = overlapping.filter((p) => classify(p) === 'sourceNewer');
  if (overlapping.length < minOverlap || behind.length * 2 <= overlapping.length) return { broken: false };
  const examples = behind
    .slice(0, 3)
    .map((p) => `${p.id} (target ${p.targetVersion}, source ${p.sourceVersion})`)
    .join(', ');
  return {
    broken: true,
    reason:
      `${behind.length} of ${overlapping.length} sampled documents present on both clusters have a lower _version on the target ` +
      `than on the source, e.g. ${examples}: the target does not carry the source's versions (dual-write probably indexes ` +
      `without version_type=external and the application version). A merge would overwrite live target documents with ` +
      `older source copies. Fix the dual-write to send the application version as an external version, or set ` +
      `guards.allowBrokenVersioning to accept that the source wins.`,
  };
}

function sumOf(counts: ClassCounts): number {
  return counts.equal + counts.sourceNewer + counts.targetNewer + counts.targetOnly;
}
