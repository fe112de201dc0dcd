import { describe, expect, it } from 'vitest';
import type { DayCount } from '../../lambdas/shared/checks/coverage';
import {
  DEFAULT_PARTITION_LIMITS,
  expectedCounts,
  planKey,
  planPartitions,
  type Partition,
  type PartitionPlan,
  type RangePartition,
} from '../../lambdas/shared/planning/partitions';

const FIELD = 'timestamp';
const RUN_QUERY = { term: { tenant: 'acme' } };

/** The worked example's shape: 31 days of May 2026, 2M a day, the last 5 days 6.6M a day (85M in all). */
function mayDays(): DayCount[] {
  return Array.from({ length: 31 }, (_, i) => ({
    day: `2026-05-${String(i + 1).padStart(2, '0')}`,
    count: i < 26 ? 2_000_000 : 6_600_000,
  }));
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
const ranges = (plan: PartitionPlan): RangePartition[] => plan.partitions.filter((p): p is RangePartition => p.kind === 'range');

/** Which partitions a document would match, by the plan's bounds (gte inclusive, lt exclusive). */
function partitionsOf(plan: PartitionPlan, timestamp: string | undefined): string[] {
  return plan.partitions
    .filter((p: Partition) => {
      if (p.kind === 'all') return true;
      if (p.kind === 'missing-date') return timestamp === undefined;
      if (timestamp === undefined) return false;
      const t = Date.parse(timestamp);
      return (p.start === undefined || t >= Date.parse(p.start)) && (p.end === undefined || t < Date.parse(p.end));
    })
    .map((p) => p.id);
}

describe('planPartitions: splitting', () => {
  it('splits the worked example into ranges of about equal counts, never more than a day off', () => {
    // Prepare
    const days = mayDays();
    const total = sum(days.map((d) => d.count));

    // Act
    const plan = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 4, query: null });

    // Assess
    expect(plan.single).toBe(false);
    expect(plan.partitions.map((p) => [p.id, p.kind])).toEqual([
      ['p01', 'range'],
      ['p02', 'range'],
      ['p03', 'range'],
      ['p04', 'range'],
      ['p05', 'missing-date'],
    ]);
    expect(ranges(plan).map((p) => [p.start, p.end])).toEqual([
      [undefined, '2026-05-12T00:00:00.000Z'],
      ['2026-05-12T00:00:00.000Z', '2026-05-22T00:00:00.000Z'],
      ['2026-05-22T00:00:00.000Z', '2026-05-29T00:00:00.000Z'],
      ['2026-05-29T00:00:00.000Z', undefined],
    ]);
    const counts = expectedCounts(plan, days, 0);
    expect(counts.map((c) => c.count)).toEqual([22_000_000, 20_000_000, 23_200_000, 19_800_000, 0]);
    for (const c of counts.slice(0, 4)) expect(Math.abs(c.count - total / 4)).toBeLessThanOrEqual(6_600_000);
  });

  it('puts the heavy last days in narrower ranges', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 8, query: null });

    const widths = ranges(plan)
      .slice(1, -1)
      .map((p) => (Date.parse(p.end ?? '') - Date.parse(p.start ?? '')) / 86_400_000);
    expect(widths[0]).toBeGreaterThan(widths[widths.length - 1] ?? Infinity);
  });

  it('never splits a day: every bound is a UTC day start of a histogram day', () => {
    const days = mayDays();
    const plan = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 7, query: null });

    const starts = new Set(days.map((d) => `${d.day}T00:00:00.000Z`));
    for (const p of ranges(plan)) {
      for (const bound of [p.start, p.end]) if (bound !== undefined) expect(starts.has(bound)).toBe(true);
    }
    // One enormous day among small ones stays whole: its range holds exactly that day.
    const spiky = [
      { day: '2026-05-01', count: 10 },
      { day: '2026-05-02', count: 1_000 },
      { day: '2026-05-03', count: 10 },
    ];
    const spikyPlan = planPartitions({ days: spiky, withoutDate: 0, dateField: FIELD, partitions: 3, query: null });
    expect(expectedCounts(spikyPlan, spiky, 0).map((c) => c.count)).toEqual([10, 1_000, 10, 0]);
  });

  it('makes the ranges contiguous, the first open below and the last open above', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 5, dateField: FIELD, partitions: 6, query: null });

    const rs = ranges(plan);
    expect(rs).toHaveLength(6);
    expect(rs[0]?.start).toBeUndefined();
    expect(rs[0]).not.toHaveProperty('start');
    expect(rs[rs.length - 1]?.end).toBeUndefined();
    expect(rs[rs.length - 1]).not.toHaveProperty('end');
    for (let i = 1; i < rs.length; i += 1) expect(rs[i]?.start).toBe(rs[i - 1]?.end);
    // Open ends: the first range's query has no gte, the last's no lt.
    expect(rs[0]?.query).toEqual({
      bool: { filter: [{ range: { [FIELD]: { lt: rs[0]?.end, format: 'strict_date_optional_time' } } }] },
    });
    expect(rs[rs.length - 1]?.query).toEqual({
      bool: { filter: [{ range: { [FIELD]: { gte: rs[rs.length - 1]?.start, format: 'strict_date_optional_time' } } }] },
    });
  });

  it('counts every document exactly once, also documents written before or after the histogram', () => {
    // Prepare
    const days = mayDays();
    const plan = planPartitions({ days, withoutDate: 1_234, dateField: FIELD, partitions: 5, query: null });

    // Act: the header's counts from the same histogram, then from a later one with new days at both ends
    const counts = expectedCounts(plan, days, 1_234);
    const later = [{ day: '2026-04-30', count: 3 }, ...days, { day: '2026-06-02', count: 42 }];
    const laterCounts = expectedCounts(plan, later, 1_300);

    // Assess
    expect(sum(counts.map((c) => c.count))).toBe(85_000_000 + 1_234);
    expect(sum(laterCounts.map((c) => c.count))).toBe(85_000_000 + 3 + 42 + 1_300);
    expect(laterCounts[0]?.count).toBe((counts[0]?.count ?? 0) + 3);
    expect(laterCounts[4]?.count).toBe((counts[4]?.count ?? 0) + 42);
    for (const t of ['1970-01-01T00:00:00.000Z', '2026-04-30T23:59:59.999Z', '2026-05-15T12:00:00.000Z', '2099-12-31T00:00:00.000Z', undefined]) {
      expect(partitionsOf(plan, t)).toHaveLength(1);
    }
  });

  it('puts a document exactly at a UTC midnight bound in the partition starting that day', () => {
    const days = [
      { day: '2026-05-09', count: 100 },
      { day: '2026-05-10', count: 100 },
    ];
    const plan = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 2, query: null });

    const [first, second] = ranges(plan);
    expect(first?.end).toBe('2026-05-10T00:00:00.000Z');
    expect(second?.start).toBe('2026-05-10T00:00:00.000Z');
    expect(second?.query).toEqual({
      bool: { filter: [{ range: { [FIELD]: { gte: '2026-05-10T00:00:00.000Z', format: 'strict_date_optional_time' } } }] },
    });
    expect(first?.query).toEqual({
      bool: { filter: [{ range: { [FIELD]: { lt: '2026-05-10T00:00:00.000Z', format: 'strict_date_optional_time' } } }] },
    });
    expect(partitionsOf(plan, '2026-05-10T00:00:00.000Z')).toEqual([second?.id]);
    expect(partitionsOf(plan, '2026-05-09T23:59:59.999Z')).toEqual([first?.id]);
  });

  it('gives middle ranges both bounds with gte and lt', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 3, query: null });

    expect(ranges(plan)[1]?.query).toEqual({
      bool: {
        filter: [
          {
            range: {
              [FIELD]: { gte: ranges(plan)[1]?.start, lt: ranges(plan)[1]?.end, format: 'strict_date_optional_time' },
            },
          },
        ],
      },
    });
  });

  it('accepts the histogram in any order, with duplicate and empty days', () => {
    const days = mayDays();
    const messy = [...days].reverse().concat([{ day: '2026-05-31', count: 0 }, { day: '2026-06-15', count: 0 }]);

    const tidy = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 4, query: null });
    const fromMessy = planPartitions({ days: messy, withoutDate: 0, dateField: FIELD, partitions: 4, query: null });

    expect(planKey(fromMessy)).toEqual(planKey(tidy));
  });
});

describe('planPartitions: queries', () => {
  it('selects the documents without the date field in the missing-date partition', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 7, dateField: FIELD, partitions: 2, query: null });

    const missing = plan.partitions[plan.partitions.length - 1];
    expect(missing).toEqual({
      id: 'p03',
      kind: 'missing-date',
      query: { bool: { filter: [], must_not: [{ exists: { field: FIELD } }] } },
    });
    expect(expectedCounts(plan, mayDays(), 7)[2]).toEqual({ id: 'p03', count: 7 });
  });

  it('keeps the missing-date partition at 0 documents: such documents may be written later', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 2, query: null });

    expect(plan.partitions.map((p) => p.kind)).toEqual(['range', 'range', 'missing-date']);
  });

  it('keeps the run query inside every partition filter', () => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 3, dateField: FIELD, partitions: 3, query: RUN_QUERY });

    for (const p of plan.partitions) {
      const bool = (p.query as { bool: { filter: unknown[] } }).bool;
      expect(bool.filter[0]).toEqual(RUN_QUERY);
    }
    expect(plan.partitions[3]?.query).toEqual({
      bool: { filter: [RUN_QUERY], must_not: [{ exists: { field: FIELD } }] },
    });
    expect(plan.partitions[1]?.query).toEqual({
      bool: {
        filter: [
          RUN_QUERY,
          { range: { [FIELD]: { gte: ranges(plan)[1]?.start, lt: ranges(plan)[1]?.end, format: 'strict_date_optional_time' } } },
        ],
      },
    });
  });

  it('does not share the run query object with the plan', () => {
    const query = { term: { tenant: 'acme' } };
    const plan = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 2, query });

    query.term.tenant = 'changed';

    expect(JSON.stringify(plan)).not.toContain('changed');
  });
});

describe('planPartitions: partitions 1 and absent', () => {
  it.each([1, undefined])('partitions %s is today single task with the run query unchanged', (partitions) => {
    const plan = planPartitions({ days: mayDays(), withoutDate: 9, dateField: FIELD, partitions, query: RUN_QUERY });

    expect(plan.single).toBe(true);
    expect(plan.partitions).toEqual([{ id: 'p01', kind: 'all', query: RUN_QUERY }]);
    expect(expectedCounts(plan, mayDays(), 9)).toEqual([{ id: 'p01', count: 85_000_009 }]);
  });

  it('keeps a null run query null', () => {
    const plan = planPartitions({ days: [], withoutDate: 0, dateField: null, partitions: 1, query: null });

    expect(plan.partitions).toEqual([{ id: 'p01', kind: 'all', query: null }]);
  });
});

describe('planPartitions: auto', () => {
  it('runs a small index as one task', () => {
    const days = [
      { day: '2026-05-01', count: 1_000 },
      { day: '2026-05-02', count: 2_000 },
    ];

    const plan = planPartitions({ days, withoutDate: 10, dateField: FIELD, partitions: 'auto', query: RUN_QUERY });

    expect(plan.single).toBe(true);
    expect(plan.requested).toBe('auto');
    expect(plan.partitions).toEqual([{ id: 'p01', kind: 'all', query: RUN_QUERY }]);
    expect(plan.notes.join(' ')).toMatch(/one task/);
  });

  it('splits ceil(total / target) ranges for a mid-sized index', () => {
    const days = mayDays().map((d) => ({ day: d.day, count: 100_000 })); // 3.1M
    const plan = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 'auto', query: null });

    expect(ranges(plan)).toHaveLength(2);
    expect(plan.partitions).toHaveLength(3);
  });

  it('caps a large index at maxPartitions, then at the number of days', () => {
    // 85M / 2M = 43 → 32 (maxPartitions) → 31 (days of May)
    const plan = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 'auto', query: null });

    expect(ranges(plan)).toHaveLength(31);
    expect(plan.partitions).toHaveLength(32);
    expect(plan.partitions[31]?.id).toBe('p32');
    expect(plan.notes.join(' ')).toMatch(/capped at maxPartitions 32/);
    expect(plan.notes.join(' ')).toMatch(/only 31 day/);

    // Over a year: capped at maxPartitions.
    const year = Array.from({ length: 365 }, (_, i) => ({
      day: new Date(Date.UTC(2025, 0, 1 + i)).toISOString().slice(0, 10),
      count: 3_000_000,
    }));
    const yearPlan = planPartitions({ days: year, withoutDate: 0, dateField: FIELD, partitions: 'auto', query: null });
    expect(ranges(yearPlan)).toHaveLength(DEFAULT_PARTITION_LIMITS.maxPartitions);
  });

  it('follows the given limits', () => {
    const plan = planPartitions({
      days: mayDays(),
      withoutDate: 0,
      dateField: FIELD,
      partitions: 'auto',
      query: null,
      limits: { targetDocsPerPartition: 20_000_000, maxPartitions: 8 },
    });

    expect(ranges(plan)).toHaveLength(5); // ceil(85 / 20)
  });

  it('falls back to one task without a dateField', () => {
    const plan = planPartitions({ days: [], withoutDate: 0, dateField: null, partitions: 'auto', query: null });

    expect(plan.single).toBe(true);
  });
});

describe('planPartitions: edge cases', () => {
  it('gives as many ranges as there are days when more are asked for, and says so', () => {
    const days = [
      { day: '2026-05-01', count: 5 },
      { day: '2026-05-04', count: 6 },
      { day: '2026-05-09', count: 7 },
    ];

    const plan = planPartitions({ days, withoutDate: 1, dateField: FIELD, partitions: 10, query: null });

    expect(ranges(plan).map((p) => [p.start, p.end])).toEqual([
      [undefined, '2026-05-04T00:00:00.000Z'],
      ['2026-05-04T00:00:00.000Z', '2026-05-09T00:00:00.000Z'],
      ['2026-05-09T00:00:00.000Z', undefined],
    ]);
    expect(plan.notes).toEqual([expect.stringMatching(/10 range partitions asked for but only 3 day/)]);
    expect(expectedCounts(plan, days, 1).map((c) => c.count)).toEqual([5, 6, 7, 1]);
  });

  it('plans one unbounded range (exists) and the missing-date partition over an empty histogram', () => {
    const plan = planPartitions({ days: [], withoutDate: 0, dateField: FIELD, partitions: 4, query: RUN_QUERY });

    expect(plan.partitions).toEqual([
      { id: 'p01', kind: 'range', query: { bool: { filter: [RUN_QUERY, { exists: { field: FIELD } }] } } },
      { id: 'p02', kind: 'missing-date', query: { bool: { filter: [RUN_QUERY], must_not: [{ exists: { field: FIELD } }] } } },
    ]);
    expect(plan.notes.join(' ')).toMatch(/empty/);
    expect(expectedCounts(plan, [{ day: '2026-06-01', count: 4 }], 2).map((c) => c.count)).toEqual([4, 2]);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4', 'AUTO', {}, 33])('rejects partitions %s, naming partitions', (value) => {
    expect(() =>
      planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: value as never, query: null }),
    ).toThrow(/partitions/);
  });

  it('rejects a split without a dateField, naming partitions', () => {
    expect(() => planPartitions({ days: [], withoutDate: 0, dateField: null, partitions: 3, query: null })).toThrow(
      /partitions: 3 needs a dateField/,
    );
  });

  it('rejects an invalid histogram or limit', () => {
    const base = { withoutDate: 0, dateField: FIELD, partitions: 2, query: null } as const;
    expect(() => planPartitions({ ...base, days: [{ day: '2026-02-30', count: 1 }] })).toThrow(/YYYY-MM-DD/);
    expect(() => planPartitions({ ...base, days: [{ day: '2026-05-01', count: -1 }] })).toThrow(/whole number/);
    expect(() => planPartitions({ ...base, days: [], withoutDate: 0.5 })).toThrow(/withoutDate/);
    expect(() => planPartitions({ ...base, days: [], limits: { maxPartitions: 0 } })).toThrow(/maxPartitions/);
  });
});

describe('planKey', () => {
  it('is stable and holds the ranges and queries, never a count', () => {
    // Prepare
    const days = mayDays();
    const plan = planPartitions({ days, withoutDate: 77_777, dateField: FIELD, partitions: 4, query: RUN_QUERY });

    // Act
    const key = planKey(plan);

    // Assess
    expect(planKey(planPartitions({ days, withoutDate: 77_777, dateField: FIELD, partitions: 4, query: RUN_QUERY }))).toEqual(key);
    expect(key).toEqual(
      plan.partitions.map((p) => ({
        id: p.id,
        kind: p.kind,
        ...(p.kind === 'range' && p.start ? { start: p.start } : {}),
        ...(p.kind === 'range' && p.end ? { end: p.end } : {}),
        query: p.query,
      })),
    );
    const text = JSON.stringify(key);
    expect(text).not.toMatch(/count|notes|77777|2000000|6600000/);
  });

  it('does not move when only the counts move (withoutDate, days outside the ranges)', () => {
    const days = mayDays();
    const before = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 1, query: RUN_QUERY });
    const after = planPartitions({ days: [...days, { day: '2026-06-01', count: 5 }], withoutDate: 99, dateField: FIELD, partitions: 1, query: RUN_QUERY });
    expect(planKey(after)).toEqual(planKey(before));

    const split = planPartitions({ days, withoutDate: 0, dateField: FIELD, partitions: 4, query: null });
    const splitLater = planPartitions({ days, withoutDate: 1_000, dateField: FIELD, partitions: 4, query: null });
    expect(planKey(splitLater)).toEqual(planKey(split));
  });

  it('changes with the run query or the ranges', () => {
    const a = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 4, query: null });
    const b = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 4, query: RUN_QUERY });
    const c = planPartitions({ days: mayDays(), withoutDate: 0, dateField: FIELD, partitions: 5, query: null });
    expect(planKey(b)).not.toEqual(planKey(a));
    expect(planKey(c)).not.toEqual(planKey(a));
  });
});
