import { describe, expect, it } from 'vitest';
import {
  classify,
  pickExamples,
  probe,
  versioningLooksBroken,
  type SampledPair,
} from '../../lambdas/shared/checks/probe';

/** A sample shaped like the worked example at 1/1000: 635 source newer, 13,053 equal, 500 target newer. */
function workedExampleSample(): SampledPair[] {
  const pairs: SampledPair[] = [];
  for (let i = 0; i < 13_053; i++) pairs.push({ id: `eq-${i}`, targetVersion: 5_000 + i, sourceVersion: 5_000 + i });
  for (let i = 0; i < 635; i++) pairs.push({ id: `old-${i}`, targetVersion: 4_000 + i, sourceVersion: 4_001 + i });
  for (let i = 0; i < 500; i++) pairs.push({ id: `new-${i}`, targetVersion: 7_001 + i, sourceVersion: 7_000 + i });
  return pairs;
}

describe('classify', () => {
  it('names which copy is newer, and a target doc missing on the source as target only', () => {
    expect(classify({ id: 'a', targetVersion: 3, sourceVersion: 3 })).toBe('equal');
    expect(classify({ id: 'a', targetVersion: 2, sourceVersion: 3 })).toBe('sourceNewer');
    expect(classify({ id: 'a', targetVersion: 4, sourceVersion: 3 })).toBe('targetNewer');
    expect(classify({ id: 'a', targetVersion: 4, sourceVersion: null })).toBe('targetOnly');
  });
});

describe('probe', () => {
  it('predicts the worked example split from a healthy dual-write sample', () => {
    // Prepare: the whole target sampled (1/1000 scale)
    const pairs = workedExampleSample();

    // Act
    const result = probe({ pairs, sourceCount: 84_987, targetCount: 14_188, mode: 'merge' });

    // Assess
    expect(result.counts).toEqual({ equal: 13_053, sourceNewer: 635, targetNewer: 500, targetOnly: 0 });
    expect(result.predicted).toEqual({ created: 70_799, updated: 635, versionConflicts: 13_553 });
  });

  it('extrapolates a sample to the full-size worked example within a rounding of the real counters', () => {
    // Prepare: 1,000 target docs sampled out of 14,188,045, in the worked example's proportions
    const pairs = workedExampleSample().filter((_, i) => i % 14 === 0 || i < 10);
    const sourceCount = 84_986_805;

    // Act
    const { predicted } = probe({ pairs, sourceCount, targetCount: 14_188_045, mode: 'merge' });

    // Assess
    expect(predicted.created + predicted.updated + predicted.versionConflicts).toBe(sourceCount);
    expect(predicted.created).toBe(70_798_760);
    expect(Math.abs(predicted.updated - 634_962) / 634_962).toBeLessThan(0.05);
  });

  it('takes target-only documents out of the estimated overlap', () => {
    // Prepare: half the sampled target docs are not on the source
    const pairs: SampledPair[] = [
      { id: 'a', targetVersion: 5, sourceVersion: 5 },
      { id: 'b', targetVersion: 5, sourceVersion: 6 },
      { id: 'c', targetVersion: 5, sourceVersion: null },
      { id: 'd', targetVersion: 5, sourceVersion: null },
    ];

    // Act
    const result = probe({ pairs, sourceCount: 1_000, targetCount: 400, mode: 'merge' });

    // Assess
    expect(result.estimatedOverlap).toBe(200);
    expect(result.predicted).toEqual({ created: 800, updated: 100, versionConflicts: 100 });
  });

  it('rounds so that the predicted counters always add up to the source count', () => {
    const pairs: SampledPair[] = [
      { id: 'a', targetVersion: 1, sourceVersion: 2 },
      { id: 'b', targetVersion: 1, sourceVersion: 1 },
      { id: 'c', targetVersion: 1, sourceVersion: 1 },
    ];

    for (const [sourceCount, targetCount] of [[10, 7], [101, 13], [1_000_003, 333_334], [5, 5]] as const) {
      const { predicted } = probe({ pairs, sourceCount, targetCount, mode: 'merge' });
      expect(predicted.created + predicted.updated + predicted.versionConflicts).toBe(sourceCount);
      expect(Math.min(predicted.created, predicted.updated, predicted.versionConflicts)).toBeGreaterThanOrEqual(0);
    }
  });

  it('never estimates more overlap than the source holds', () => {
    const pairs: SampledPair[] = [{ id: 'a', targetVersion: 1, sourceVersion: 1 }];

    const result = probe({ pairs, sourceCount: 10, targetCount: 50, mode: 'merge' });

    expect(result.predicted).toEqual({ created: 0, updated: 0, versionConflicts: 10 });
  });

  it('predicts no updates in create-only mode: every overlapping document is a version conflict', () => {
    const result = probe({ pairs: workedExampleSample(), sourceCount: 84_987, targetCount: 14_188, mode: 'create-only' });

    expect(result.predicted).toEqual({ created: 70_799, updated: 0, versionConflicts: 14_188 });
  });

  it('predicts everything created in overwrite mode on an empty target', () => {
    const result = probe({ pairs: [], sourceCount: 84_987, targetCount: 0, mode: 'overwrite' });

    expect(result).toMatchObject({ sampled: 0, estimatedOverlap: 0, examples: [] });
    expect(result.predicted).toEqual({ created: 84_987, updated: 0, versionConflicts: 0 });
  });

  it('predicts overwrite replacing every overlapping copy when the target is not empty', () => {
    const result = probe({ pairs: workedExampleSample(), sourceCount: 84_987, targetCount: 14_188, mode: 'overwrite' });

    expect(result.predicted).toEqual({ created: 70_799, updated: 14_188, versionConflicts: 0 });
  });
});

describe('pickExamples', () => {
  it('shows one example of each class first, then fills up to five in sample order', () => {
    // Prepare
    const pairs = workedExampleSample();
    pairs.push({ id: 'ghost', targetVersion: 9, sourceVersion: null });

    // Act
    const examples = pickExamples(pairs);

    // Assess
    expect(examples.map((e) => [e.id, e.class])).toEqual([
      ['eq-0', 'equal'],
      ['old-0', 'sourceNewer'],
      ['new-0', 'targetNewer'],
      ['ghost', 'targetOnly'],
      ['eq-1', 'equal'],
    ]);
    expect(examples[1]).toEqual({ id: 'old-0', targetVersion: 4_000, sourceVersion: 4_001, class: 'sourceNewer' });
  });

  it('shows fewer examples when fewer were sampled', () => {
    expect(pickExamples([{ id: 'a', targetVersion: 1, sourceVersion: 1 }])).toHaveLength(1);
  });
});

describe('versioningLooksBroken', () => {
  it('does not flag a healthy dual-write: 635 source newer against 13,553 equal or target newer', () => {
    expect(versioningLooksBroken(workedExampleSample())).toEqual({ broken: false });
  });

  it('flags a target written with internal versioning (1..3) while the source holds application versions', () => {
    // Prepare
    const pairs: SampledPair[] = Array.from({ length: 20 }, (_, i) => ({
      id: `call-${i}`,
      targetVersion: 1 + (i % 3),
      sourceVersion: 1_714_000_000 + i,
    }));

    // Act
    const verdict = versioningLooksBroken(pairs);

    // Assess
    expect(verdict.broken).toBe(true);
    if (!verdict.broken) return;
    expect(verdict.reason).toContain('20 of 20 sampled documents');
    expect(verdict.reason).toContain('call-0 (target 1, source 1714000000)');
    expect(verdict.reason).toContain('guards.allowBrokenVersioning');
    expect(verdict.reason).toContain('version_type=external');
  });

  it('says nothing with fewer than five overlapping documents in the sample', () => {
    const pairs: SampledPair[] = [
      ...Array.from({ length: 4 }, (_, i) => ({ id: `a${i}`, targetVersion: 1, sourceVersion: 1_000 })),
      ...Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, targetVersion: 1, sourceVersion: null })),
    ];

    expect(versioningLooksBroken(pairs)).toEqual({ broken: false });
  });

  it('needs a strict majority of overlapping documents behind on the target', () => {
    const behind = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `b${i}`, targetVersion: 1, sourceVersion: 9 }));
    const equal = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, targetVersion: 9, sourceVersion: 9 }));

    expect(versioningLooksBroken([...behind(5), ...equal(5)]).broken).toBe(false);
    expect(versioningLooksBroken([...behind(6), ...equal(5)]).broken).toBe(true);
  });
});

describe('the prediction interval', () => {
  /** A deterministic generator (mulberry32), so the coverage test draws the same samples every run. */
  function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  /** `n` of `population` drawn without replacement (partial Fisher-Yates). */
  function draw<T>(population: readonly T[], n: number, random: () => number): T[] {
    const copy = [...population];
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(random() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  }

  const within = (value: number, range: { low: number; high: number }) => value >= range.low && value <= range.high;

  it('holds the real counters of the worked example where a 65-document sample predicted 218 updated for 635', () => {
    // Prepare: the 1/1000 worked example's target (14,188 documents, 635 older than the source), one older one sampled
    const pairs: SampledPair[] = [
      { id: 'old-0', targetVersion: 4_000, sourceVersion: 4_001 },
      ...Array.from({ length: 64 }, (_, i) => ({ id: `eq-${i}`, targetVersion: 5_000 + i, sourceVersion: 5_000 + i })),
    ];

    // Act
    const { predicted, interval } = probe({ pairs, sourceCount: 84_987, targetCount: 14_188, mode: 'merge' });

    // Assess
    expect(predicted.updated).toBe(218);
    expect(within(635, interval.updated)).toBe(true);
    expect(within(13_553, interval.versionConflicts)).toBe(true);
    expect(within(70_799, interval.created)).toBe(true);
    expect(interval.confidence).toBe(0.95);
  });

  it('is the point itself when the sample holds every target document', () => {
    const { predicted, interval } = probe({ pairs: workedExampleSample(), sourceCount: 84_987, targetCount: 14_188, mode: 'merge' });

    expect(interval.created).toEqual({ low: predicted.created, high: predicted.created });
    expect(interval.updated).toEqual({ low: predicted.updated, high: predicted.updated });
    expect(interval.versionConflicts).toEqual({ low: predicted.versionConflicts, high: predicted.versionConflicts });
  });

  it('always holds the predicted counters, within 0 and the source count, in every mode', () => {
    const random = seeded(7);
    for (let trial = 0; trial < 500; trial++) {
      const sampled = 1 + Math.floor(random() * 80);
      const pairs: SampledPair[] = Array.from({ length: sampled }, (_, i) => {
        const r = random();
        return { id: `d${i}`, targetVersion: 10, sourceVersion: r < 0.2 ? null : r < 0.5 ? 11 : r < 0.8 ? 10 : 9 };
      });
      const targetCount = sampled + Math.floor(random() * 100_000);
      const sourceCount = Math.floor(random() * 200_000);
      for (const mode of ['merge', 'create-only', 'overwrite'] as const) {
        const { predicted, interval } = probe({ pairs, sourceCount, targetCount, mode });
        for (const key of ['created', 'updated', 'versionConflicts'] as const) {
          expect(within(predicted[key], interval[key]), `${mode} ${key} ${JSON.stringify({ predicted, interval })}`).toBe(true);
          expect(interval[key].low).toBeGreaterThanOrEqual(0);
          expect(interval[key].high).toBeLessThanOrEqual(sourceCount);
        }
      }
    }
  });

  it('holds all three real counters in at least 95% of repeated 65-document samples', () => {
    // Prepare: a target of 20,000 documents, 18,000 also on the source (900 of them older there), 2,000 target only
    const target: SampledPair[] = Array.from({ length: 20_000 }, (_, i) => ({
      id: `t${i}`,
      targetVersion: 10,
      sourceVersion: i < 900 ? 11 : i < 18_000 ? 10 : null,
    }));
    const sourceCount = 50_000;
    const real = { created: sourceCount - 18_000, updated: 900, versionConflicts: 18_000 - 900 };
    const random = seeded(2026);
    const trials = 2_000;

    // Act
    let held = 0;
    for (let trial = 0; trial < trials; trial++) {
      const { interval } = probe({ pairs: draw(target, 65, random), sourceCount, targetCount: target.length, mode: 'merge' });
      if (within(real.created, interval.created) && within(real.updated, interval.updated) && within(real.versionConflicts, interval.versionConflicts)) held += 1;
    }

    // Assess
    expect(held / trials).toBeGreaterThanOrEqual(0.95);
  });
});
