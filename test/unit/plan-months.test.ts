import { describe, expect, it } from 'vitest';
import {
  MAX_MONTHS,
  MAX_RUN_BYTES,
  isTargetCompleted,
  planMonths,
  planMonthsState,
  planOneMonth,
  previousMonth,
  renderTemplate,
  runIdFor,
  templateProblem,
} from '../../lambdas/plan-months/plan-months';
import { InvalidInputError } from '../../lambdas/shared/runtime/errors';
import type { RunRecord } from '../../lambdas/shared/ledger/ledger';

const NOW = new Date('2026-06-15T12:00:00Z');
const run = { source: { url: 'https://es7.internal:9200' }, dateField: 'timestamp', batchSize: 500 };
const input = (overrides: Record<string, unknown> = {}) => ({
  indexTemplate: 'calls-{yyyy}-{MM}',
  months: { from: '2025-11', to: '2026-02' },
  run,
  approval: 'auto',
  ...overrides,
});

/** The InvalidInputError a call throws (fails the test if it does not throw one). */
function refusal(call: () => unknown): InvalidInputError {
  try {
    call();
  } catch (err) {
    if (err instanceof InvalidInputError) return err;
    throw err;
  }
  throw new Error('expected InvalidInputError, nothing was thrown');
}

describe('planMonths: ranges', () => {
  it('plans every month of the range, oldest first, across a year boundary', () => {
    const plan = planMonths(input(), NOW, new Set(), 'nightly-1');
    expect(plan.names).toEqual(['2025-11', '2025-12', '2026-01', '2026-02']);
    expect(plan.count).toBe(4);
    expect(plan.months.map((m) => [m.sourceIndex, m.targetIndex])).toEqual([
      ['calls-2025-11', 'calls-2025-11'],
      ['calls-2025-12', 'calls-2025-12'],
      ['calls-2026-01', 'calls-2026-01'],
      ['calls-2026-02', 'calls-2026-02'],
    ]);
    expect([plan.from, plan.to, plan.approval, plan.skipped]).toEqual(['2025-11', '2026-02', 'auto', []]);
  });

  it('builds each month\'s complete ReindexRun inputs: the run fields, the indices, run ids and dryRun', () => {
    const [first] = planMonths(input({ months: { from: '2026-03', to: '2026-03' } }), NOW, new Set(), 'nightly-1').months;
    expect(first!.dry).toEqual({
      runId: 'calls-2026-03-dry-nightly-1',
      executionName: 'calls-2026-03-dry-nightly-1',
      input: {
        runId: 'calls-2026-03-dry-nightly-1',
        source: { url: 'https://es7.internal:9200', index: 'calls-2026-03' },
        target: { index: 'calls-2026-03' },
        dateField: 'timestamp',
        batchSize: 500,
        dryRun: true,
      },
    });
    expect(first!.live.runId).toBe('calls-2026-03-live-nightly-1');
    expect(first!.live.input).toMatchObject({ runId: 'calls-2026-03-live-nightly-1', dryRun: false, target: { index: 'calls-2026-03' } });
  });

  it('a single-month range and a range ending in the current month are allowed', () => {
    expect(planMonths(input({ months: { from: '2026-06', to: '2026-06' } }), NOW, new Set()).names).toEqual(['2026-06']);
  });

  it(`plans at most ${MAX_MONTHS} months`, () => {
    expect(planMonths(input({ months: { from: '2021-07', to: '2026-06' } }), NOW, new Set()).count).toBe(MAX_MONTHS);
    expect(refusal(() => planMonths(input({ months: { from: '2021-06', to: '2026-06' } }), NOW, new Set())).field).toBe('months');
  });
});

describe('planMonths: "previous" in UTC', () => {
  it.each([
    ['2026-06-15T12:00:00Z', '2026-05'],
    ['2026-06-01T00:00:00Z', '2026-05'], // the first instant of June
    ['2026-05-31T23:59:59.999Z', '2026-04'], // the last instant of May
    ['2026-01-01T00:00:00Z', '2025-12'], // year boundary
    ['2026-01-31T23:00:00Z', '2025-12'],
    ['2025-12-31T23:59:59Z', '2025-11'],
    ['2024-03-01T00:30:00Z', '2024-02'],
  ])('at %s the previous month is %s', (now, expected) => {
    expect(previousMonth(new Date(now))).toBe(expected);
    const plan = planMonths(input({ months: 'previous' }), new Date(now), new Set());
    expect(plan.names).toEqual([expected]);
    expect([plan.from, plan.to]).toEqual([expected, expected]);
  });

  it('is UTC, whatever the local offset would say: 2026-03-01T00:30 at +02:00 is still February in UTC', () => {
    // 2026-03-01T00:30:00+02:00 = 2026-02-28T22:30Z: the month before (UTC) February is January.
    expect(previousMonth(new Date('2026-03-01T00:30:00+02:00'))).toBe('2026-01');
  });
});

describe('planMonths: index-name templates', () => {
  it('renders {yyyy}, {yy} and {MM} (zero-padded)', () => {
    expect(renderTemplate('calls-{yyyy}-{MM}', '2026-05')).toBe('calls-2026-05');
    expect(renderTemplate('calls-{yy}{MM}', '2026-05')).toBe('calls-2605');
    expect(renderTemplate('{yyyy}.{MM}.calls.{yy}', '2009-12')).toBe('2009.12.calls.09');
  });

  it('refuses unknown tokens and templates that do not name one month', () => {
    expect(templateProblem('calls-{yyyy}-{MM}')).toBeUndefined();
    expect(templateProblem('calls-{yyyy}-{mm}')).toMatch(/unknown token \{mm\}/);
    expect(templateProblem('calls-{yyyy}-{dd}-{MM}')).toMatch(/unknown token \{dd\}/);
    expect(templateProblem('calls-{yyyy}')).toMatch(/must contain \{MM\}/);
    expect(templateProblem('calls-{MM}')).toMatch(/must contain \{MM\} and \{yyyy\}/);
    expect(templateProblem('calls-{yyyy-{MM}')).toMatch(/unknown token/);
  });

  it('uses run.source.index / run.target.index when they are templates (a target named differently)', () => {
    const plan = planMonths(
      input({ months: { from: '2026-01', to: '2026-01' }, run: { ...run, target: { index: 'calls-v2-{yy}{MM}' } } }),
      NOW,
      new Set(),
    );
    expect([plan.months[0]!.sourceIndex, plan.months[0]!.targetIndex]).toEqual(['calls-2026-01', 'calls-v2-2601']);
    expect(plan.months[0]!.dry.runId).toBe('calls-v2-2601-dry-monthly-backfill');
  });
});

describe('planMonths: skipping completed months', () => {
  it('skips the targets given as completed and keeps the order of the rest', () => {
    const plan = planMonths(input(), NOW, new Set(['calls-2025-12', 'calls-2026-02']));
    expect(plan.names).toEqual(['2025-11', '2026-01']);
    expect(plan.skipped).toEqual([
      { month: '2025-12', targetIndex: 'calls-2025-12', reason: 'completed' },
      { month: '2026-02', targetIndex: 'calls-2026-02', reason: 'completed' },
    ]);
  });

  it('everything completed: nothing to run', () => {
    const plan = planMonths(input({ months: 'previous' }), NOW, new Set(['calls-2026-05']));
    expect([plan.count, plan.months, plan.names]).toEqual([0, [], []]);
  });

  it('a target counts as completed only with a SUCCEEDED live run (not a dry run, not a failed live run)', async () => {
    const runs = (list: Array<Partial<RunRecord>>) => ({ runsByTarget: async () => list as RunRecord[] });
    expect(await isTargetCompleted(runs([{ dryRun: true, status: 'SUCCEEDED' }]), 'x')).toBe(false);
    expect(await isTargetCompleted(runs([{ dryRun: false, status: 'FAILED' }, { dryRun: false, status: 'RUNNING' }]), 'x')).toBe(false);
    expect(await isTargetCompleted(runs([{ dryRun: false, status: 'FAILED' }, { dryRun: false, status: 'SUCCEEDED' }]), 'x')).toBe(true);
  });

  it('planMonthsState reads the ledger per target and takes "previous" from the execution start time', async () => {
    const asked: string[] = [];
    const ledger = {
      runsByTarget: async (target: string) => {
        asked.push(target);
        return (target === 'calls-2025-12' ? [{ dryRun: false, status: 'SUCCEEDED' }] : []) as RunRecord[];
      },
    };
    const plan = await planMonthsState(
      { input: input({ months: 'previous' }), executionName: 'sched-1', startTime: '2026-01-01T00:00:05Z' },
      { ledger },
    );
    expect(asked).toEqual(['calls-2025-12']);
    expect([plan.names, plan.skipped.map((s) => s.month)]).toEqual([[], ['2025-12']]);

    const next = await planMonthsState({ input: input({ months: 'previous' }), executionName: 'sched-2', startTime: '2026-02-01T00:00:05Z' }, { ledger });
    expect(next.names).toEqual(['2026-01']);
    expect(next.months[0]!.live.runId).toBe('calls-2026-01-live-sched-2');
  });
});

describe('planMonths: run ids', () => {
  const RUN_ID = /^[a-z0-9][a-z0-9._-]{0,79}$/;

  it('derive from the index, the phase and the execution name, deterministically', () => {
    expect(runIdFor('calls-2026-05', 'dry', 'nightly-42')).toBe('calls-2026-05-dry-nightly-42');
    expect(runIdFor('calls-2026-05', 'dry', 'nightly-42')).toBe(runIdFor('calls-2026-05', 'dry', 'nightly-42'));
    expect(runIdFor('calls-2026-05', 'live', 'nightly-42')).not.toBe(runIdFor('calls-2026-05', 'dry', 'nightly-42'));
  });

  it('fit ^[a-z0-9][a-z0-9._-]{0,79}$ whatever the execution name; distinct names stay distinct', () => {
    const names = ['Backfill-2026', 'backfill-2026', 'a:b', 'a b', '0f8fad5b-d9cb-469f-a165-70867728950e', 'x'.repeat(80), '_x'];
    const ids = names.map((n) => runIdFor('calls-2026-05', 'live', n));
    for (const id of ids) expect(id).toMatch(RUN_ID);
    expect(new Set(ids).size).toBe(names.length);
    const long = runIdFor(`calls-${'a'.repeat(120)}-2026-05`, 'dry', 'nightly');
    expect(long).toMatch(RUN_ID);
    expect(long).toContain('-dry-');
  });
});

describe('planMonths: refusing bad input, naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['unknown top-level field', { extra: 1 }, 'extra', /not a known field/],
    ['missing template', { indexTemplate: undefined }, 'indexTemplate', /required/],
    ['template without a month', { indexTemplate: 'calls-{yyyy}' }, 'indexTemplate', /\{MM\}/],
    ['template with an unknown token', { indexTemplate: 'calls-{yyyy}-{MM}-{dd}' }, 'indexTemplate', /unknown token \{dd\}/],
    ['upper-case index name', { indexTemplate: 'Calls-{yyyy}-{MM}' }, 'indexTemplate', /gives "Calls-2025-11" for 2025-11, which must be lower case/],
    ['wildcard index name', { indexTemplate: 'calls-*-{yyyy}-{MM}' }, 'indexTemplate', /wildcards/],
    ['missing months', { months: undefined }, 'months', /required/],
    ['months neither range nor "previous"', { months: 'last' }, 'months', /"previous"/],
    ['bad from', { months: { from: '2026-13', to: '2026-02' } }, 'months.from', /yyyy-MM/],
    ['bad to', { months: { from: '2026-01', to: '2026/02' } }, 'months.to', /yyyy-MM/],
    ['missing to', { months: { from: '2026-01' } }, 'months.to', /required/],
    ['unknown months field', { months: { from: '2026-01', to: '2026-02', step: 1 } }, 'months.step', /not a known field/],
    ['to before from', { months: { from: '2026-03', to: '2026-02' } }, 'months.to', /before months.from/],
    ['future month', { months: { from: '2026-05', to: '2026-07' } }, 'months.to', /after the current month \(2026-06/],
    ['missing run', { run: undefined }, 'run', /required/],
    ['run not an object', { run: 'calls' }, 'run', /JSON object/],
    ['run.runId given', { run: { ...run, runId: 'x' } }, 'run.runId', /set by the backfill/],
    ['run.dryRun given', { run: { ...run, dryRun: false } }, 'run.dryRun', /set by the backfill/],
    [
      'run.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID given',
      { run: { ...run, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: 'arn:aws:states:eu-west-1:123456789012:execution:Other:x' } },
      'run.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID',
      /set by the backfill/,
    ],
    ['fixed run.source.index', { run: { ...run, source: { url: run.source.url, index: 'calls-2026-05' } } }, 'run.source.index', /fixed index name/],
    ['fixed run.target.index', { run: { ...run, target: { index: 'calls' } } }, 'run.target.index', /every month would use that one index/],
    ['bad run.target.index template', { run: { ...run, target: { index: 'calls-{yyyy}' } } }, 'run.target.index', /\{MM\}/],
    ['run field the ReindexRun schema refuses', { run: { ...run, mode: 'clobber' } }, 'run.mode', /./],
    ['unknown run field', { run: { ...run, sauce: 1 } }, 'run.sauce', /not a known field/],
    ['missing source url', { run: { dateField: 'timestamp' } }, 'run.source.url', /required/],
    ['missing approval', { approval: undefined }, 'approval', /required/],
    ['bad approval', { approval: 'yes' }, 'approval', /"auto" or "manual"/],
  ];

  it.each(cases)('%s → %s', (_name, overrides, field, message) => {
    const bad = Object.fromEntries(Object.entries(input(overrides)).filter(([, v]) => v !== undefined));
    const error = refusal(() => planMonths(bad, NOW, new Set()));
    expect(error.name).toBe('InvalidInput');
    expect(error.field).toBe(field);
    expect(error.message.startsWith(field)).toBe(true);
    expect(error.message).toMatch(message);
  });

  it('refuses a non-object input', () => {
    expect(refusal(() => planMonths([], NOW, new Set())).field).toBe('(input)');
  });
});

describe('planMonthsState: what the PlanMonths state returns stays bounded', () => {
  const noRuns = { runsByTarget: async (): Promise<RunRecord[]> => [] };
  /** A run whose source query carries `ids` caller ids (16 bytes of JSON each). */
  const runWithTerms = (ids: number) => ({
    ...run,
    source: { ...run.source, query: { terms: { callerId: Array.from({ length: ids }, (_, i) => `caller-${String(i).padStart(6, '0')}`) } } },
  });
  const sixty = (r: Record<string, unknown>) => input({ months: { from: '2021-07', to: '2026-06' }, run: r });

  it('the plan gives each month its indices and run ids but not its ReindexRun inputs, whatever the size of run', async () => {
    // Prepare
    const bigInput = sixty(runWithTerms(150));

    // Act
    const plan = await planMonthsState({ input: bigInput, executionName: 'nightly-1', startTime: NOW.toISOString() }, { ledger: noRuns });

    // Assess
    expect(plan.count).toBe(MAX_MONTHS);
    expect(plan.months[0]).toEqual({
      month: '2021-07',
      sourceIndex: 'calls-2021-07',
      targetIndex: 'calls-2021-07',
      dry: { runId: 'calls-2021-07-dry-nightly-1', executionName: 'calls-2021-07-dry-nightly-1' },
      live: { runId: 'calls-2021-07-live-nightly-1', executionName: 'calls-2021-07-live-nightly-1' },
    });
    expect(Buffer.byteLength(JSON.stringify(plan))).toBeLessThan(32 * 1024);
  });

  it('one month (month given) is exactly that month of the full plan: the same run ids and inputs', async () => {
    // Prepare
    const bigInput = sixty(runWithTerms(150));
    const full = planMonths(bigInput, NOW, new Set(), 'nightly-1');

    // Act
    const one = await planMonthsState({ input: bigInput, executionName: 'nightly-1', startTime: NOW.toISOString(), month: '2024-02' }, { ledger: noRuns });

    // Assess
    expect(one.months).toEqual([full.months.find((m) => m.month === '2024-02')]);
    expect([one.count, one.names]).toEqual([1, ['2024-02']]);
  });

  it('one month builds a month even if the ledger now shows it completed: the plan, not the ledger, chose the months', async () => {
    // Prepare
    const completedRuns = { runsByTarget: async () => [{ dryRun: false, status: 'SUCCEEDED' }] as RunRecord[] };

    // Act
    const one = await planMonthsState({ input: input(), executionName: 'n', startTime: NOW.toISOString(), month: '2025-12' }, { ledger: completedRuns });

    // Assess
    expect(one.months.map((m) => m.targetIndex)).toEqual(['calls-2025-12']);
  });

  it('refuses a month the input does not ask for, naming month', () => {
    // Act
    const error = refusal(() => planOneMonth(input(), NOW, '2026-05'));

    // Assess
    expect([error.field, error.message]).toEqual(['month', 'month 2026-05 is not a month of this backfill (2025-11 to 2026-02)']);
  });

  it(`refuses a run over ${MAX_RUN_BYTES / 1024} KiB of JSON, naming the field that makes it large`, () => {
    // Prepare: 2,200 caller ids (16 bytes each), about 34 KiB.
    const tooBig = input({ run: runWithTerms(2_200) });

    // Act
    const error = refusal(() => planMonths(tooBig, NOW, new Set()));

    // Assess
    expect(error.field).toBe('run.source.query');
    expect(error.message).toMatch(/^run\.source\.query makes run 3\d(\.\d)? KiB of JSON; at most 32 KiB: every month's ReindexRun inputs travel through the backfill's states, which Step Functions limits to 256 KiB each/);
  });

  it('names run itself when no one field makes it large', () => {
    // Prepare: many top-level fields of equal size (the schema refuses them later; the size is checked first).
    const spread = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'.repeat(1_000)]));

    // Act
    const error = refusal(() => planMonths(input({ run: { ...run, ...spread } }), NOW, new Set()));

    // Assess
    expect(error.field).toBe('run');
    expect(error.message).toMatch(/^run is 3\d(\.\d)? KiB of JSON/);
  });
});
