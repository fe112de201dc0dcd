import { describe, expect, it } from 'vitest';
import {
  compareCounts,
  forwardSample,
  histogramDrift,
  parityVerdict,
  reverseSample,
  type ForwardPair,
  type ParityInput,
} from '../../lambdas/shared/checks/parity';

const CLEAN: ParityInput = {
  counts: compareCounts(84_986_805, 84_986_805, 0.0002),
  days: [],
  forward: { checked: 65, missing: [], behind: [] },
  reverse: { checked: 65, targetOnly: [] },
};

describe('compareCounts', () => {
  it('accepts the worked example: target within 0.013% of the source', () => {
    // Act
    const result = compareCounts(84_986_805, 84_997_853, 0.0002);

    // Assess
    expect(result.ok).toBe(true);
    expect(result.difference).toBe(11_048);
    expect(result.drift).toBeCloseTo(0.00013, 6);
  });

  it('fails beyond the tolerance, whether the target holds fewer or more documents', () => {
    expect(compareCounts(1_000_000, 999_700, 0.0002).ok).toBe(false);
    expect(compareCounts(1_000_000, 1_000_300, 0.0002).ok).toBe(false);
    expect(compareCounts(1_000_000, 1_000_200, 0.0002).ok).toBe(true);
  });

  it('treats an empty source as parity only when the target is empty too', () => {
    expect(compareCounts(0, 0, 0.0002)).toMatchObject({ ok: true, drift: 0 });
    expect(compareCounts(0, 3, 0.0002)).toMatchObject({ ok: false, drift: Infinity });
  });
});

describe('histogramDrift', () => {
  it('names the days whose counts differ beyond tolerance, sorted', () => {
    // Prepare
    const source = [
      { day: '2026-05-03', count: 100_000 },
      { day: '2026-05-01', count: 100_000 },
      { day: '2026-05-02', count: 100_000 },
    ];
    const target = [
      { day: '2026-05-01', count: 99_990 },
      { day: '2026-05-02', count: 100_020 },
      { day: '2026-05-03', count: 99_000 },
    ];

    // Act
    const drift = histogramDrift(source, target, 0.0002);

    // Assess: 20 docs allowed per day
    expect(drift).toEqual([{ day: '2026-05-03', source: 100_000, target: 99_000, difference: -1_000 }]);
  });

  it('names a day present on one side only', () => {
    const drift = histogramDrift([{ day: '2026-05-01', count: 10 }], [{ day: '2026-05-01', count: 10 }, { day: '2026-05-02', count: 5 }], 0.0002);

    expect(drift).toEqual([{ day: '2026-05-02', source: 0, target: 5, difference: 5 }]);
  });

  it('allows one document per day: the current day is still being written on both sides', () => {
    const drift = histogramDrift(
      [{ day: '2026-05-30', count: 40 }, { day: '2026-05-31', count: 41 }],
      [{ day: '2026-05-30', count: 38 }, { day: '2026-05-31', count: 40 }],
      0.0002,
    );

    expect(drift.map((d) => d.day)).toEqual(['2026-05-30']);
  });
});

describe('forwardSample', () => {
  const pairs: ForwardPair[] = [
    { id: 'found', sourceVersion: 5, targetVersion: 5 },
    { id: 'newer-on-target', sourceVersion: 5, targetVersion: 9 },
    { id: 'gone', sourceVersion: 5, targetVersion: null },
    { id: 'behind', sourceVersion: 7, targetVersion: 3 },
  ];

  it('finds missing ids and, in merge mode, target copies older than the source', () => {
    const result = forwardSample(pairs, 'merge');

    expect(result).toEqual({ checked: 4, missing: ['gone'], behind: [{ id: 'behind', sourceVersion: 7, targetVersion: 3 }] });
  });

  it('does not compare versions in create-only and overwrite modes', () => {
    expect(forwardSample(pairs, 'create-only').behind).toEqual([]);
    expect(forwardSample(pairs, 'overwrite')).toEqual({ checked: 4, missing: ['gone'], behind: [] });
  });
});

describe('reverseSample', () => {
  it('finds target ids the source does not hold', () => {
    const result = reverseSample([
      { id: 'both', targetVersion: 3, sourceVersion: 3 },
      { id: 'resurrected', targetVersion: 3, sourceVersion: null },
    ]);

    expect(result).toEqual({ checked: 2, targetOnly: ['resurrected'] });
  });
});

describe('parityVerdict', () => {
  it('passes the worked example: counts within tolerance, no drifting day, 65/65 sampled documents found', () => {
    expect(parityVerdict(CLEAN)).toEqual({ ok: true, cause: null, sampleMissing: 0 });
  });

  it('names the count drift, the drifting days and the missing, behind and target-only ids', () => {
    // Prepare
    const input: ParityInput = {
      counts: compareCounts(1_000_000, 999_000, 0.0002),
      days: [{ day: '2026-05-14', source: 30_000, target: 29_000, difference: -1_000 }],
      forward: { checked: 65, missing: ['c-17'], behind: [{ id: 'c-23', sourceVersion: 9, targetVersion: 4 }] },
      reverse: { checked: 65, targetOnly: ['c-99'] },
    };

    // Act
    const verdict = parityVerdict(input);

    // Assess
    expect(verdict.ok).toBe(false);
    expect(verdict.sampleMissing).toBe(3);
    expect(verdict.cause).toContain('count drift 0.1% over tolerance 0.02%: source 1,000,000, target 999,000 (−1,000)');
    expect(verdict.cause).toContain('2026-05-14 (source 30,000, target 29,000)');
    expect(verdict.cause).toContain('1 of 65 sampled source ids missing on the target: c-17');
    expect(verdict.cause).toContain('c-23 (target 4, source 9)');
    expect(verdict.cause).toContain('not on the source (lost dual-write or resurrected delete): c-99');
  });

  it('names the first 10 ids and says how many more there are', () => {
    const missing = Array.from({ length: 13 }, (_, i) => `m${i}`);

    const verdict = parityVerdict({ ...CLEAN, forward: { checked: 65, missing, behind: [] } });

    expect(verdict.cause).toContain('13 of 65 sampled source ids missing on the target: m0, m1, m2, m3, m4, m5, m6, m7, m8, m9 and 3 more');
    expect(verdict.cause).not.toContain('m10');
  });

  it('fails on one drifting day alone', () => {
    const verdict = parityVerdict({ ...CLEAN, days: [{ day: '2026-05-31', source: 10, target: 2, difference: -8 }] });

    expect(verdict).toMatchObject({ ok: false, sampleMissing: 0 });
    expect(verdict.cause).toContain('1 day(s) drift: 2026-05-31');
  });
});
