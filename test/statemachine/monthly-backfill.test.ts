import { describe, expect, it } from 'vitest';
import { runMonthlyBackfillLocal, type MonthlyBackfillLocalOptions } from '../../local/monthly';
import { getPendingApproval } from '../../lambdas/shared/ledger/approval-tokens';
import { localDocumentClient, localLedger } from '../../local/pipeline';
import type { ChildRunner } from '../../local/runner/child-executions';
import { sendTaskFailure, sendTaskSuccess, type TaskTokenRequest } from '../../local/runner/task-tokens';
import { expectedCounters, seedWorkedExample, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

/**
 * MonthlyBackfill through the local runner on the real clusters: the same ASL file as AWS,
 * PlanMonths on the dynalite ledger, each month's ReindexRun (dry, then live) as a
 * `startExecution.sync:2` child run by `runLocal`, the manual approval through the task-token registry.
 */

const servers = localServers();
const shape: WorkedExampleShape = { missing: 30, targetOlder: 5, equal: 6, targetNewer: 4 };
const expected = expectedCounters(shape);
/** The execution's start time PlanMonths sees: months up to 2026-06 are due. */
const NOW = () => new Date('2026-06-15T08:00:00Z');

interface Fixture {
  readonly template: string;
  readonly tableName: string;
  index(month: string): string;
  seed(...months: string[]): Promise<void>;
  options(input: unknown, executionName: string, extra?: Partial<MonthlyBackfillLocalOptions>): MonthlyBackfillLocalOptions;
}

/**
 * The ledger table of this file: every backfill of the file writes to it, as every execution of a deployed
 * stack writes to its one table, so the functions' warm execution environments serve the file's runs (a
 * table per test cold-started them every time). Each test reads only the runs of its own index names.
 */
const fileTable = uniqueIndex('ledger-bf');

/** Unique index names (`bf-<label>-<pid>-…-calls-2026-0N`) on the file's ledger table. */
function fixture(label: string): Fixture {
  const prefix = uniqueIndex(`bf-${label}`);
  const template = `${prefix}-calls-{yyyy}-{MM}`;
  const tableName = fileTable;
  const index = (month: string) => `${prefix}-calls-${month}`;
  return {
    template,
    tableName,
    index,
    async seed(...months) {
      const source = clientFor(servers.source.url);
      const target = clientFor(defaultTarget().url);
      for (const month of months) await seedWorkedExample({ source, target, index: index(month), shape });
    },
    options(input, executionName, extra = {}) {
      return {
        input,
        executionName,
        targetUrl: defaultTarget().url,
        ledgerEndpoint: servers.ledgerEndpoint,
        tableName,
        pollWaitMs: 200,
        retryIntervalMs: 50,
        now: NOW,
        ...extra,
      };
    },
  };
}

const run = () => ({ source: { url: servers.source.url }, dateField: 'timestamp', batchSize: 100 });

async function runsOf(tableName: string, targetIndex: string) {
  const ledger = await localLedger(servers.ledgerEndpoint, tableName);
  return ledger.runsByTarget(targetIndex);
}

describe('MonthlyBackfill on the local runner (real clusters)', () => {
  it('auto approval: each month in order, dry then live, counters reconcile; a second execution skips completed months', async () => {
    const f = fixture('auto');
    await f.seed('2026-01', '2026-02', '2026-03');
    const input = { indexTemplate: f.template, months: { from: '2026-01', to: '2026-03' }, run: run(), approval: 'auto' };

    const first = await runMonthlyBackfillLocal(f.options(input, 'first'));

    expect([first.status, first.error, first.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(first.output).toEqual({ from: '2026-01', to: '2026-03', approval: 'auto', completed: ['2026-01', '2026-02', '2026-03'], skipped: [] });
    const months = ['2026-01', '2026-02', '2026-03'];
    expect(first.children.map((c) => [c.Name, c.Status])).toEqual(
      months.flatMap((m) => [
        [`${f.index(m)}-dry-first`, 'SUCCEEDED'],
        [`${f.index(m)}-live-first`, 'SUCCEEDED'],
      ]),
    );
    expect(first.children.map((c) => (c.Input as { dryRun: boolean }).dryRun)).toEqual([true, false, true, false, true, false]);
    // Each child is linked to the backfill in the console (and ReindexRun accepted the field: they succeeded).
    expect(first.children.map((c) => (c.Input as Record<string, unknown>)['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID'])).toEqual(
      Array(6).fill(first.executionArn),
    );
    // Each live child is pinned to the fingerprint its dry run approved (the one its header showed).
    for (const i of [1, 3, 5]) {
      const dryFingerprint = (first.children[i - 1]!.Output as { approval: { fingerprint: string } }).approval.fingerprint;
      expect(dryFingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect((first.children[i]!.Input as { approvedFingerprint?: string }).approvedFingerprint).toBe(dryFingerprint);
    }
    // One at a time: each child starts after the previous one stopped.
    for (let i = 1; i < first.children.length; i++) {
      expect(first.children[i]!.StartDate).toBeGreaterThanOrEqual(first.children[i - 1]!.StopDate!);
    }
    // The live child's Output reached the parent (.sync:2: JSON, not a string).
    expect(first.children[1]!.Output).toMatchObject({ run: { runId: `${f.index('2026-01')}-live-first` }, reconcile: { total: expected.total } });

    for (const month of months) {
      const runs = await runsOf(f.tableName, f.index(month));
      const live = runs.find((r) => !r.dryRun);
      const dry = runs.find((r) => r.dryRun);
      expect(dry?.status).toBe('SUCCEEDED');
      expect(live?.status).toBe('SUCCEEDED');
      expect(live?.counters).toMatchObject({
        total: expected.total,
        created: expected.created,
        updated: expected.updated,
        versionConflicts: expected.versionConflicts,
        deleted: 0,
        noops: 0,
        failures: 0,
      });
      const c = live!.counters!;
      expect(c['created']! + c['updated']! + c['deleted']! + c['noops']! + c['versionConflicts']!).toBe(c['total']);
      expect(live?.parity).toMatchObject({ ok: true });
      expect(live?.approvedBy).toMatchObject({ runId: dry!.runId });
    }

    // Second execution, range extended by a month: the three completed months are skipped, only April runs.
    await f.seed('2026-04');
    const second = await runMonthlyBackfillLocal(f.options({ ...input, months: { from: '2026-01', to: '2026-04' } }, 'second'));
    expect([second.status, second.error]).toEqual(['SUCCEEDED', undefined]);
    expect(second.output).toMatchObject({
      completed: ['2026-04'],
      skipped: months.map((month) => ({ month, targetIndex: f.index(month), reason: 'completed' })),
    });
    expect(second.children.map((c) => c.Name)).toEqual([`${f.index('2026-04')}-dry-second`, `${f.index('2026-04')}-live-second`]);
    expect((await runsOf(f.tableName, f.index('2026-01'))).map((r) => r.runId).sort()).toEqual([
      `${f.index('2026-01')}-dry-first`,
      `${f.index('2026-01')}-live-first`,
    ]);
  });

  it('manual approval: pauses after the dry run with its figures and the commands, continues on approve', async () => {
    const f = fixture('approve');
    await f.seed('2026-02');
    const target = f.index('2026-02');
    const dryRunId = `${target}-dry-approve`;
    const requests: TaskTokenRequest[] = [];
    let runsWhileWaiting: string[] = [];

    const result = await runMonthlyBackfillLocal(
      f.options({ indexTemplate: f.template, months: { from: '2026-02', to: '2026-02' }, run: run(), approval: 'manual' }, 'approve', {
        onTaskToken: async (request) => {
          requests.push(request);
          runsWhileWaiting = (await runsOf(f.tableName, target)).map((r) => r.runId);
          setTimeout(() => sendTaskSuccess(request.token, { approved: true, runId: dryRunId, decidedBy: 'test', decidedAt: new Date().toISOString() }), 50);
        },
      }),
    );

    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    // While it waited, only the dry run existed: nothing live before the approval.
    expect(runsWhileWaiting).toEqual([dryRunId]);
    expect(request.topicArn).toMatch(/^arn:aws:sns:/);
    const message = request.json as Record<string, unknown>;
    // The token is a capability: kept in the ledger for `safe-reindex aws approve`, never mailed.
    expect(request.message).not.toContain(request.token);
    const pending = await getPendingApproval(localDocumentClient(servers.ledgerEndpoint), f.tableName, dryRunId);
    expect(pending).toMatchObject({ runId: dryRunId, taskToken: request.token, liveRunId: `${target}-live-approve`, targetIndex: target });
    expect(message['header']).toEqual(expect.arrayContaining([expect.stringMatching(/^mode: +merge \(dest\.version_type: external, conflicts: proceed\)$/)]));
    expect(message).toMatchObject({
      month: '2026-02',
      targetIndex: target,
      liveRunId: `${target}-live-approve`,
      dryRun: { runId: dryRunId, targetIndex: target, sourceCount: expected.total, targetCount: shape.targetOlder + shape.equal + shape.targetNewer },
      approve: `safe-reindex aws approve ${dryRunId}`,
      reject: `safe-reindex aws reject ${dryRunId} --reason TEXT`,
    });
    expect(message['summary']).toContain(`Its dry run ${dryRunId} recorded the approval: source ${expected.total} documents`);
    expect(message['summary']).toContain(`safe-reindex aws report ${dryRunId}`);
    // The configuration header the message points to is the dry run's, in the ledger.
    const runs = await runsOf(f.tableName, target);
    expect(runs.find((r) => r.runId === dryRunId)?.header?.length).toBeGreaterThan(0);
    expect(runs.find((r) => !r.dryRun)).toMatchObject({ status: 'SUCCEEDED', counters: { total: expected.total, created: expected.created } });
    expect(result.children.map((c) => c.Status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });

  it('manual approval: a rejection stops the backfill with Rejected, nothing launched for that month or later', async () => {
    const f = fixture('reject');
    await f.seed('2026-02', '2026-03');
    const result = await runMonthlyBackfillLocal(
      f.options({ indexTemplate: f.template, months: { from: '2026-02', to: '2026-03' }, run: run(), approval: 'manual' }, 'reject', {
        onTaskToken: ({ token }) => {
          setTimeout(() => sendTaskFailure(token, 'Rejected', 'target mapping not reviewed yet'), 20);
        },
      }),
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rejected');
    expect(result.cause).toContain('target mapping not reviewed yet');
    expect(result.cause).toContain(`${f.index('2026-02')}-dry-reject`);
    expect(result.children.map((c) => c.Name)).toEqual([`${f.index('2026-02')}-dry-reject`]);
    expect((await runsOf(f.tableName, f.index('2026-02'))).map((r) => r.dryRun)).toEqual([true]);
    expect(await runsOf(f.tableName, f.index('2026-03'))).toEqual([]);
  });

  it('60 months of a run with a 2.4 KB query: planned and run month by month, no state over 256 KiB (children stubbed)', async () => {
    // Prepare: a terms list of 150 caller ids; the old plan (every month's two inputs in one state) was ~330 KB.
    const f = fixture('sixty');
    const callers = Array.from({ length: 150 }, (_, i) => `caller-${String(i).padStart(6, '0')}`);
    const bigRun = { ...run(), source: { url: servers.source.url, query: { terms: { callerId: callers } } } };
    const input = { indexTemplate: f.template, months: { from: '2021-04', to: '2026-03' }, run: bigRun, approval: 'auto' };
    const started: Array<{ name: string; input: Record<string, unknown> }> = [];
    const childRunner: ChildRunner = async ({ name, input: childInput }) => {
      const child = childInput as Record<string, unknown> & { runId: string; target: { index: string } };
      started.push({ name, input: child });
      return {
        status: 'SUCCEEDED',
        output: {
          run: { runId: child.runId, targetIndex: child.target.index },
          approval: { fingerprint: 'a'.repeat(64), approvedUntil: '2026-06-16T08:00:00Z' },
          preflight: { sourceCount: 1, targetCount: 0 },
          reconcile: { total: 1 },
          finish: { status: 'SUCCEEDED' },
        },
      };
    };

    // Act
    const result = await runMonthlyBackfillLocal(f.options(input, 'sixty', { childRunner }));

    // Assess
    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect((result.output as { completed: string[] }).completed).toHaveLength(60);
    expect(started).toHaveLength(120);
    const [firstDry, firstLive] = started;
    expect(firstDry).toEqual({
      name: `${f.index('2021-04')}-dry-sixty`,
      input: {
        ...bigRun,
        runId: `${f.index('2021-04')}-dry-sixty`,
        source: { ...bigRun.source, index: f.index('2021-04') },
        target: { index: f.index('2021-04') },
        dryRun: true,
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: result.executionArn,
      },
    });
    expect(firstLive!.input).toEqual({
      ...firstDry!.input,
      runId: `${f.index('2021-04')}-live-sixty`,
      dryRun: false,
      approvedFingerprint: 'a'.repeat(64),
    });
    expect(started.at(-1)!.name).toBe(`${f.index('2026-03')}-live-sixty`);
  });

  it('a failing child reaches the parent as States.TaskFailed with its error in the cause and stops the backfill', async () => {
    const f = fixture('fail');
    await f.seed('2026-01', '2026-03'); // 2026-02 has no source index
    const result = await runMonthlyBackfillLocal(
      f.options({ indexTemplate: f.template, months: { from: '2026-01', to: '2026-03' }, run: run(), approval: 'auto' }, 'fail'),
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReindexRunFailed');
    const failedRun = `${f.index('2026-02')}-dry-fail`;
    expect(result.cause).toContain(`${f.index('2026-02')} (month 2026-02): the dry run ${failedRun} did not succeed`);
    expect(result.cause).toContain('States.TaskFailed');
    expect(result.cause).toContain('SourceIndexMissing');

    // What the StartDryRun task saw: States.TaskFailed, the cause the child's DescribeExecution.
    expect(result.taskFailures.map((t) => [t.state, t.error])).toEqual([['StartDryRun', 'States.TaskFailed']]);
    const described = JSON.parse(result.taskFailures[0]!.cause) as Record<string, unknown>;
    expect(Object.keys(described)).toEqual([
      'Cause',
      'Error',
      'ExecutionArn',
      'Input',
      'InputDetails',
      'Name',
      'RedriveCount',
      'RedriveStatus',
      'StartDate',
      'StateMachineArn',
      'Status',
      'StopDate',
    ]);
    expect(described).toMatchObject({ Error: 'SourceIndexMissing', Status: 'FAILED', Name: failedRun });
    expect(described['Cause']).toContain(f.index('2026-02'));
    expect(JSON.parse(described['Input'] as string)).toMatchObject({ runId: failedRun, dryRun: true });

    // January completed; February's dry run failed; March never started.
    expect(result.children.map((c) => [c.Name, c.Status])).toEqual([
      [`${f.index('2026-01')}-dry-fail`, 'SUCCEEDED'],
      [`${f.index('2026-01')}-live-fail`, 'SUCCEEDED'],
      [failedRun, 'FAILED'],
    ]);
    expect((await runsOf(f.tableName, f.index('2026-02'))).map((r) => [r.runId, r.status, r.error])).toEqual([
      [failedRun, 'FAILED', 'SourceIndexMissing'],
    ]);
    expect(await runsOf(f.tableName, f.index('2026-03'))).toEqual([]);
  });
});
