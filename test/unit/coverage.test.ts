import { describe, expect, it } from 'vitest';
import { coverageOf, daysBetween, daysFromBuckets, describeCoverage, EMPTY_COVERAGE, utcDay } from '../../lambdas/shared/checks/coverage';

const DAY_MS = 86_400_000;
const MAY_27 = Date.UTC(2026, 4, 27);

describe('daysFromBuckets', () => {
  it('names each bucket by the UTC day of its epoch key, sorted', () => {
    // Prepare
    const buckets = [
      { key: MAY_27 + DAY_MS, key_as_string: '2026-05-28T00:00:00.000Z', doc_count: 7 },
      { key: MAY_27, key_as_string: '2026-05-27T00:00:00.000Z', doc_count: 3 },
      { key: MAY_27 + 2 * DAY_MS, doc_count: 0 },
    ];

    // Act
    const days = daysFromBuckets(buckets);

    // Assess
    expect(days).toEqual([
      { day: '2026-05-27', count: 3 },
      { day: '2026-05-28', count: 7 },
      { day: '2026-05-29', count: 0 },
    ]);
  });

  it('adds up buckets that fall in the same UTC day', () => {
    const days = daysFromBuckets([
      { key: MAY_27, doc_count: 2 },
      { key: MAY_27 + 12 * 3_600_000, doc_count: 5 },
    ]);

    expect(days).toEqual([{ day: '2026-05-27', count: 7 }]);
  });

  it('answers no days for no buckets', () => {
    expect(daysFromBuckets([])).toEqual([]);
  });
});

describe('coverageOf', () => {
  it('counts only the days strictly between the first and the last as full: dual-write started mid-day and today is still written', () => {
    // Prepare: dual-write on since 2026-05-27 (mid-day), last day 2026-05-31 still being written
    const days = [
      { day: '2026-05-27', count: 1_200 },
      { day: '2026-05-28', count: 3_000 },
      { day: '2026-05-29', count: 3_100 },
      { day: '2026-05-30', count: 3_050 },
      { day: '2026-05-31', count: 3_838 },
    ];

    // Act
    const coverage = coverageOf(days);

    // Assess
    expect(coverage).toEqual({ docs: 14_188, firstDay: '2026-05-27', lastDay: '2026-05-31', days: 5, fullDays: 3 });
  });

  it('ignores zero-count days at both ends and counts an empty day in the middle as part of the span', () => {
    const coverage = coverageOf([
      { day: '2026-05-25', count: 0 },
      { day: '2026-05-26', count: 10 },
      { day: '2026-05-27', count: 0 },
      { day: '2026-05-28', count: 4 },
      { day: '2026-05-29', count: 0 },
    ]);

    expect(coverage).toEqual({ docs: 14, firstDay: '2026-05-26', lastDay: '2026-05-28', days: 3, fullDays: 1 });
  });

  it('has no full day when everything is in one or two days', () => {
    expect(coverageOf([{ day: '2026-05-31', count: 9 }])).toMatchObject({ days: 1, fullDays: 0 });
    expect(coverageOf([{ day: '2026-05-30', count: 1 }, { day: '2026-05-31', count: 9 }])).toMatchObject({ days: 2, fullDays: 0 });
  });

  it('works whatever the order of the days, across a month boundary', () => {
    const coverage = coverageOf([
      { day: '2026-06-02', count: 1 },
      { day: '2026-05-30', count: 1 },
    ]);

    expect(coverage).toMatchObject({ firstDay: '2026-05-30', lastDay: '2026-06-02', days: 4, fullDays: 2 });
  });

  it('answers nulls and zeros for an empty target', () => {
    expect(coverageOf([])).toEqual(EMPTY_COVERAGE);
    expect(coverageOf([{ day: '2026-05-01', count: 0 }])).toEqual({ docs: 0, firstDay: null, lastDay: null, days: 0, fullDays: 0 });
  });
});

describe('UTC days', () => {
  it('places an instant just before midnight UTC in its UTC day', () => {
    expect(utcDay(Date.UTC(2026, 4, 31, 23, 59, 59, 999))).toBe('2026-05-31');
  });

  it('counts days across a leap day', () => {
    expect(daysBetween('2028-02-28', '2028-03-01')).toBe(2);
  });

  it('refuses a day that is not YYYY-MM-DD', () => {
    expect(() => daysBetween('2026-05-01', 'yesterday')).toThrow(/YYYY-MM-DD/);
  });
});

describe('describeCoverage', () => {
  it('summarises the coverage in one line, and says when the target is empty', () => {
    const coverage = coverageOf([
      { day: '2026-05-27', count: 1_188 },
      { day: '2026-05-31', count: 13_000 },
    ]);

    expect(describeCoverage(coverage)).toBe('2026-05-27 .. 2026-05-31 (UTC), 5 day(s), 3 full day(s), 14,188 docs');
    expect(describeCoverage(EMPTY_COVERAGE)).toBe('empty (no dual-write data)');
  });
});
