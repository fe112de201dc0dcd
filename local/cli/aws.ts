import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, StartExecutionCommand, type DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { claimApprovalDecision, getPendingApproval, REJECTED_ERROR, releaseApprovalDecision, type ApprovalDecision, type ApprovalOutput } from '../../lambdas/shared/ledger/approval-tokens';
import { Ledger, type PartitionItem, type PollSnapshot, type RunRecord } from '../../lambdas/shared/ledger/ledger';
import { differencesAt } from '../../lambdas/shared/checks/differences';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import { isPartitioned, type RunConfig } from '../../lambdas/shared/runtime/config';
import { adjustmentLines, countersTable, differencesLocation, parityLines, partitionLines, partitionSummaries, runAdjustments, summarise, writeDifferences, writeReceipts, type Receipts, type RunSummary } from '../receipts';
import { executionArnFor, executionEnded, failureFromHistory, isAwsExecutionArn, isExecutionArn, outcomeOf, pollLine, type ExecutionFailure } from './aws-helpers';
import { clock, partitionStatusLine, RecordEventLines, SnapshotPollLines } from './poll-lines';

/**
 * `safe-reindex aws ...`: operating the deployed state machines from a terminal. Every client takes
 * its region, credentials and endpoint from the SDK's standard configuration (AWS_REGION, profiles,
 * AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SFN / AWS_ENDPOINT_URL_DYNAMODB): nothing here sets an endpoint.
 */

export const AWS_USAGE = `usage: safe-reindex aws start --input run.json [--state-machine ARN] [--ledger-table NAME] [--wait] [--runs DIR]
       safe-reindex aws status <run id | execution ARN> [--state-machine ARN] [--ledger-table NAME]
       safe-reindex aws report <run id> [--ledger-table NAME] [--runs DIR]
       safe-reindex aws approve <run id> [--ledger-table NAME]
       safe-reindex aws reject <run id> [--reason TEXT] [--ledger-table NAME]

Operates the deployed ReindexRun / MonthlyBackfill state machines (region, credentials and endpoints
from the AWS SDK's standard configuration, including AWS_ENDPOINT_URL_*).
  start    starts ReindexRun with the input file, execution name = run id; prints the execution ARN.
           --wait follows it: header, poll lines from the ledger (a partitioned run: one line per turn
           with each running partition), concurrency lowered, rethrottles and stalls as they are
           recorded, then counters table, partition table, parity, receipts.
  status   the run's status, error, cause, failing state and last poll line; a partitioned run's
           progress by partition and its partition table; concurrency, rethrottles and stalls.
  report   writes the run's receipts (run.json, receipt.md, receipt.html) under DIR/<run id>/, and
           differences.jsonl (every id full verification found different) from the differences bucket.
  approve  answers MonthlyBackfill's pending approval of <run id> (SendTaskSuccess).
  reject   refuses it (SendTaskFailure, error ${REJECTED_ERROR}; --reason becomes the cause).
  --state-machine ARN  ReindexRun's ARN (stack output ReindexRunStateMachineArn); env SAFE_REINDEX_STATE_MACHINE_ARN
  --ledger-table NAME  the ledger table (stack output LedgerTableName); env SAFE_REINDEX_LEDGER_TABLE
  --runs DIR           where receipts go (default ./runs)
Ctrl-C during --wait stops following, not the execution.
Exit codes: 0 success (status: succeeded or still running; report/approve/reject: done),
            1 the run failed, was aborted or timed out (approve/reject: nothing waiting for an answer),
            2 the command was misused (bad input file, missing ARN/table, unknown run, run id already used)
              or AWS refused or could not be reached (region, credentials, permissions, endpoint).`;

export class AwsUsageError extends Error {}

export interface AwsIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly sleep: (ms: number) => Promise<void>;
  /** Who answers an approval; @default the OS user name */
  readonly user: () => string;
  readonly now: () => Date;
  /** Milliseconds between two looks at a followed execution; @default 10 000 */
  readonly followIntervalMs: number;
}

export function defaultAwsIo(): AwsIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
    user: () => {
      try {
        return userInfo().username;
      } catch {
        return process.env.USER ?? 'unknown';
      }
    },
    now: () => new Date(),
    followIntervalMs: 10_000,
  };
}

const RUN_ID = /^[a-z0-9][a-z0-9._-]{0,79}$/;

/** Errors that mean "this configuration is wrong", not "the run failed". */
const MISCONFIGURATION = new Set([
  'StateMachineDoesNotExist',
  'InvalidArn',
  'InvalidName',
  'InvalidExecutionInput',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'CredentialsProviderError',
  'ValidationException',
]);

interface Clients {
  sfn(): SFNClient;
  s3(): S3Client;
  ledger(): Ledger;
}

function clients(tableName: string | undefined): Clients {
  let sfn: SFNClient | undefined;
  let s3: S3Client | undefined;
  let ledger: Ledger | undefined;
  return {
    sfn: () => (sfn ??= new SFNClient({})),
    s3: () => (s3 ??= new S3Client({})),
    ledger: () => {
      if (!tableName) {
        throw new AwsUsageError('the ledger table is required: --ledger-table NAME or SAFE_REINDEX_LEDGER_TABLE (stack output LedgerTableName)');
      }
      return (ledger ??= new Ledger({
        client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
        tableName,
      }));
    },
  };
}

function parse(argv: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals > 0 });
  } catch (err) {
    throw new AwsUsageError((err as Error).message);
  }
  if (parsed.positionals.length !== positionals) {
    throw new AwsUsageError(positionals === 1 ? 'exactly one run id (or execution ARN) is required' : 'unexpected arguments');
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

const str = (value: string | boolean | undefined): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function stateMachineArn(values: Record<string, string | boolean | undefined>, io: AwsIo): string | undefined {
  const arn = str(values['state-machine']) ?? str(io.env.SAFE_REINDEX_STATE_MACHINE_ARN);
  if (arn !== undefined && !/^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:[^:]+$/.test(arn)) {
    throw new AwsUsageError(`--state-machine ${arn} is not a state machine ARN`);
  }
  return arn;
}

const ledgerTable = (values: Record<string, string | boolean | undefined>, io: AwsIo) =>
  str(values['ledger-table']) ?? str(io.env.SAFE_REINDEX_LEDGER_TABLE);

function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new AwsUsageError(`run id ${JSON.stringify(runId)} must match ^[a-z0-9][a-z0-9._-]{0,79}$`);
  return runId;
}

async function describe(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput | undefined> {
  try {
    return await sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (err) {
    if ((err as Error).name === 'ExecutionDoesNotExist') return undefined;
    throw err;
  }
}

async function executionFailure(sfn: SFNClient, executionArn: string): Promise<ExecutionFailure> {
  const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1000 }));
  return failureFromHistory(page.events ?? []);
}

// --- start ------------------------------------------------------------------------------------------

async function start(argv: readonly string[], io: AwsIo): Promise<number> {
  const { values } = parse(
    argv,
    {
      input: { type: 'string' },
      'state-machine': { type: 'string' },
      'ledger-table': { type: 'string' },
      wait: { type: 'boolean' },
      runs: { type: 'string' },
    },
    0,
  );
  const file = str(values.input);
  if (!file) throw new AwsUsageError('--input FILE is required');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AwsUsageError(`cannot read --input ${file}: ${(err as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new AwsUsageError(`--input ${file} is not JSON: ${(err as Error).message}`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new AwsUsageError(`--input ${file} must hold a JSON object`);
  const runIdValue = (input as { runId?: unknown }).runId;
  if (typeof runIdValue !== 'string') throw new AwsUsageError(`--input ${file} has no runId`);
  const runId = checkRunId(runIdValue);
  const machine = stateMachineArn(values, io);
  if (!machine) throw new AwsUsageError('the state machine is required: --state-machine ARN or SAFE_REINDEX_STATE_MACHINE_ARN (stack output ReindexRunStateMachineArn)');
  const table = ledgerTable(values, io);
  const wait = values.wait === true;
  const aws = clients(table);
  if (wait) aws.ledger(); // fail on a missing table before starting anything

  let executionArn: string;
  try {
    const started = await aws.sfn().send(
      new StartExecutionCommand({ stateMachineArn: machine, name: runId, input: JSON.stringify(input) }),
    );
    executionArn = started.executionArn!;
  } catch (err) {
    if ((err as Error).name === 'ExecutionAlreadyExists') {
      throw new AwsUsageError(
        `run id ${runId} is already used: an execution named ${runId} exists on ${machine} (a run id is single-use; ` +
          `a rerun is the same input under a new run id). See: safe-reindex aws status ${runId}`,
      );
    }
    throw err;
  }
  io.out(executionArn);
  if (!wait) return 0;
  try {
    return await follow(runId, executionArn, aws, io, resolve(str(values.runs) ?? 'runs'));
  } catch (err) {
    io.err(`safe-reindex: stopped following ${runId}; the execution continues: safe-reindex aws status ${runId}`);
    throw err;
  }
}

/** Follows an execution like the local runner: header, poll lines as they appear, then the outcome. */
async function follow(runId: string, executionArn: string, aws: Clients, io: AwsIo, runsDir: string): Promise<number> {
  const ledger = aws.ledger();
  let headerShown = false;
  let lastAt: string | undefined;
  let execution: DescribeExecutionCommandOutput | undefined;
  let record: RunRecord | undefined;
  let items: PartitionItem[] = [];
  const partitionPolls = new SnapshotPollLines(io.out);
  const events = new RecordEventLines();
  for (;;) {
    execution = await describe(aws.sfn(), executionArn);
    if (!execution) throw new Error(`execution ${executionArn} not found`);
    const current = await ledger.getRun(runId);
    record = current && current.executionArn === executionArn ? current : undefined;
    if (record?.header && !headerShown) {
      headerShown = true;
      io.out('');
      for (const line of record.header) io.out(line);
      io.out('');
    }
    if (record) {
      const snapshots = await ledger.listPolls(runId, lastAt);
      if (isPartitionedRun(record)) items = await ledger.listPartitions(runId);
      // The snapshots and the record's new events (concurrency lowered, rethrottles, stalls), in time order.
      const stream = [
        ...snapshots.map((snapshot) => ({ at: snapshot.at, snapshot })),
        ...events.events(record, items).map((event) => ({ at: event.at, line: event.line })),
      ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
      for (const entry of stream) {
        if ('line' in entry) io.out(entry.line);
        else if (typeof entry.snapshot.partitionId === 'string' && entry.snapshot.partitionId !== WHOLE_INDEX_PARTITION_ID) partitionPolls.snapshot(entry.snapshot, items);
        else io.out(pollLine(entry.snapshot));
      }
      if (snapshots.length > 0) lastAt = snapshots[snapshots.length - 1]!.at;
      partitionPolls.settle(items);
    }
    if (executionEnded(execution.status)) break;
    await io.sleep(io.followIntervalMs);
  }
  const failure = execution.status === 'SUCCEEDED' ? undefined : await executionFailure(aws.sfn(), executionArn);
  const outcome = outcomeOf(record, execution, failure)!;
  const summary = summarise(record, { runId, ...outcome }, await stoppedPartitions(ledger, record));
  const receipts = record ? writeReceipts(runsDir, summary, await ledger.listPolls(runId)) : null;
  const differences = await differencesReceipt(runsDir, summary, aws);
  printOutcome(summary, receipts, io, failure);
  if (differences) io.out(differences);
  if (summary.status !== 'SUCCEEDED') io.err(summary.error ?? 'RunFailed');
  return summary.status === 'SUCCEEDED' ? 0 : 1;
}

/**
 * Full verification's list of differing ids, read from the stack's differences bucket
 * (`s3://<bucket>/runs/<run id>/differences/`) into `<runs>/<run id>/differences.jsonl`; undefined when
 * the run listed none.
 */
async function differencesReceipt(runsDir: string, summary: RunSummary, aws: Clients): Promise<string | undefined> {
  const location = differencesLocation(summary);
  if (!location?.startsWith('s3://')) return undefined;
  const store = differencesAt(location.slice(0, location.length - `${summary.runId}/differences/`.length), aws.s3);
  return writeDifferences(runsDir, summary.runId, await store.read(summary.runId));
}

/** A live partitioned run: its snapshots and its stalls are per partition (a run without partitions has one whole-index task). */
function isPartitionedRun(record: RunRecord): boolean {
  return !record.dryRun && isPartitioned(record.config as Pick<RunConfig, 'partitions'>);
}

/** A live run that ended before ReconcileRun has its tasks only in the ledger's partition items. */
async function stoppedPartitions(ledger: Ledger, record: RunRecord | undefined): Promise<PartitionItem[] | undefined> {
  return record && !record.dryRun && !record.partitions ? ledger.listPartitions(record.runId) : undefined;
}

function printOutcome(summary: RunSummary, receipts: Receipts | null, io: AwsIo, failure?: ExecutionFailure): void {
  io.out('');
  for (const line of countersTable(summary)) io.out(line);
  if (summary.partitions) for (const line of ['', ...partitionLines(summary)]) io.out(line);
  const adjustments = adjustmentLines(summary);
  if (adjustments.length > 0) for (const line of ['', ...adjustments]) io.out(line);
  if (summary.parity) for (const line of parityLines(summary.parity)) io.out(line);
  io.out('');
  io.out(
    `${summary.status}${summary.error ? `: ${summary.error}` : ''}` +
      `${summary.verifyOnly && summary.status === 'SUCCEEDED' ? ' (verified; nothing written)' : summary.dryRun && summary.status === 'SUCCEEDED' ? ' (dry run approved; nothing launched)' : ''}`,
  );
  if (summary.cause) io.out(summary.cause);
  if (failure?.state && summary.status !== 'SUCCEEDED') io.out(`failed in state ${failure.state}${failure.stateError ? ` (${failure.stateError})` : ''}`);
  if (receipts) io.out(`receipts: ${receipts.json}\n          ${receipts.markdown}\n          ${receipts.html}`);
}

// --- status -----------------------------------------------------------------------------------------

async function status(argv: readonly string[], io: AwsIo): Promise<number> {
  const { values, positionals } = parse(argv, { 'state-machine': { type: 'string' }, 'ledger-table': { type: 'string' } }, 1);
  const target = positionals[0]!;
  const table = ledgerTable(values, io);
  const aws = clients(table);
  let runId: string | undefined;
  let executionArn: string | undefined;
  if (target.startsWith('arn:')) {
    if (!isExecutionArn(target)) throw new AwsUsageError(`${target} is not an execution ARN`);
    executionArn = target;
    runId = target.split(':').pop();
  } else {
    runId = checkRunId(target);
    const machine = stateMachineArn(values, io);
    if (!table && !machine) {
      throw new AwsUsageError('to look a run up by id give --ledger-table NAME (or SAFE_REINDEX_LEDGER_TABLE) or --state-machine ARN, or pass the execution ARN');
    }
    if (machine) executionArn = executionArnFor(machine, runId);
  }

  const ledger = table ? aws.ledger() : undefined;
  const record = ledger && runId && RUN_ID_LOOSE.test(runId) ? await ledger.getRun(runId) : undefined;
  if (!target.startsWith('arn:') && isAwsExecutionArn(record?.executionArn)) executionArn = record.executionArn;
  const execution = isAwsExecutionArn(executionArn) ? await describe(aws.sfn(), executionArn) : undefined;
  if (!record && !execution) {
    throw new AwsUsageError(`no run ${target}: neither a ledger record${executionArn ? ' nor an execution' : ''} found`);
  }
  const failure =
    execution && executionEnded(execution.status) && execution.status !== 'SUCCEEDED'
      ? await executionFailure(aws.sfn(), execution.executionArn ?? executionArn!)
      : undefined;
  // An execution that did not write this record (the run id was already used elsewhere) does not own it.
  const ownRecord = record && (!execution || !record.executionArn || record.executionArn === execution.executionArn) ? record : undefined;
  const poll = ownRecord && ledger && runId ? await ledger.lastPoll(runId) : undefined;
  const tasks = ownRecord && ledger && !ownRecord.dryRun ? await ledger.listPartitions(ownRecord.runId) : [];
  const items = ownRecord && isPartitionedRun(ownRecord) ? tasks : [];
  const wholeIndexTask = tasks.length === 1 && tasks[0]!.partitionId === WHOLE_INDEX_PARTITION_ID ? tasks[0]!.taskIds.at(-1) : undefined;
  const outcome = outcomeOf(ownRecord, execution, failure);

  const row = (name: string, value: string) => io.out(`${name.padEnd(11)}${value}`);
  row('run', runId ?? '?');
  if (ownRecord) row('target', `${ownRecord.targetIndex}${ownRecord.dryRun ? ' (dry run)' : ''}`);
  row('execution', execution?.executionArn ?? ownRecord?.executionArn ?? '(none)');
  row(
    'status',
    `${outcome?.status ?? execution?.status ?? ownRecord?.status ?? '?'}` +
      [execution ? `execution ${execution.status}` : '', ownRecord ? `ledger ${ownRecord.status}` : ''].filter(Boolean).map((s) => ` · ${s}`).join(''),
  );
  if (execution?.startDate) row('started', execution.startDate.toISOString());
  else if (ownRecord?.startedAt) row('started', ownRecord.startedAt);
  if (execution?.stopDate) row('stopped', execution.stopDate.toISOString());
  else if (ownRecord?.finishedAt) row('finished', ownRecord.finishedAt);
  if (wholeIndexTask) row('task', wholeIndexTask);
  if (outcome?.error) row('error', outcome.error);
  if (outcome?.cause) row('cause', outcome.cause);
  if (failure?.state) {
    row('failed at', `${failure.state}${failure.stateError ? ` (${failure.stateError})` : ''}`);
    if (failure.stateCause && failure.stateCause !== outcome?.cause) row('', failure.stateCause);
  }
  if (record && !ownRecord) row('note', `the ledger record of ${runId} belongs to another execution (${record.executionArn ?? 'unknown'})`);
  if (items.length > 0) {
    // The run's progress now (every partition's latest counters), with each running partition's.
    row('last poll', poll ? `${poll.at}${partitionStatusLine(clock(poll.at), items)}` : '(none)');
    for (const line of ['', ...partitionLines({ partitions: partitionSummaries(items) })]) io.out(line);
  } else {
    row('last poll', poll ? `${poll.at}${pollLine(poll as PollSnapshot)}` : '(none)');
  }
  const adjustments = ownRecord ? adjustmentLines({ ...runAdjustments(ownRecord), ...(items.length > 0 ? { partitions: partitionSummaries(items) } : {}) }) : [];
  if (adjustments.length > 0) for (const line of ['', ...adjustments]) io.out(line);
  return outcome === undefined || outcome.status === 'SUCCEEDED' ? 0 : 1;
}

const RUN_ID_LOOSE = /^[A-Za-z0-9._-]{1,80}$/;

// --- report -----------------------------------------------------------------------------------------

async function report(argv: readonly string[], io: AwsIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { 'ledger-table': { type: 'string' }, runs: { type: 'string' }, 'state-machine': { type: 'string' } },
    1,
  );
  const runId = checkRunId(positionals[0]!);
  const aws = clients(ledgerTable(values, io));
  const ledger = aws.ledger();
  const record = await ledger.getRun(runId);
  if (!record) throw new AwsUsageError(`no ledger record for run ${runId}`);
  const execution = isAwsExecutionArn(record.executionArn) ? await describe(aws.sfn(), record.executionArn) : undefined;
  const failure =
    execution && executionEnded(execution.status) && execution.status !== 'SUCCEEDED'
      ? await executionFailure(aws.sfn(), record.executionArn!)
      : undefined;
  const outcome = outcomeOf(record, execution, failure);
  if (!outcome) {
    io.err(`run ${runId} has not finished (ledger ${record.status}${execution ? `, execution ${execution.status}` : ''}): receipts are written once it ends`);
    return 1;
  }
  const summary = summarise(record, { runId, ...outcome }, await stoppedPartitions(ledger, record));
  const runsDir = resolve(str(values.runs) ?? 'runs');
  const receipts = writeReceipts(runsDir, summary, await ledger.listPolls(runId));
  const differences = await differencesReceipt(runsDir, summary, aws);
  io.err(`${summary.status}${summary.error ? `: ${summary.error}` : ''}`);
  // What the run changed on its way is in the receipts; said here too, beside the status (stdout keeps the paths).
  for (const line of adjustmentLines(summary)) io.err(line);
  io.out(receipts.json);
  io.out(receipts.markdown);
  io.out(receipts.html);
  if (differences) io.out(differences);
  return 0;
}

// --- approve / reject -------------------------------------------------------------------------------

const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

async function answer(decision: ApprovalDecision, argv: readonly string[], io: AwsIo): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { 'ledger-table': { type: 'string' } };
  if (decision === 'REJECTED') options.reason = { type: 'string' };
  const { values, positionals } = parse(argv, options, 1);
  const runId = checkRunId(positionals[0]!);
  const aws = clients(ledgerTable(values, io));
  const ledger = aws.ledger();
  const pending = await getPendingApproval(ledger.client, ledger.tableName, runId);
  if (!pending) {
    io.err(`safe-reindex: no approval is pending for run ${runId} (none requested, or expired)`);
    return 1;
  }
  if (pending.decision) {
    io.err(`safe-reindex: run ${runId} was already ${pending.decision} by ${pending.decidedBy ?? '?'} at ${pending.decidedAt ?? '?'}`);
    return 1;
  }
  const decidedBy = io.user();
  const decidedAt = io.now().toISOString();
  const reason = decision === 'REJECTED' ? (str(values.reason) ?? `rejected by ${decidedBy}`) : undefined;
  const claimed = await claimApprovalDecision(ledger.client, ledger.tableName, runId, pending.taskToken, {
    decision,
    decidedBy,
    decidedAt,
    ...(reason !== undefined ? { reason } : {}),
  });
  if (!claimed) {
    io.err(`safe-reindex: run ${runId} was answered by someone else just now: see safe-reindex aws status ${runId}`);
    return 1;
  }
  try {
    if (decision === 'APPROVED') {
      const output: ApprovalOutput = { approved: true, runId, decidedBy, decidedAt };
      await aws.sfn().send(new SendTaskSuccessCommand({ taskToken: pending.taskToken, output: JSON.stringify(output) }));
    } else {
      await aws.sfn().send(
        new SendTaskFailureCommand({ taskToken: pending.taskToken, error: REJECTED_ERROR, cause: reason!.slice(0, 32_768) }),
      );
    }
  } catch (err) {
    await releaseApprovalDecision(ledger.client, ledger.tableName, runId, pending.taskToken);
    if (TOKEN_GONE.has((err as Error).name)) {
      io.err(
        `safe-reindex: the approval of run ${runId} is no longer waiting (${(err as Error).name}: the step timed out or its execution ended)` +
          `${pending.executionArn ? `; see safe-reindex aws status ${pending.executionArn}` : ''}`,
      );
      return 1;
    }
    throw err;
  }
  io.out(`${decision === 'APPROVED' ? 'approved' : 'rejected'} ${runId}${pending.liveRunId ? ` (live run ${pending.liveRunId})` : ''}${reason ? `: ${reason}` : ''}`);
  if (pending.executionArn) io.out(pending.executionArn);
  return 0;
}

// --- dispatch ---------------------------------------------------------------------------------------

export async function runAwsCommand(argv: readonly string[], overrides: Partial<AwsIo> = {}): Promise<number> {
  const io: AwsIo = { ...defaultAwsIo(), ...overrides };
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'start':
        return await start(rest, io);
      case 'status':
        return await status(rest, io);
      case 'report':
        return await report(rest, io);
      case 'approve':
        return await answer('APPROVED', rest, io);
      case 'reject':
        return await answer('REJECTED', rest, io);
      case '--help':
      case '-h':
      case 'help':
        io.out(AWS_USAGE);
        return 0;
      default:
        throw new AwsUsageError(sub ? `unknown aws command ${sub}` : 'an aws command is required');
    }
  } catch (err) {
    if (err instanceof AwsUsageError) {
      io.err(`safe-reindex: ${err.message}\n${AWS_USAGE}`);
      return 2;
    }
    const e = err as Error & { $metadata?: unknown; code?: unknown };
    // Configuration (no region, credentials, table or state machine; access denied) or connectivity
    // (AWS_ENDPOINT_URL* unreachable): the SDK's errors carry $metadata, system errors a code.
    if (MISCONFIGURATION.has(e.name) || e.$metadata !== undefined || typeof e.code === 'string' || /region is missing|could not load credentials/i.test(e.message ?? '')) {
      io.err(`safe-reindex: ${typeof e.code === 'string' ? e.code : e.name}: ${e.message}`);
      return 2;
    }
    throw err;
  }
}
