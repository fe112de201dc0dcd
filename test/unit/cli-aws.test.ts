import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  TaskTimedOut,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { approvalTokenKey, getPendingApproval, putPendingApproval } from '../../lambdas/shared/ledger/approval-tokens';
import { failureFromHistory, pollLine } from '../../local/cli/aws-helpers';
import { runAwsCommand, type AwsIo } from '../../local/cli/aws';

const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);
const ddb = mockClient(DynamoDBDocumentClient);

const TABLE = 'ledger-table';
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:ReindexRun';
const execArn = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:ReindexRun:${name}`;

/** A tiny in-memory ledger table behind the mocked document client (Get, Put, Update, Query as the CLI uses them). */
class FakeTable {
  readonly items = new Map<string, Record<string, unknown>>();
  key = (pk: unknown, sk: unknown) => `${String(pk)}|${String(sk)}`;
  put(item: Record<string, unknown>) {
    this.items.set(this.key(item.pk, item.sk), { ...item });
  }
  get(pk: string, sk: string) {
    return this.items.get(this.key(pk, sk));
  }
  install() {
    ddb.on(GetCommand).callsFake((input: { Key: { pk: string; sk: string } }) => {
      const item = this.get(input.Key.pk, input.Key.sk);
      return { Item: item ? { ...item } : undefined };
    });
    ddb.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
      this.put(input.Item);
      return {};
    });
    ddb.on(UpdateCommand).callsFake(
      (input: {
        Key: { pk: string; sk: string };
        UpdateExpression: string;
        ConditionExpression?: string;
        ExpressionAttributeNames: Record<string, string>;
        ExpressionAttributeValues?: Record<string, unknown>;
      }) => {
        const item = this.get(input.Key.pk, input.Key.sk);
        const names = input.ExpressionAttributeNames;
        const values = input.ExpressionAttributeValues ?? {};
        const condition = input.ConditionExpression ?? '';
        const fail = () => {
          throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
        };
        if (!item) fail();
        if (condition.includes('#token = :token') && item!.taskToken !== values[':token']) fail();
        if (condition.includes('attribute_not_exists(#decision)') && item!.decision !== undefined) fail();
        const expr = input.UpdateExpression;
        if (expr.startsWith('SET ')) {
          for (const part of expr.slice(4).split(',')) {
            const [n, v] = part.split('=').map((s) => s.trim());
            item![names[n!]!] = values[v!];
          }
        } else if (expr.startsWith('REMOVE ')) {
          for (const n of expr.slice(7).split(',')) delete item![names[n.trim()]!];
        }
        return {};
      },
    );
    ddb.on(QueryCommand).callsFake(
      (input: { ExpressionAttributeValues: Record<string, string>; ScanIndexForward?: boolean; Limit?: number }) => {
        const v = input.ExpressionAttributeValues;
        let rows = [...this.items.values()]
          .filter((item) => item.pk === v[':pk'])
          .filter((item) => {
            const sk = String(item.sk);
            if (v[':poll'] !== undefined) return sk.startsWith(v[':poll']);
            if (v[':part'] !== undefined) return sk.startsWith(v[':part']);
            if (v[':lo'] !== undefined) return sk >= v[':lo'] && sk <= v[':hi']!;
            return true;
          })
          .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1));
        if (input.ScanIndexForward === false) rows.reverse();
        if (input.Limit) rows = rows.slice(0, input.Limit);
        return { Items: rows.map((r) => ({ ...r })) };
      },
    );
  }
}

const HEADER = ['safe-reindex  calls-2026-05  merge', 'mode:                 merge (dest.version_type: external, conflicts: proceed)'];

function runRecord(runId: string, patch: Record<string, unknown> = {}) {
  return {
    pk: `RUN#${runId}`,
    sk: 'META',
    runId,
    targetIndex: 'calls-2026-05',
    dryRun: false,
    status: 'RUNNING',
    config: {},
    fingerprint: 'fp',
    requestHash: 'rh',
    startedAt: '2026-06-01T10:00:00.000Z',
    updatedAt: '2026-06-01T10:00:00.000Z',
    executionArn: execArn(runId),
    header: HEADER,
    taskId: 'node-1:42',
    ...patch,
  };
}

function poll(runId: string, at: string, created: number, updated: number, versionConflicts: number, completed = false) {
  return { pk: `RUN#${runId}`, sk: `POLL#${at}`, runId, at, taskId: 'node-1:42', completed, total: 150, created, updated, versionConflicts, deleted: 0, noops: 0, failures: 0 };
}

const FINAL_COUNTERS = {
  total: 150,
  created: 120,
  updated: 5,
  deleted: 0,
  noops: 0,
  versionConflicts: 25,
  failures: 0,
  arithmetic: '150 = 120 created + 5 updated + 0 deleted + 0 noops + 25 version_conflicts',
};
const PARITY = {
  ok: true,
  counts: { sourceCount: 150, targetCount: 150, drift: 0, tolerance: 0.0002 },
  driftingDays: [],
  forward: { checked: 65, missing: [], behind: [] },
  reverse: { checked: 65, targetOnly: [] },
};

function io(work: string) {
  const out: string[] = [];
  const err: string[] = [];
  const ticks: Array<() => void> = [];
  const overrides: Partial<AwsIo> = {
    out: (line) => out.push(...line.split('\n')),
    err: (line) => err.push(...line.split('\n')),
    env: { SAFE_REINDEX_LEDGER_TABLE: TABLE },
    sleep: async () => {
      ticks.shift()?.();
    },
    user: () => 'alice',
    now: () => new Date('2026-06-02T09:00:00.000Z'),
    followIntervalMs: 1,
  };
  return { out, err, ticks, overrides, work };
}

let table: FakeTable;
let work: string;

beforeEach(() => {
  sfn.reset();
  ddb.reset();
  s3.reset();
  table = new FakeTable();
  table.install();
  work = mkdtempSync(join(tmpdir(), 'safe-reindex-aws-'));
  process.env.AWS_REGION ??= 'eu-west-1';
});

afterEach(() => {
  sfn.reset();
  ddb.reset();
  rmSync(work, { recursive: true, force: true });
});

function inputFile(content: unknown, name = 'run.json'): string {
  const file = join(work, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const RUN_INPUT = { runId: 'calls-2026-05-live', source: { url: 'https://es7:9200', index: 'calls-2026-05' }, target: { index: 'calls-2026-05' }, dryRun: false };

describe('safe-reindex aws start', () => {
  it('starts the execution named after the run id with the input and prints its ARN', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: execArn('calls-2026-05-live'), startDate: new Date() });
    const t = io(work);

    const code = await runAwsCommand(['start', '--input', inputFile(RUN_INPUT), '--state-machine', MACHINE], t.overrides);

    expect(code).toBe(0);
    expect(t.out).toEqual([execArn('calls-2026-05-live')]);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({ stateMachineArn: MACHINE, name: 'calls-2026-05-live', input: JSON.stringify(RUN_INPUT) });
    expect(calls[0]!.args[0].input).not.toHaveProperty('endpoint');
  });

  it('takes the state machine from SAFE_REINDEX_STATE_MACHINE_ARN', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: execArn('calls-2026-05-live'), startDate: new Date() });
    const t = io(work);
    const code = await runAwsCommand(['start', '--input', inputFile(RUN_INPUT)], {
      ...t.overrides,
      env: { SAFE_REINDEX_STATE_MACHINE_ARN: MACHINE },
    });
    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.stateMachineArn).toBe(MACHINE);
  });

  it('explains a run id that is already used (ExecutionAlreadyExists), exit 2', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const t = io(work);

    const code = await runAwsCommand(['start', '--input', inputFile(RUN_INPUT), '--state-machine', MACHINE], t.overrides);

    expect(code).toBe(2);
    expect(t.err.join('\n')).toContain('run id calls-2026-05-live is already used');
    expect(t.err.join('\n')).toContain('safe-reindex aws status calls-2026-05-live');
    expect(t.out).toEqual([]);
  });

  it('with --wait follows the run to SUCCEEDED: header, poll lines as they appear, counters, parity, receipts, exit 0', async () => {
    const runId = 'calls-2026-05-live';
    const arn = execArn(runId);
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date() });
    let state = 'RUNNING';
    sfn.on(DescribeExecutionCommand).callsFake(() => ({ executionArn: arn, status: state, startDate: new Date() }));
    const t = io(work);
    // tick 1: pre-flight wrote the header, first poll; tick 2: second poll; tick 3: finished.
    t.ticks.push(
      () => {
        table.put(runRecord(runId));
        table.put(poll(runId, '2026-06-01T10:00:05.000Z', 40, 1, 9));
      },
      () => table.put(poll(runId, '2026-06-01T10:00:15.000Z', 90, 3, 20)),
      () => {
        table.put(poll(runId, '2026-06-01T10:00:25.000Z', 120, 5, 25, true));
        table.put(runRecord(runId, { status: 'SUCCEEDED', counters: FINAL_COUNTERS, parity: PARITY, finishedAt: '2026-06-01T10:01:00.000Z' }));
        state = 'SUCCEEDED';
      },
    );

    const code = await runAwsCommand(
      ['start', '--input', inputFile(RUN_INPUT), '--state-machine', MACHINE, '--wait', '--runs', join(work, 'runs')],
      t.overrides,
    );

    expect(code).toBe(0);
    const out = t.out.join('\n');
    expect(t.out[0]).toBe(arn);
    expect(out).toContain(HEADER[1]);
    expect(out.match(/mode: {17}merge/g)).toHaveLength(1); // the header once
    expect(t.out.filter((l) => l.startsWith('  10:00:'))).toEqual([
      '  10:00:05  created 40  updated 1  version_conflicts 9  of 150',
      '  10:00:15  created 90  updated 3  version_conflicts 20  of 150',
      '  10:00:25  created 120  updated 5  version_conflicts 25  of 150  (done)',
    ]);
    expect(out).toContain('150 = 120 created + 5 updated + 0 deleted + 0 noops + 25 version_conflicts');
    expect(out).toContain('parity: OK');
    expect(out).toContain('\nSUCCEEDED');
    expect(existsSync(join(work, 'runs', runId, 'receipt.html'))).toBe(true);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('with --wait follows the run to FAILED: error, cause and failing state, exit 1', async () => {
    const runId = 'calls-2026-05-over';
    const arn = execArn(runId);
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date() });
    let state = 'RUNNING';
    sfn.on(DescribeExecutionCommand).callsFake(() => ({
      executionArn: arn,
      status: state,
      startDate: new Date(),
      ...(state === 'FAILED' ? { error: 'TargetNotEmpty', cause: 'target calls-2026-05 holds 30 documents' } : {}),
    }));
    sfn.on(GetExecutionHistoryCommand).resolves({ events: failedHistory() });
    const t = io(work);
    t.ticks.push(() => {
      table.put(
        runRecord(runId, { status: 'FAILED', error: 'TargetNotEmpty', cause: 'target calls-2026-05 holds 30 documents', taskId: undefined }),
      );
      state = 'FAILED';
    });

    const code = await runAwsCommand(
      ['start', '--input', inputFile({ ...RUN_INPUT, runId }), '--state-machine', MACHINE, '--wait', '--runs', join(work, 'runs')],
      t.overrides,
    );

    expect(code).toBe(1);
    const out = t.out.join('\n');
    expect(out).toContain('(no counters: the run ended before its reindex finished)');
    expect(out).toContain('FAILED: TargetNotEmpty');
    expect(out).toContain('target calls-2026-05 holds 30 documents');
    expect(out).toContain('failed in state Preflight (TargetNotEmpty)');
    expect(t.err).toContain('TargetNotEmpty');
    expect(existsSync(join(work, 'runs', runId, 'run.json'))).toBe(true);
  });

  it('with --wait, an execution that failed validation (no ledger record) reports the execution error, no receipts', async () => {
    const runId = 'calls-2026-05-bad';
    const arn = execArn(runId);
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: arn, status: 'FAILED', error: 'InvalidInput', cause: 'batchSize: too big' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const t = io(work);

    const code = await runAwsCommand(['start', '--input', inputFile({ ...RUN_INPUT, runId }), '--state-machine', MACHINE, '--wait', '--runs', join(work, 'runs')], t.overrides);

    expect(code).toBe(1);
    expect(t.out.join('\n')).toContain('FAILED: InvalidInput');
    expect(t.out.join('\n')).toContain('batchSize: too big');
    expect(existsSync(join(work, 'runs', runId))).toBe(false);
  });

  it.each([
    ['no --input', (w: string) => ['start', '--state-machine', MACHINE], '--input FILE is required'],
    ['unreadable input', (w: string) => ['start', '--input', join(w, 'missing.json'), '--state-machine', MACHINE], 'cannot read --input'],
    ['not JSON', (w: string) => ['start', '--input', inputFile('{nope', 'bad.json'), '--state-machine', MACHINE], 'is not JSON'],
    ['a JSON array', (w: string) => ['start', '--input', inputFile([1], 'arr.json'), '--state-machine', MACHINE], 'must hold a JSON object'],
    ['no runId', (w: string) => ['start', '--input', inputFile({ source: {} }, 'no-id.json'), '--state-machine', MACHINE], 'has no runId'],
    ['bad runId', (w: string) => ['start', '--input', inputFile({ runId: 'Calls 2026' }, 'bad-id.json'), '--state-machine', MACHINE], 'must match'],
    ['no state machine', (w: string) => ['start', '--input', inputFile(RUN_INPUT)], 'the state machine is required'],
    ['bad state machine ARN', (w: string) => ['start', '--input', inputFile(RUN_INPUT), '--state-machine', 'ReindexRun'], 'is not a state machine ARN'],
    ['an unknown flag', (w: string) => ['start', '--input', inputFile(RUN_INPUT), '--state-machine', MACHINE, '--bogus'], 'Unknown option'],
  ])('misuse (%s) exits 2 without calling AWS', async (_name, args, message) => {
    const t = io(work);
    const code = await runAwsCommand(args(work), { ...t.overrides, env: {} });
    expect(code).toBe(2);
    expect(t.err.join('\n')).toContain(message);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('--wait without a ledger table exits 2 before starting anything', async () => {
    const t = io(work);
    const code = await runAwsCommand(['start', '--input', inputFile(RUN_INPUT), '--state-machine', MACHINE, '--wait'], { ...t.overrides, env: {} });
    expect(code).toBe(2);
    expect(t.err.join('\n')).toContain('--ledger-table NAME or SAFE_REINDEX_LEDGER_TABLE');
    expect(sfn.calls()).toHaveLength(0);
  });
});

function failedHistory(): HistoryEvent[] {
  const ts = new Date('2026-06-01T10:00:00Z');
  return [
    { id: 1, timestamp: ts, type: 'ExecutionStarted' },
    { id: 2, previousEventId: 1, timestamp: ts, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'ValidateInput' } },
    { id: 3, previousEventId: 2, timestamp: ts, type: 'TaskStateExited', stateExitedEventDetails: { name: 'ValidateInput' } },
    { id: 4, previousEventId: 3, timestamp: ts, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Preflight' } },
    { id: 5, previousEventId: 4, timestamp: ts, type: 'TaskScheduled' },
    { id: 6, previousEventId: 5, timestamp: ts, type: 'TaskStarted' },
    {
      id: 7,
      previousEventId: 6,
      timestamp: ts,
      type: 'TaskFailed',
      taskFailedEventDetails: {
        resourceType: 'lambda',
        resource: 'invoke',
        error: 'TargetNotEmpty',
        cause: JSON.stringify({ errorType: 'TargetNotEmpty', errorMessage: 'target calls-2026-05 holds 30 documents' }),
      },
    },
    { id: 8, previousEventId: 7, timestamp: ts, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'RecordFailure' } },
    { id: 9, previousEventId: 8, timestamp: ts, type: 'TaskStateExited', stateExitedEventDetails: { name: 'RecordFailure' } },
    { id: 10, previousEventId: 9, timestamp: ts, type: 'FailStateEntered', stateEnteredEventDetails: { name: 'TargetNotEmpty' } },
    {
      id: 11,
      previousEventId: 10,
      timestamp: ts,
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'TargetNotEmpty', cause: 'target calls-2026-05 holds 30 documents' },
    },
  ];
}

describe('execution history', () => {
  it('names the error that ended the execution and the state it started in', () => {
    expect(failureFromHistory([...failedHistory()].reverse())).toEqual({
      error: 'TargetNotEmpty',
      cause: 'target calls-2026-05 holds 30 documents',
      state: 'Preflight',
      stateError: 'TargetNotEmpty',
      stateCause: 'target calls-2026-05 holds 30 documents',
    });
  });

  it('formats poll lines like the local runner', () => {
    expect(pollLine({ at: '2026-06-01T10:00:05.000Z', created: 70798760, updated: 634962, versionConflicts: 13553083, total: 84986805 })).toBe(
      '  10:00:05  created 70,798,760  updated 634,962  version_conflicts 13,553,083  of 84,986,805',
    );
  });
});

describe('safe-reindex aws status', () => {
  it('by run id: ledger record, its execution, error, cause, failing state and last poll line; exit 1 for a failed run', async () => {
    const runId = 'calls-2026-05-live';
    table.put(runRecord(runId, { status: 'FAILED', error: 'ParityFailed', cause: 'day 2026-05-03 drifts' }));
    table.put(poll(runId, '2026-06-01T10:00:05.000Z', 40, 1, 9));
    table.put(poll(runId, '2026-06-01T10:00:25.000Z', 120, 5, 25, true));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'FAILED', error: 'ParityFailed', cause: 'day 2026-05-03 drifts', startDate: new Date('2026-06-01T10:00:00Z') });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: failedHistory() });
    const t = io(work);

    const code = await runAwsCommand(['status', runId], t.overrides);

    expect(code).toBe(1);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: execArn(runId) });
    const out = t.out.join('\n');
    expect(out).toMatch(/status\s+FAILED · execution FAILED · ledger FAILED/);
    expect(out).toMatch(/error\s+ParityFailed/);
    expect(out).toMatch(/cause\s+day 2026-05-03 drifts/);
    expect(out).toContain('last poll  2026-06-01T10:00:25.000Z  10:00:25  created 120  updated 5  version_conflicts 25  of 150  (done)');
  });

  it('by run id: a running run exits 0', async () => {
    const runId = 'calls-2026-05-live';
    table.put(runRecord(runId));
    table.put(poll(runId, '2026-06-01T10:00:05.000Z', 40, 1, 9));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'RUNNING', startDate: new Date() });
    const t = io(work);

    expect(await runAwsCommand(['status', runId], t.overrides)).toBe(0);
    expect(t.out.join('\n')).toMatch(/status\s+RUNNING · execution RUNNING · ledger RUNNING/);
    expect(t.out.join('\n')).toContain('created 40  updated 1  version_conflicts 9  of 150');
  });

  it('by execution ARN: DescribeExecution and the history name the failing state, without a ledger', async () => {
    const arn = execArn('calls-2026-05-over');
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: arn, status: 'FAILED', error: 'TargetNotEmpty', cause: 'target calls-2026-05 holds 30 documents', startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: failedHistory() });
    const t = io(work);

    const code = await runAwsCommand(['status', arn], { ...t.overrides, env: {} });

    expect(code).toBe(1);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0]!.args[0].input).toMatchObject({ executionArn: arn, reverseOrder: true });
    const out = t.out.join('\n');
    expect(out).toMatch(/run\s+calls-2026-05-over/);
    expect(out).toMatch(/error\s+TargetNotEmpty/);
    expect(out).toMatch(/failed at\s+Preflight \(TargetNotEmpty\)/);
    expect(out).toMatch(/last poll\s+\(none\)/);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('by run id without a ledger record: finds the execution through the state machine ARN (validation failed)', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn('calls-x'), status: 'FAILED', error: 'InvalidInput', cause: 'mode: invalid' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const t = io(work);
    const code = await runAwsCommand(['status', 'calls-x', '--state-machine', MACHINE], t.overrides);
    expect(code).toBe(1);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]!.args[0].input.executionArn).toBe(execArn('calls-x'));
    expect(t.out.join('\n')).toMatch(/error\s+InvalidInput/);
  });

  it('AWS refusing the call (access denied, unreachable endpoint) exits 2 with its message', async () => {
    sfn.on(DescribeExecutionCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: states:DescribeExecution'), { name: 'AccessDeniedException', $metadata: {} }),
    );
    const t = io(work);
    expect(await runAwsCommand(['status', execArn('calls-x')], { ...t.overrides, env: {} })).toBe(2);
    expect(t.err.join('\n')).toContain('AccessDeniedException: User is not authorized');
  });

  it('an unknown run exits 2; no argument exits 2', async () => {
    sfn.on(DescribeExecutionCommand).rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));
    const t = io(work);
    expect(await runAwsCommand(['status', 'nope'], t.overrides)).toBe(2);
    expect(t.err.join('\n')).toContain('no run nope');
    expect(await runAwsCommand(['status'], t.overrides)).toBe(2);
  });
});

describe('safe-reindex aws report', () => {
  it('writes run.json, receipt.md and receipt.html (with the chart) from the ledger and prints their paths', async () => {
    const runId = 'calls-2026-05-live';
    table.put(runRecord(runId, { status: 'SUCCEEDED', counters: FINAL_COUNTERS, parity: PARITY, finishedAt: '2026-06-01T10:01:00.000Z' }));
    table.put(poll(runId, '2026-06-01T10:00:05.000Z', 40, 1, 9));
    table.put(poll(runId, '2026-06-01T10:00:25.000Z', 120, 5, 25, true));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'SUCCEEDED' });
    const t = io(work);
    const runs = join(work, 'receipts');

    const code = await runAwsCommand(['report', runId, '--runs', runs], t.overrides);

    expect(code).toBe(0);
    const folder = join(runs, runId);
    expect(t.out).toEqual([join(folder, 'run.json'), join(folder, 'receipt.md'), join(folder, 'receipt.html')]);
    const json = JSON.parse(readFileSync(join(folder, 'run.json'), 'utf8')) as { status: string; counters: { created: number }; polls: unknown[] };
    expect(json).toMatchObject({ status: 'SUCCEEDED', counters: { created: 120 } });
    expect(json.polls).toHaveLength(2);
    expect(readFileSync(join(folder, 'receipt.md'), 'utf8')).toContain('25 version_conflicts');
    expect(readFileSync(join(folder, 'receipt.html'), 'utf8')).toContain('<svg');
  });

  it('takes error and cause from the execution when the ledger could not record them', async () => {
    const runId = 'calls-2026-05-lost';
    table.put(runRecord(runId, { status: 'RUNNING' }));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'FAILED', error: 'RecordFailureFailed', cause: 'ledger unavailable' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const t = io(work);

    expect(await runAwsCommand(['report', runId, '--runs', work], t.overrides)).toBe(0);
    const json = JSON.parse(readFileSync(join(work, runId, 'run.json'), 'utf8')) as { status: string; error: string; cause: string };
    expect(json).toMatchObject({ status: 'FAILED', error: 'RecordFailureFailed', cause: 'ledger unavailable' });
  });

  it('writes differences.jsonl from the differences bucket: every id full verification found different', async () => {
    const runId = 'calls-2026-05-verify';
    const prefix = `runs/${runId}/differences/`;
    const parity = {
      ok: false,
      mode: 'full',
      counts: { sourceCount: 20_000, targetCount: 20_001, difference: 1, drift: 0.00005, tolerance: 0.0002, ok: true },
      driftingDays: [],
      verification: {
        compared: 20_000,
        classes: { equal: 19_998, targetNewer: 0, sourceNewerByDesign: 0, regression: 1, missing: 1, targetOnly: 2, settled: 0 },
        firstIds: { regression: ['c-1'], missing: ['c-2'], targetOnly: ['c-3', 'c-4'] },
        ranges: 4,
        splits: 0,
        invocations: 1,
        differences: `s3://safe-reindex-differences/${prefix}`,
      },
    };
    table.put(runRecord(runId, { status: 'FAILED', error: 'ParityFailed', cause: 'full verification confirmed ...', parity, finishedAt: '2026-06-01T10:01:00.000Z' }));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'FAILED', error: 'ParityFailed' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const objects: Record<string, string> = {
      [`${prefix}r0002-0001.jsonl`]: '{"id":"c-1","class":"regression","sourceVersion":9,"targetVersion":5}\n{"id":"c-2","class":"missing","sourceVersion":3,"targetVersion":null}\n',
      [`${prefix}r0004-0001.jsonl`]: '{"id":"c-3","class":"targetOnly","sourceVersion":null,"targetVersion":2}\n{"id":"c-4","class":"targetOnly","sourceVersion":null,"targetVersion":1}\n',
    };
    s3.on(ListObjectsV2Command).callsFake((input: { Bucket: string; Prefix: string }) => ({
      Contents: input.Bucket === 'safe-reindex-differences' ? Object.keys(objects).filter((k) => k.startsWith(input.Prefix)).map((Key) => ({ Key })) : [],
      IsTruncated: false,
    }));
    // The SDK's response body: a stream with transformToString.
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({ Body: { transformToString: async () => objects[input.Key]! } }));
    const t = io(work);

    expect(await runAwsCommand(['report', runId, '--runs', work], t.overrides)).toBe(0);

    const path = join(work, runId, 'differences.jsonl');
    expect(t.out).toContain(path);
    const listed = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; class: string });
    expect(listed.map((d) => `${d.class}:${d.id}`)).toEqual(['regression:c-1', 'missing:c-2', 'targetOnly:c-3', 'targetOnly:c-4']);
    expect(readFileSync(join(work, runId, 'receipt.md'), 'utf8')).toContain(`every differing id: s3://safe-reindex-differences/${prefix}`);
  });

  it('refuses a run that is still running (exit 1) and an unknown run (exit 2)', async () => {
    table.put(runRecord('calls-running'));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn('calls-running'), status: 'RUNNING' });
    const t = io(work);
    expect(await runAwsCommand(['report', 'calls-running', '--runs', work], t.overrides)).toBe(1);
    expect(t.err.join('\n')).toContain('has not finished');
    expect(await runAwsCommand(['report', 'calls-unknown', '--runs', work], t.overrides)).toBe(2);
  });
});

describe('safe-reindex aws approve / reject', () => {
  const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));

  it('putPendingApproval / getPendingApproval keep the token under APPROVAL#<run id>', async () => {
    await putPendingApproval(client(), TABLE, 'calls-2026-05-dry', 'token-1', {
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:MonthlyBackfill:2026-06',
      liveRunId: 'calls-2026-05-live',
      requestedAt: new Date('2026-06-01T00:00:00Z'),
      ttlHours: 48,
    });
    expect(table.get('APPROVAL#calls-2026-05-dry', 'TOKEN')).toMatchObject({ taskToken: 'token-1', expiresAt: Date.parse('2026-06-03T00:00:00Z') / 1000 });
    expect(approvalTokenKey('x')).toEqual({ pk: 'APPROVAL#x', sk: 'TOKEN' });
    expect(await getPendingApproval(client(), TABLE, 'calls-2026-05-dry')).toMatchObject({
      runId: 'calls-2026-05-dry',
      taskToken: 'token-1',
      liveRunId: 'calls-2026-05-live',
    });
  });

  it('approve sends SendTaskSuccess with the stored token and records the decision', async () => {
    await putPendingApproval(client(), TABLE, 'calls-2026-05-dry', 'token-1', { liveRunId: 'calls-2026-05-live' });
    sfn.on(SendTaskSuccessCommand).resolves({});
    const t = io(work);

    expect(await runAwsCommand(['approve', 'calls-2026-05-dry'], t.overrides)).toBe(0);

    const calls = sfn.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.taskToken).toBe('token-1');
    expect(JSON.parse(calls[0]!.args[0].input.output!)).toEqual({
      approved: true,
      runId: 'calls-2026-05-dry',
      decidedBy: 'alice',
      decidedAt: '2026-06-02T09:00:00.000Z',
    });
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    expect(table.get('APPROVAL#calls-2026-05-dry', 'TOKEN')).toMatchObject({ decision: 'APPROVED', decidedBy: 'alice' });
    expect(t.out[0]).toBe('approved calls-2026-05-dry (live run calls-2026-05-live)');

    // A second answer finds it already answered.
    expect(await runAwsCommand(['reject', 'calls-2026-05-dry'], t.overrides)).toBe(1);
    expect(t.err.join('\n')).toContain('already APPROVED by alice');
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
  });

  it('reject sends SendTaskFailure with error Rejected and the reason as cause', async () => {
    await putPendingApproval(client(), TABLE, 'calls-2026-05-dry', 'token-2');
    sfn.on(SendTaskFailureCommand).resolves({});
    const t = io(work);

    expect(await runAwsCommand(['reject', 'calls-2026-05-dry', '--reason', 'probe says target newer'], t.overrides)).toBe(0);

    const calls = sfn.commandCalls(SendTaskFailureCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({ taskToken: 'token-2', error: 'Rejected', cause: 'probe says target newer' });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(table.get('APPROVAL#calls-2026-05-dry', 'TOKEN')).toMatchObject({ decision: 'REJECTED', reason: 'probe says target newer' });
  });

  it('a token that is no longer waiting: exit 1, the decision is not kept', async () => {
    await putPendingApproval(client(), TABLE, 'calls-2026-05-dry', 'token-3');
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    const t = io(work);

    expect(await runAwsCommand(['approve', 'calls-2026-05-dry'], t.overrides)).toBe(1);
    expect(t.err.join('\n')).toContain('no longer waiting (TaskTimedOut');
    expect(table.get('APPROVAL#calls-2026-05-dry', 'TOKEN')).not.toHaveProperty('decision');
  });

  it('nothing pending: exit 1 without a Step Functions call; misuse exits 2', async () => {
    const t = io(work);
    expect(await runAwsCommand(['approve', 'calls-none'], t.overrides)).toBe(1);
    expect(t.err.join('\n')).toContain('no approval is pending for run calls-none');
    expect(sfn.calls()).toHaveLength(0);
    expect(await runAwsCommand(['approve'], t.overrides)).toBe(2);
    expect(await runAwsCommand(['approve', 'calls-none', '--reason', 'x'], t.overrides)).toBe(2);
    expect(await runAwsCommand(['approve', 'calls-none'], { ...t.overrides, env: {} })).toBe(2);
    expect(t.err.join('\n')).toContain('the ledger table is required');
  });
});

describe('safe-reindex (the bin)', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [join(root, 'local/cli/safe-reindex.mjs'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });

  it('dispatches aws (an unknown aws command exits 2 with the aws usage) and lists it in --help', () => {
    const unknown = cli(['aws', 'launch']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown aws command launch');
    expect(unknown.stderr).toContain('safe-reindex aws approve <run id>');
    expect(cli(['--help']).stdout).toContain('safe-reindex aws start|status|report|approve|reject');
  });
});

// --- partitioned runs ----------------------------------------------------------------------------------

const REASON = 'task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)';
const PARTED = 'calls-2026-05-parted';

function partedRecord(patch: Record<string, unknown> = {}) {
  return runRecord(PARTED, { taskId: undefined, config: { partitions: 2, maxConcurrency: 2 }, plan: { partitions: [] }, ...patch });
}

function partItem(partitionId: string, status: string, expected: number, patch: Record<string, unknown> = {}) {
  return {
    pk: `RUN#${PARTED}`,
    sk: `PART#${partitionId}`,
    runId: PARTED,
    partitionId,
    kind: 'range',
    query: null,
    expected,
    status,
    attempts: 1,
    taskId: `n:${partitionId.slice(1)}`,
    taskIds: [`n:${partitionId.slice(1)}`],
    errors: [],
    updatedAt: '2026-06-01T10:00:00.000Z',
    ...patch,
  };
}

const counted = (total: number, created: number, versionConflicts = 0) => ({ total, created, updated: 0, deleted: 0, noops: 0, versionConflicts, failures: 0 });

function partPoll(at: string, partitionId: string, created: number, total: number, completed = false) {
  return { pk: `RUN#${PARTED}`, sk: `POLL#${at}`, runId: PARTED, at, partitionId, taskId: `n:${partitionId.slice(1)}`, completed, ...counted(total, created) };
}

const LOWERED = { current: 1, changes: [{ at: '2026-06-01T10:00:14.000Z', from: 2, to: 1, partitionId: 'p02', reason: REASON }] };

describe('safe-reindex aws, partitioned runs', () => {
  it('start --wait prints one line per turn with each running partition, the lowered concurrency when recorded, then the partition table and the change', async () => {
    const arn = execArn(PARTED);
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date() });
    let state = 'RUNNING';
    sfn.on(DescribeExecutionCommand).callsFake(() => ({ executionArn: arn, status: state, startDate: new Date() }));
    const t = io(work);
    t.ticks.push(
      () => {
        table.put(partedRecord());
        table.put(partItem('p01', 'RUNNING', 100, { counters: counted(100, 40) }));
        table.put(partItem('p02', 'RUNNING', 50, { counters: counted(50, 20) }));
        table.put(partPoll('2026-06-01T10:00:05.000Z', 'p01', 40, 100));
        table.put(partPoll('2026-06-01T10:00:06.000Z', 'p02', 20, 50));
      },
      () => {
        table.put(partItem('p01', 'SUCCEEDED', 100, { counters: counted(100, 100) }));
        table.put(partPoll('2026-06-01T10:00:15.000Z', 'p01', 100, 100, true));
        table.put(partedRecord({ concurrency: LOWERED }));
      },
      () => {
        table.put(partItem('p02', 'SUCCEEDED', 50, { counters: counted(50, 50) }));
        table.put(partPoll('2026-06-01T10:00:25.000Z', 'p02', 50, 50, true));
        const summaries = [
          { id: 'p01', kind: 'range', expected: 100, status: 'SUCCEEDED', attempts: 1, taskIds: ['n:01'], counters: counted(100, 100) },
          { id: 'p02', kind: 'range', expected: 50, status: 'SUCCEEDED', attempts: 1, taskIds: ['n:02'], counters: counted(50, 50) },
        ];
        const final = { ...counted(150, 150), arithmetic: '150 = 150 created + 0 updated + 0 deleted + 0 noops + 0 version_conflicts' };
        table.put(partedRecord({ status: 'SUCCEEDED', concurrency: LOWERED, partitions: summaries, counters: final, parity: PARITY, finishedAt: '2026-06-01T10:01:00.000Z' }));
        state = 'SUCCEEDED';
      },
    );

    const code = await runAwsCommand(
      ['start', '--input', inputFile({ ...RUN_INPUT, runId: PARTED }), '--state-machine', MACHINE, '--wait', '--runs', join(work, 'runs')],
      t.overrides,
    );

    expect(code).toBe(0);
    const polls = t.out.filter((l) => /^ {2}(! )?\d\d:\d\d:\d\d {2}/.test(l));
    expect(polls).toEqual([
      '  10:00:06  60 of 150 (40.0%)  created 60  updated 0  version_conflicts 0  ·  partitions 0 done, 2 running, 0 waiting  ·  p01 40/100 c 40 u 0 vc 0  ·  p02 20/50 c 20 u 0 vc 0',
      // Read in the same look as the 10:00:15 snapshot, said in time order.
      `  ! 10:00:14  concurrency 2 -> 1  p02  ${REASON}`,
      '  10:00:15  120 of 150 (80.0%)  created 120  updated 0  version_conflicts 0  ·  partitions 1 done, 1 running, 0 waiting  ·  p01 done 100/100 c 100 u 0 vc 0  ·  p02 20/50 c 20 u 0 vc 0',
      '  10:00:25  150 of 150 (100.0%)  created 150  updated 0  version_conflicts 0  ·  partitions 2 done, 0 running, 0 waiting  ·  p02 done 50/50 c 50 u 0 vc 0',
    ]);
    expect(t.out).toContain('  per partition: processed/total, c created, u updated, vc version_conflicts (kept), f failures');
    const out = t.out.join('\n');
    expect(out).toMatch(/^total {35,}150 +150 +150 +0 +0 +2 {2}2 task\(s\)$/m);
    expect(out).toContain(`concurrency 2 -> 1: lowered once because the target rejected writes\n  2026-06-01T10:00:14Z  2 -> 1  p02  ${REASON}`);
    expect(out).toContain('\nSUCCEEDED');
    expect(readFileSync(join(work, 'runs', PARTED, 'receipt.md'), 'utf8')).toContain('Partition concurrency **2 → 1**: lowered once because the target rejected writes.');
  });

  it('status shows the run\'s progress by partition, the partition table, the lowered concurrency, the rethrottle and the stall', async () => {
    const stall = { at: '2026-06-01T10:00:20.000Z', since: '2026-06-01T09:45:20.000Z', processed: 15, total: 50, taskId: 'n:02' };
    table.put(
      partedRecord({
        concurrency: LOWERED,
        throttle: { changes: [{ at: '2026-06-01T10:00:22.000Z', taskId: 'n:02', partitionId: 'p02', from: null, to: 250, reason: 'task n:02: retries.bulk grew from 12 to 30 (the target rejected writes)' }] },
        stall: { ...stall, partitionId: 'p02' },
      }),
    );
    table.put(partItem('p01', 'SUCCEEDED', 100, { counters: counted(100, 100) }));
    table.put(partItem('p02', 'RUNNING', 50, { counters: counted(50, 10, 5), stall }));
    table.put(partItem('p03', 'PENDING', 10, { attempts: 0, taskId: undefined, taskIds: [] }));
    table.put(partPoll('2026-06-01T10:00:25.000Z', 'p02', 10, 50));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(PARTED), status: 'RUNNING', startDate: new Date() });
    const t = io(work);

    expect(await runAwsCommand(['status', PARTED], t.overrides)).toBe(0);

    const out = t.out.join('\n');
    expect(out).toContain(
      'last poll  2026-06-01T10:00:25.000Z  10:00:25  115 of 160 (71.8%)  created 110  updated 0  version_conflicts 5  ·  partitions 1 done, 1 running, 1 waiting  ·  p02 15/50 c 10 u 0 vc 5',
    );
    expect(out).toMatch(/^partition +range +status +expected/m);
    expect(out).toMatch(/^p02 +\[-∞, \+∞\) +RUNNING +50 +50 +10 +0 +5 +1 {2}n:02$/m);
    expect(out).toMatch(/^total +160 +150 +110 +0 +5 +2 {2}2 task\(s\)$/m);
    expect(t.out.slice(t.out.indexOf('concurrency 2 -> 1: lowered once because the target rejected writes'))).toEqual([
      'concurrency 2 -> 1: lowered once because the target rejected writes',
      `  2026-06-01T10:00:14Z  2 -> 1  p02  ${REASON}`,
      'rethrottled once because the target rejected writes',
      '  2026-06-01T10:00:22Z  task n:02  p02  unthrottled -> 250 docs/s  task n:02: retries.bulk grew from 12 to 30 (the target rejected writes)',
      'stalled: no counter change on task n:02 (p02) since 2026-06-01T09:45:20Z, reported 2026-06-01T10:00:20Z, 15 of 50 processed',
    ]);
  });

  it('status of a single-task run shows its rethrottle, without a partition table', async () => {
    const runId = 'calls-2026-05-live';
    table.put(runRecord(runId, { throttle: { changes: [{ at: '2026-06-01T10:00:10.000Z', taskId: 'node-1:42', partitionId: null, from: 2_000, to: 1_000, reason: 'r' }] } }));
    table.put(poll(runId, '2026-06-01T10:00:05.000Z', 40, 1, 9));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(runId), status: 'RUNNING', startDate: new Date() });
    const t = io(work);

    expect(await runAwsCommand(['status', runId], t.overrides)).toBe(0);
    expect(t.out.join('\n')).toContain('last poll  2026-06-01T10:00:05.000Z  10:00:05  created 40  updated 1  version_conflicts 9  of 150');
    expect(t.out.slice(-2)).toEqual(['rethrottled once because the target rejected writes', '  2026-06-01T10:00:10Z  task node-1:42  2,000 docs/s -> 1,000 docs/s  r']);
    expect(t.out.join('\n')).not.toMatch(/^partition /m);
  });

  it('report of a run stopped before ReconcileRun tables its partitions from the ledger\'s items, with the lowered concurrency, and says the change beside the status', async () => {
    table.put(partedRecord({ status: 'ABORTED', error: 'Aborted', concurrency: LOWERED, finishedAt: '2026-06-01T10:00:30.000Z' }));
    table.put(partItem('p01', 'SUCCEEDED', 100, { counters: counted(100, 100) }));
    table.put(partItem('p02', 'RUNNING', 50, { counters: counted(50, 20) }));
    table.put(partPoll('2026-06-01T10:00:25.000Z', 'p02', 20, 50));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execArn(PARTED), status: 'ABORTED' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const t = io(work);

    expect(await runAwsCommand(['report', PARTED, '--runs', work], t.overrides)).toBe(0);

    expect(t.err).toEqual(['ABORTED: Aborted', 'concurrency 2 -> 1: lowered once because the target rejected writes', `  2026-06-01T10:00:14Z  2 -> 1  p02  ${REASON}`]);
    const markdown = readFileSync(join(work, PARTED, 'receipt.md'), 'utf8');
    expect(markdown).toContain('## Partitions (2)');
    expect(markdown).toContain('| p02 | `[-∞, +∞)` | RUNNING | 1 | `n:02` | 50 | 50 | 20 | 0 | 0 | 0 |');
    expect(markdown).toContain(`| 2026-06-01T10:00:14Z | 2 | 1 | p02 | ${REASON} |`);
    const json = JSON.parse(readFileSync(join(work, PARTED, 'run.json'), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ concurrency: { max: 2, current: 1 }, partitions: [{ id: 'p01' }, { id: 'p02', status: 'RUNNING' }] });
  });
});
