import { describe, expect, it } from 'vitest';
import { hours, project, projectionLines, rangePartitionsFor, WORKED_EXAMPLE_MONTH, WORKED_EXAMPLE_TASK_RATE, type ProjectionInputs } from '../../local/bench/projection';

/** The worked example, with a domain that never limits unless a test says so. */
const base: ProjectionInputs = {
  docsPerMonth: WORKED_EXAMPLE_MONTH.docs,
  months: 13,
  perTaskDocsPerSecond: WORKED_EXAMPLE_TASK_RATE,
  domainCapacityDocsPerSecond: 1e9,
  maxTasksPerDomain: 8,
  concurrencies: [2, 4, 8],
  perPartitionOverheadSeconds: 0,
};

const rowOf = (inputs: ProjectionInputs, concurrency: number, partitioned = concurrency > 1) => {
  const row = project(inputs).rows.find((r) => r.concurrency === concurrency && r.partitioned === partitioned);
  if (!row) throw new Error(`no row for ${concurrency}`);
  return row;
};

describe('projection: the single-task run', () => {
  it('takes the worked example 5 h a month at its own rate, and 13 months take 13 times that one at a time', () => {
    // Act
    const single = rowOf(base, 1, false);

    // Assess
    expect(single.tasks).toBe(1);
    expect(single.monthSeconds).toBeCloseTo(5 * 3600, 6);
    expect(single.sequentialSeconds).toBeCloseTo(13 * single.monthSeconds, 6);
    expect(single.monthSpeedup).toBe(1);
  });

  it('pays no orchestration overhead: the per-task rate is a whole run\'s rate', () => {
    const single = rowOf({ ...base, perPartitionOverheadSeconds: 600 }, 1, false);
    expect(single.monthSeconds).toBeCloseTo(5 * 3600, 6);
  });

  it('is slowed by a domain slower than one task', () => {
    const single = rowOf({ ...base, domainCapacityDocsPerSecond: 2_000 }, 1, false);
    expect(single.capped).toBe(true);
    expect(single.docsPerSecond).toBe(2_000);
    expect(single.monthSeconds).toBeCloseTo(WORKED_EXAMPLE_MONTH.docs / 2_000, 6);
  });
});

describe('projection: partitioned runs', () => {
  it('divides the month by the concurrency when the domain has room and nothing else costs', () => {
    for (const c of [2, 4, 8]) {
      const row = rowOf(base, c);
      expect(row.docsPerSecond).toBeCloseTo(c * WORKED_EXAMPLE_TASK_RATE, 6);
      expect(row.monthSeconds).toBeCloseTo((5 * 3600) / c, 6);
      expect(row.monthSpeedup).toBeCloseTo(c, 6);
      expect(row.sequentialSeconds).toBeCloseTo(13 * row.monthSeconds, 6);
    }
  });

  it('never goes faster than the domain capacity: beyond it more concurrency gains nothing', () => {
    // Prepare: room for about 3 tasks
    const inputs = { ...base, domainCapacityDocsPerSecond: 15_000 };

    // Act
    const [c2, c4, c8] = [2, 4, 8].map((c) => rowOf(inputs, c));

    // Assess
    expect(c2!.capped).toBe(false);
    expect(c4!.capped && c8!.capped).toBe(true);
    expect(c4!.docsPerSecond).toBe(15_000);
    expect(c8!.docsPerSecond).toBe(15_000);
    expect(c8!.monthSeconds).toBeCloseTo(c4!.monthSeconds, 6);
    expect(c4!.monthSpeedup).toBeCloseTo(15_000 / WORKED_EXAMPLE_TASK_RATE, 6);
  });

  it('applies a measured scaling efficiency by the number of tasks on the domain', () => {
    const row = rowOf({ ...base, efficiency: (tasks) => (tasks >= 4 ? 0.5 : 1) }, 4);
    expect(row.docsPerSecond).toBeCloseTo(2 * WORKED_EXAMPLE_TASK_RATE, 6);
    expect(row.monthSpeedup).toBeCloseTo(2, 6);
  });

  it('plans partitions as "auto" does: at most 32, never more than the days of the month, plus the missing-date task', () => {
    expect(rangePartitionsFor(WORKED_EXAMPLE_MONTH.docs, 31, 'auto')).toBe(31); // 43 wanted, 32 at most, 31 days
    expect(rangePartitionsFor(10_000_000, 31, 'auto')).toBe(5);
    expect(rangePartitionsFor(WORKED_EXAMPLE_MONTH.docs, 31, 8)).toBe(8);
    expect(rowOf(base, 4).tasks).toBe(32);
    expect(rowOf({ ...base, partitions: 8 }, 4).tasks).toBe(9);
  });

  it('adds the per-partition overhead once for every further task a slot runs', () => {
    // 8 ranges + missing-date = 9 tasks: at c=4 each slot runs up to 3 tasks in turn, 2 hand-overs
    const row = rowOf({ ...base, partitions: 8, perPartitionOverheadSeconds: 60 }, 4);
    expect(row.monthSeconds).toBeCloseTo((5 * 3600) / 4 + 2 * 60, 6);
  });
});

describe('projection: several monthly indices at once', () => {
  it('runs as many indices together as maxTasksPerDomain allows, in rounds', () => {
    // Act
    const rows = project(base).rows;

    // Assess: 8 slots: 8 single tasks, 4 runs of 2, 2 of 4, 1 of 8
    expect(rows.map((r) => [r.concurrency, r.indicesAtOnce])).toEqual([
      [1, 8],
      [2, 4],
      [4, 2],
      [8, 1],
    ]);
    const single = rows[0]!;
    // Unlimited domain: 13 months in 2 rounds of one month each.
    expect(single.atOnceSeconds).toBeCloseTo(2 * single.monthSeconds, 6);
    expect(rows[3]!.atOnceSeconds).toBeCloseTo(rows[3]!.sequentialSeconds, 6);
  });

  it('shares the domain capacity between the indices of a round: with a bounded domain, parallel months gain no more than partitions', () => {
    // Prepare
    const inputs = { ...base, domainCapacityDocsPerSecond: 10_000 };
    const total = 13 * WORKED_EXAMPLE_MONTH.docs;

    // Act
    const rows = project(inputs).rows;

    // Assess: nothing beats the whole backfill at the domain's capacity
    for (const r of rows) expect(r.atOnceSeconds).toBeGreaterThanOrEqual(total / 10_000 - 1e-6);
    // 8 single tasks at once are capped (8 x 4,722 > 10,000); the last round of 5 too.
    expect(rows[0]!.atOnceSeconds).toBeCloseTo(total / 10_000, 6);
  });
});

describe('projection: inputs', () => {
  it('refuses a concurrency above maxTasksPerDomain, as the run itself would', () => {
    expect(() => project({ ...base, maxTasksPerDomain: 4 })).toThrow(/concurrency 8 is more than maxTasksPerDomain 4/);
  });

  it('refuses non-positive rates and capacities', () => {
    expect(() => project({ ...base, perTaskDocsPerSecond: 0 })).toThrow(/perTaskDocsPerSecond/);
    expect(() => project({ ...base, domainCapacityDocsPerSecond: -1 })).toThrow(/domainCapacityDocsPerSecond/);
    expect(() => project({ ...base, months: 1.5 })).toThrow(/months/);
  });

  it('prints its inputs with the table', () => {
    const lines = projectionLines(project({ ...base, domainCapacityDocsPerSecond: 20_000 }));
    expect(lines.join('\n')).toContain('domain ingest capacity 20,000 docs/s');
    expect(lines.join('\n')).toContain('per-task rate 4,721 docs/s') // 84,986,805 / 18,000 s = 4,721.5;
    expect(lines.filter((l) => /^(single task|partitioned)/.test(l))).toHaveLength(4);
    expect(hours(5 * 3600)).toBe('5.0 h');
    expect(hours(65 * 3600)).toBe('2.7 d (65.0 h)');
  });
});
