import { describe, expect, it } from 'vitest';
import {
  classify,
  confirm,
  describeRange,
  emptyCounts,
  emptyFirstIds,
  FIRST_IDS,
  keepFirstIds,
  MAX_SLICES,
  planRanges,
  rangeQuery,
  sliceRange,
  splitRange,
  verificationProblem,
  type VerificationRange,
} from '../../lambdas/shared/checks/verification';
import { exactPrediction } from '../../lambdas/predict-every-document/predict-every-document';
import { withProbeLines } from '../../lambdas/shared/planning/header';

const day = (d: string) => Date.parse(`${d}T00:00:00.000Z`);

describe('classify', () => {
  it('merge: equal, kept when the target is newer, a regression when the source is newer', () => {
    expect(classify('merge', 1000, 1000)).toBe('equal');
    expect(classify('merge', 1000, 1003)).toBe('targetNewer');
    expect(classify('merge', 1003, 1000)).toBe('regression');
  });

  it('create-only keeps older target copies by design; overwrite compares presence only (the target has its own versions)', () => {
    expect(classify('create-only', 1003, 1000)).toBe('sourceNewerByDesign');
    expect(classify('overwrite', 1003, 1)).toBe('equal');
  });

  it('missing and target-only in every mode; an id on neither side is nothing', () => {
    for (const mode of ['merge', 'create-only', 'overwrite'] as const) {
      expect(classify(mode, 1000, null)).toBe('missing');
      expect(classify(mode, null, 1000)).toBe('targetOnly');
      expect(classify(mode, null, null)).toBeUndefined();
    }
  });
});

describe('confirm', () => {
  it('counts a difference only when the second lookup still shows it, in the class it shows now', () => {
    const { counts, differences } = confirm('merge', [
      { id: 'still-missing', sourceVersion: 5, targetVersion: null },
      { id: 'dual-write-landed', sourceVersion: 5, targetVersion: 5 },
      { id: 'deleted-on-both', sourceVersion: null, targetVersion: null },
      { id: 'now-regressed', sourceVersion: 9, targetVersion: 5 },
    ]);

    expect(counts).toEqual({ missing: 1, settled: 2, regression: 1 });
    expect(differences).toEqual([
      { id: 'still-missing', class: 'missing', sourceVersion: 5, targetVersion: null },
      { id: 'now-regressed', class: 'regression', sourceVersion: 9, targetVersion: 5 },
    ]);
  });
});

describe('planRanges', () => {
  it('without a date field: one range of every document', () => {
    expect(planRanges(null, [], [])).toEqual([{ id: 'r0001', kind: 'all' }]);
  });

  it('groups days up to the range size by the larger count of the two clusters, with open ends and the undated documents', () => {
    const source = [
      { day: '2026-05-01', count: 60 },
      { day: '2026-05-02', count: 30 },
      { day: '2026-05-04', count: 50 },
    ];
    // The target holds many more on 05-02 (lost deletes, say): that day is cut by the target's count.
    const target = [{ day: '2026-05-02', count: 90 }];

    const ranges = planRanges('timestamp', source, target, 100);

    expect(ranges).toEqual([
      { id: 'r0001', kind: 'range', lt: day('2026-05-01') },
      { id: 'r0002', kind: 'range', gte: day('2026-05-01'), lt: day('2026-05-02') },
      { id: 'r0003', kind: 'range', gte: day('2026-05-02'), lt: day('2026-05-04') },
      { id: 'r0004', kind: 'range', gte: day('2026-05-04'), lt: day('2026-05-05') },
      { id: 'r0005', kind: 'range', gte: day('2026-05-05') },
      { id: 'r0006', kind: 'missing-date' },
    ]);
  });

  it('covers every instant exactly once: consecutive ranges share their bounds', () => {
    const days = Array.from({ length: 31 }, (_, i) => ({ day: `2026-05-${String(i + 1).padStart(2, '0')}`, count: 1_000 + i * 37 }));
    const ranges = planRanges('timestamp', days, [], 5_000).filter((r): r is Extract<VerificationRange, { kind: 'range' }> => r.kind === 'range');

    expect(ranges[0]!.gte).toBeUndefined();
    expect(ranges.at(-1)!.lt).toBeUndefined();
    for (let i = 1; i < ranges.length; i += 1) expect(ranges[i]!.gte).toBe(ranges[i - 1]!.lt);
  });

  it('an empty histogram still gives a range of every dated document and one of the undated', () => {
    expect(planRanges('timestamp', [], [])).toEqual([
      { id: 'r0001', kind: 'range' },
      { id: 'r0002', kind: 'missing-date' },
    ]);
  });
});

describe('splitRange', () => {
  it('halves a bounded range by time, down to one millisecond', () => {
    const range: VerificationRange = { id: 'r0002', kind: 'range', gte: 1_000, lt: 2_000 };
    expect(splitRange(range)).toEqual([
      { id: 'r0002a', kind: 'range', gte: 1_000, lt: 1_500 },
      { id: 'r0002b', kind: 'range', gte: 1_500, lt: 2_000 },
    ]);
    expect(splitRange({ id: 'x', kind: 'range', gte: 7, lt: 8 })).toBeUndefined();
  });

  it('leaves open ranges, the undated documents and the whole index whole (read a page at a time all the same)', () => {
    expect(splitRange({ id: 'x', kind: 'range', lt: 8 })).toBeUndefined();
    expect(splitRange({ id: 'x', kind: 'range', gte: 8 })).toBeUndefined();
    expect(splitRange({ id: 'x', kind: 'missing-date' })).toBeUndefined();
    expect(splitRange({ id: 'x', kind: 'all' })).toBeUndefined();
  });
});

describe('sliceRange', () => {
  it('cuts a range that cannot be halved into slices of about the range size, at most 1,024', () => {
    const undated: VerificationRange = { id: 'r0007', kind: 'missing-date' };
    expect(sliceRange(undated, 450_000, 200_000)).toEqual([
      { id: 'r0007s0', kind: 'missing-date', slice: { id: 0, max: 3 } },
      { id: 'r0007s1', kind: 'missing-date', slice: { id: 1, max: 3 } },
      { id: 'r0007s2', kind: 'missing-date', slice: { id: 2, max: 3 } },
    ]);
    expect(sliceRange({ id: 'r1', kind: 'all' }, 10_000_000_000, 200_000)).toHaveLength(MAX_SLICES);
  });

  it('leaves a small range and a slice alone, and a slice is never halved again', () => {
    expect(sliceRange({ id: 'r1', kind: 'all' }, 200_000, 200_000)).toBeUndefined();
    const slice: VerificationRange = { id: 'r1s0', kind: 'range', gte: 0, lt: 1_000, slice: { id: 0, max: 2 } };
    expect(sliceRange(slice, 1_000_000, 200_000)).toBeUndefined();
    expect(splitRange(slice)).toBeUndefined();
    expect(describeRange(slice)).toBe('1970-01-01T00:00:00.000Z → 1970-01-01T00:00:01.000Z, slice 1 of 2');
  });
});

describe('rangeQuery', () => {
  it('keeps the run query in every range, so both clusters are compared within the run scope only', () => {
    const runQuery = { term: { tenant: 'a' } };
    expect(rangeQuery({ id: 'r', kind: 'range', gte: 5, lt: 9 }, 'timestamp', runQuery)).toEqual({
      bool: { filter: [{ term: { tenant: 'a' } }, { range: { timestamp: { gte: 5, lt: 9, format: 'epoch_millis' } } }] },
    });
    expect(rangeQuery({ id: 'r', kind: 'missing-date' }, 'timestamp', runQuery)).toEqual({
      bool: { filter: [{ term: { tenant: 'a' } }], must_not: [{ exists: { field: 'timestamp' } }] },
    });
    expect(rangeQuery({ id: 'r', kind: 'all' }, null, runQuery)).toEqual(runQuery);
    expect(rangeQuery({ id: 'r', kind: 'all' }, null, null)).toEqual({ match_all: {} });
  });

  it('describes ranges as a person reads them', () => {
    expect(describeRange({ id: 'r', kind: 'range', gte: day('2026-05-01'), lt: day('2026-05-02') })).toBe(
      '2026-05-01T00:00:00.000Z → 2026-05-02T00:00:00.000Z',
    );
    expect(describeRange({ id: 'r', kind: 'missing-date' })).toBe('documents without the date field');
  });
});

describe('verificationProblem', () => {
  it('is undefined when nothing was confirmed different, however many settled', () => {
    expect(verificationProblem({ ...emptyCounts(), equal: 10, settled: 4 }, emptyFirstIds())).toBeUndefined();
  });

  it('gives the count of each class with its first ids, and how many more', () => {
    const ids = Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, class: 'missing' as const, sourceVersion: 1, targetVersion: null }));
    const first = keepFirstIds(emptyFirstIds(), [...ids, { id: 't1', class: 'targetOnly', sourceVersion: null, targetVersion: 3 }]);
    expect(first.missing).toHaveLength(FIRST_IDS);

    const problem = verificationProblem({ ...emptyCounts(), missing: 12, targetOnly: 1 }, first);

    expect(problem).toBe(
      'full verification confirmed 12 missing on the target: m0, m1, m2, m3, m4, m5, m6, m7, m8, m9 and 2 more; ' +
        '1 on the target only (resurrected delete or lost dual-write): t1',
    );
  });
});

describe('exactPrediction (probe "full")', () => {
  const classes = { ...emptyCounts(), equal: 60, targetNewer: 15, regression: 25, missing: 400, targetOnly: 3 };

  it('merge: missing documents are created, older target copies updated, the rest conflict', () => {
    expect(exactPrediction('merge', classes)).toEqual({ created: 400, updated: 25, versionConflicts: 75 });
  });

  it('create-only never updates: an existing copy conflicts whatever its version', () => {
    expect(exactPrediction('create-only', { ...classes, regression: 0, sourceNewerByDesign: 25 })).toEqual({ created: 400, updated: 0, versionConflicts: 100 });
  });
});

describe('withProbeLines', () => {
  it('replaces the sample\'s probe block and leaves the rest of the header as it was', () => {
    const header = [
      'target coverage:      5 days',
      'probe:                65 sampled: ...',
      'predicted:            84,987 = ...',
      '                      95% interval: ...',
      'examples:             a: ...',
      '                      b: ...',
      'tombstones:           index.gc_deletes 60s',
      'fingerprint:          f',
    ];
    expect(withProbeLines(header, ['probe:                full', 'predicted:            exact'])).toEqual([
      'target coverage:      5 days',
      'probe:                full',
      'predicted:            exact',
      'tombstones:           index.gc_deletes 60s',
      'fingerprint:          f',
    ]);
  });
});
