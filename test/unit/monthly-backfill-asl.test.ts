import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_MONTHS, MAX_RUN_BYTES, planMonths, planMonthsState, type PlanMonthsInvocation } from '../../lambdas/plan-months/plan-months';
import type { RunRecord } from '../../lambdas/shared/ledger/ledger';
import { MONTHLY_BACKFILL_ASL } from '../../lib/constructs/paths';
import { createChildExecutions, START_EXECUTION_SYNC2, type ChildRunner } from '../../local/runner/child-executions';
import { runStateMachine, type LocalLambda } from '../../local/runner/run-state-machine';
import { LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN } from '../../local/runner/task-tokens';

/**
 * MonthlyBackfill's ASL on the local runner, which (like AWS) fails any state over 256 KiB with
 * States.DataLimitExceeded: PlanMonths on an in-memory ledger, each child ReindexRun stubbed with the
 * output fields the parent reads.
 */

const NOW = new Date('2026-06-15T08:00:00Z');
const EXECUTION = 'backfill-60';
const REINDEX_RUN_ARN = 'arn:aws:states:local:000000000000:stateMachine:ReindexRun';
/** The ASL with `${ReindexRunStateMachineArn}` substituted, as CDK's definitionSubstitutions do. */
const definition = JSON.parse(
  readFileSync(MONTHLY_BACKFILL_ASL, 'utf8').replaceAll('"${ReindexRunStateMachineArn}"', JSON.stringify(REINDEX_RUN_ARN)),
) as object;
const noRuns = { runsByTarget: async (): Promise<RunRecord[]> => [] };

/** A ReindexRun `run` of about 2.4 KB: a source query with a terms list of 150 caller ids. */
function bigRun(ids = 150): Record<string, unknown> {
  const callers = Array.from({ length: ids }, (_, i) => `caller-${String(i).padStart(6, '0')}`);
  return { source: { url: 'https://es7.internal:9200', query: { terms: { callerId: callers } } }, dateField: 'timestamp', batchSize: 500 };
}

const sixtyMonths = (run: Record<string, unknown>) => ({
  indexTemplate: 'calls-{yyyy}-{MM}',
  months: { from: '2021-07', to: '2026-06' },
  run,
  approval: 'auto',
});

/** A child that succeeds with the output fields StartDryRun's and StartLiveRun's ResultSelectors read. */
const succeedingChild: ChildRunner = async ({ input }) => {
  const run = input as { runId: string; target: { index: string }; dryRun: boolean };
  return {
    status: 'SUCCEEDED',
    output: {
      run: { runId: run.runId, targetIndex: run.target.index },
      approval: { fingerprint: 'f'.repeat(64), approvedUntil: '2026-06-16T08:00:00Z' },
      preflight: { sourceCount: 10, targetCount: 2 },
      reconcile: { total: 10 },
      finish: { status: 'SUCCEEDED' },
    },
  };
};

async function runBackfill(input: unknown, planMonthsLambda: LocalLambda) {
  const children = createChildExecutions({ runners: { [REINDEX_RUN_ARN]: succeedingChild } });
  const result = await runStateMachine({
    definition,
    input,
    executionName: EXECUTION,
    stateMachineName: 'MonthlyBackfill',
    lambdas: { PlanMonthsFunctionArn: planMonthsLambda },
    services: {
      [START_EXECUTION_SYNC2]: children.service,
      [LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN]: async () => {
        throw new Error('approval "auto" never waits for a person');
      },
    },
    retryIntervalOverrides: 'all-zero',
  });
  return { result, children: children.executions };
}

/** Today's PlanMonths Lambda, as local/monthly.ts wires it. */
const planMonthsLambda: LocalLambda = (payload) => planMonthsState(payload as PlanMonthsInvocation, { ledger: noRuns, now: () => NOW });

describe('MonthlyBackfill ASL: what its states carry stays under Step Functions\' 256 KiB', () => {
  it(`plans and runs a ${MAX_MONTHS}-month backfill whose run carries a 2.4 KB query; every child gets exactly the input the planner builds`, async () => {
    // Prepare
    const run = bigRun();
    const input = sixtyMonths(run);
    const full = planMonths(input, NOW, new Set(), EXECUTION);
    expect(JSON.stringify(run).length).toBeGreaterThan(2_400);
    expect(Buffer.byteLength(JSON.stringify(full))).toBeGreaterThan(256 * 1024); // what the old plan carried

    // Act
    const { result, children } = await runBackfill(input, planMonthsLambda);

    // Assess
    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(result.output).toMatchObject({ from: '2021-07', to: '2026-06', completed: full.names });
    expect(children.map((c) => c.Name)).toEqual(full.months.flatMap((m) => [m.dry.executionName, m.live.executionName]));
    const expectedInputs = full.months.flatMap((m) => [m.dry.input, { ...m.live.input, approvedFingerprint: 'f'.repeat(64) }]);
    expect(children.map((c) => withoutParentLink(c.Input))).toEqual(expectedInputs);
  });

  it('links every child ReindexRun to the backfill in the console: its input carries the parent\'s execution id', async () => {
    // Prepare
    const input = { indexTemplate: 'calls-{yyyy}-{MM}', months: { from: '2026-01', to: '2026-02' }, run: bigRun(3), approval: 'auto' };

    // Act
    const { result, children } = await runBackfill(input, planMonthsLambda);

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.executionArn).toMatch(/:execution:MonthlyBackfill:backfill-60$/);
    expect(children.map((c) => (c.Input as Record<string, unknown>)['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID'])).toEqual(Array(4).fill(result.executionArn));
  });

  it('the old shape, PlanMonths returning every month\'s inputs, dies with States.DataLimitExceeded, which PlanMonths\' Catch cannot turn into PlanFailed', async () => {
    // Prepare: what PlanMonths returned before: the full plan, each month with its dry and live inputs.
    const input = sixtyMonths(bigRun());
    const oldPlanMonths: LocalLambda = async (payload) => planMonths((payload as PlanMonthsInvocation).input, NOW, new Set(), EXECUTION);

    // Act
    const { result, children } = await runBackfill(input, oldPlanMonths);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.DataLimitExceeded');
    expect(result.cause).toContain("'PlanMonths'");
    expect(children).toEqual([]);
  });

  it(`refuses a run over ${MAX_RUN_BYTES / 1024} KiB of JSON as InvalidInput naming the field that makes it large, before anything starts`, async () => {
    // Prepare: about 40 KiB of caller ids.
    const input = sixtyMonths(bigRun(2_500));

    // Act
    const { result, children } = await runBackfill(input, planMonthsLambda);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toMatch(/^run\.source\.query makes run \d+(\.\d)? KiB of JSON; at most 32 KiB/);
    expect(children).toEqual([]);
  });
});

/** A child input without the console link to its parent (checked on its own below). */
function withoutParentLink(input: unknown): unknown {
  const { AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: _link, ...rest } = input as Record<string, unknown>;
  return rest;
}
