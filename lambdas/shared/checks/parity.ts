import { createHash } from 'node:crypto';
import type { Mode } from '../runtime/config';
import type { DayCount } from './coverage';
import { thousands } from './counters';

/**
 * Parity after the run: counts, the per-day histogram, source ids looked up on the target (forward) and
 * target ids looked up on the source (reverse).
 */

export interface CountComparison {
  readonly ok: boolean;
  readonly sourceCount: number;
  readonly targetCount: number;
  /** target − source. */
  readonly difference: number;
  /** |target − source| as a fraction of the source count. */
  readonly drift: number;
  readonly tolerance: number;
}

export interface DayDrift {
  readonly day: string;
  readonly source: number;
  readonly target: number;
  /** target − source. */
  readonly difference: number;
}

/** A sampled source document and the version of the same id on the target (null: missing there). */
export interface ForwardPair {
  readonly id: string;
  readonly sourceVersion: number;
  readonly targetVersion: number | null;
}

/** A sampled target document and the version of the same id on the source (null: missing there). */
export interface ReversePair {
  readonly id: string;
  readonly targetVersion: number;
  readonly sourceVersion: number | null;
}

export interface ForwardSampleResult {
  readonly checked: number;
  readonly missing: readonly string[];
  /** Merge mode only: target copies older than the source, which the backfill should have replaced. */
  readonly behind: readonly ForwardPair[];
}

export interface ReverseSampleResult {
  readonly checked: number;
  /** A lost dual-write on the source, or a delete the backfill resurrected on the target. */
  readonly targetOnly: readonly string[];
}

export interface ParityInput {
  readonly counts: CountComparison;
  readonly days: readonly DayDrift[];
  readonly forward: ForwardSampleResult;
  readonly reverse: ReverseSampleResult;
}

export type ParityVerdict =
  | { readonly ok: true; readonly cause: null; readonly sampleMissing: 0 }
  | { readonly ok: false; readonly cause: string; readonly sampleMissing: number };

export const NAMED_IDS = 10;

export function compareCounts(sourceCount: number, targetCount: number, tolerance: number): CountComparison {
  const difference = targetCount - sourceCount;
  const drift = sourceCount === 0 ? (targetCount === 0 ? 0 : Infinity) : Math.abs(difference) / sourceCount;
  return { ok: drift <= tolerance, sourceCount, targetCount, difference, drift, tolerance };
}

/**
 * Days whose counts differ by more than the tolerance of the source day's count, and by more than one
 * document: today's day is still being written on both sides while parity runs.
 */
export function histogramDrift(sourceDays: readonly DayCount[], targetDays: readonly DayCount[], tolerance: number): DayDrift[] {
  const source = countsByDay(sourceDays);
  const target = countsByDay(targetDays);
  const days = [...new Set([...source.keys(), ...target.keys()])].sort();
  return days
    .map((day) => {
      const s = source.get(day) ?? 0;
      const t = target.get(day) ?? 0;
      return { day, source: s, target: t, difference: t - s };
    })
    .filter((d) => Math.abs(d.difference) > Math.max(1, tolerance * d.source));
}

export function forwardSample(pairs: readonly ForwardPair[], mode: Mode): ForwardSampleResult {
  return {
    checked: pairs.length,
    missing: pairs.filter((p) => p.targetVersion === null).map((p) => p.id),
    // create-only keeps older target copies on purpose; overwrite gives the target internal versions.
    behind: mode === 'merge' ? pairs.filter((p) => p.targetVersion !== null && p.targetVersion < p.sourceVersion) : [],
  };
}

export function reverseSample(pairs: readonly ReversePair[]): ReverseSampleResult {
  return { checked: pairs.length, targetOnly: pairs.filter((p) => p.sourceVersion === null).map((p) => p.id) };
}

export function parityVerdict(input: ParityInput): ParityVerdict {
  const problems = [countProblem(input.counts), daysProblem(input.days), ...sampleProblems(input.forward, input.reverse)].filter(
    (p): p is string => p !== undefined,
  );
  if (problems.length === 0) return { ok: true, cause: null, sampleMissing: 0 };
  const sampleMissing = input.forward.missing.length + input.forward.behind.length + input.reverse.targetOnly.length;
  return { ok: false, cause: problems.join('; '), sampleMissing };
}

export function countProblem(c: CountComparison): string | undefined {
  if (c.ok) return undefined;
  return (
    `count drift ${percent(c.drift)} over tolerance ${percent(c.tolerance)}: source ${thousands(c.sourceCount)}, ` +
    `target ${thousands(c.targetCount)} (${c.difference < 0 ? '−' : '+'}${thousands(Math.abs(c.difference))})`
  );
}

export function daysProblem(days: readonly DayDrift[]): string | undefined {
  if (days.length === 0) return undefined;
  const named = days
    .slice(0, NAMED_IDS)
    .map((d) => `${d.day} (source ${thousands(d.source)}, target ${thousands(d.target)})`)
    .join(', ');
  return `${days.length} day(s) drift: ${named}${more(days.length)}`;
}

function sampleProblems(forward: ForwardSampleResult, reverse: ReverseSampleResult): Array<string | undefined> {
  return [
    forward.missing.length === 0
      ? undefined
      : `${forward.missing.length} of ${forward.checked} sampled source ids missing on the target: ${ids(forward.missing)}`,
    forward.behind.length === 0
      ? undefined
      : `${forward.behind.length} of ${forward.checked} sampled source ids older on the target: ` +
        `${ids(forward.behind.map((p) => `${p.id} (target ${p.targetVersion}, source ${p.sourceVersion})`))}`,
    reverse.targetOnly.length === 0
      ? undefined
      : `${reverse.targetOnly.length} of ${reverse.checked} sampled target ids not on the source (lost dual-write or resurrected delete): ` +
        ids(reverse.targetOnly),
  ];
}

function ids(list: readonly string[]): string {
  return `${list.slice(0, NAMED_IDS).join(', ')}${more(list.length)}`;
}

function more(count: number): string {
  return count > NAMED_IDS ? ` and ${count - NAMED_IDS} more` : '';
}

function percent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(4).replace(/\.?0+$/, '')}%` : '∞';
}

function countsByDay(days: readonly DayCount[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of days) counts.set(d.day, (counts.get(d.day) ?? 0) + d.count);
  return counts;
}

/** A seed derived from the fingerprint: the dry run and the live run it approves sample the same ids. */
export function sampleSeed(fingerprint: string, salt: string): number {
  return createHash('sha256').update(`${salt}:${fingerprint}`).digest().readUInt32BE(0) % 2_147_483_647;
}
