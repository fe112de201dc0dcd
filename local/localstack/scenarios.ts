import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Client } from '@opensearch-project/opensearch';
import { Ledger, type RunRecord } from '../../lambdas/shared/ledger/ledger';
import { serverErrors, startFaultProxy, type FaultProxy } from '../fault-proxy/fault-proxy';
import { countersAsSeeded, expectedCounters, seedWorkedExample, WORKED_EXAMPLE_1_1000, type ExpectedCounters, type WorkedExampleShape } from '../seed/worked-example';
import type { LocalStackDeployment } from './deploy';
import { PROJECT_ROOT } from './environment';

/**
 * What `npm run localstack` and `npm run test:localstack` do against the deployed stack: the worked
 * example through `safe-reindex aws start --wait`, and a console-style stop of a live run. Runs reach
 * the deployed ReindexRun through the SDK's standard endpoint variables only.
 */

export interface DeployedSession {
  readonly deployment: LocalStackDeployment;
  /** SDK environment (AWS_ENDPOINT_URL, region, credentials). */
  readonly awsEnv: Readonly<Record<string, string>>;
  /** Source and target as the host reaches them (seeding, checks). */
  readonly sourceHostUrl: string;
  readonly targetHostUrl: string;
  /** Source as the functions and the target's remote reindex reach it (the run input's source.url). */
  readonly sourceUrl: string;
  /** Where run inputs go. */
  readonly workDir: string;
  /** Where `--wait` writes receipts; @default <workDir>/runs */
  readonly runsDir?: string;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `safe-reindex aws <args>` as an operator runs it, with the session's SDK environment. */
export function runAwsCli(session: DeployedSession, args: readonly string[], echo?: (chunk: string) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'local', 'cli', 'safe-reindex.mjs'), 'aws', ...args], {
      cwd: session.workDir,
      env: {
        ...process.env,
        ...session.awsEnv,
        SAFE_REINDEX_STATE_MACHINE_ARN: session.deployment.reindexRunArn,
        SAFE_REINDEX_LEDGER_TABLE: session.deployment.ledgerTable,
        NODE_NO_WARNINGS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      echo?.(c.toString('utf8'));
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export function writeInput(session: DeployedSession, input: Record<string, unknown>): string {
  const dir = join(session.workDir, 'inputs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${String(input.runId)}.json`);
  writeFileSync(file, `${JSON.stringify(input, null, 2)}\n`);
  return file;
}

export async function seedIndex(session: DeployedSession, index: string, shape: WorkedExampleShape = WORKED_EXAMPLE_1_1000): Promise<void> {
  await seedWorkedExample({ source: new Client({ node: session.sourceHostUrl }), target: new Client({ node: session.targetHostUrl }), index, shape });
}

function sdkConfig(awsEnv: Readonly<Record<string, string>>) {
  return {
    region: awsEnv.AWS_REGION!,
    endpoint: awsEnv.AWS_ENDPOINT_URL!,
    credentials: { accessKeyId: awsEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: awsEnv.AWS_SECRET_ACCESS_KEY! },
  };
}

export function sessionClients(session: DeployedSession): { sfn: SFNClient; ledger: Ledger } {
  const config = sdkConfig(session.awsEnv);
  const sfn = new SFNClient(config);
  const ledger = new Ledger({ client: DynamoDBDocumentClient.from(new DynamoDBClient(config)), tableName: session.deployment.ledgerTable });
  return { sfn, ledger };
}

export interface StopOutcome {
  readonly runId: string;
  readonly executionArn: string;
  readonly taskId: string;
  /** The execution's status once it has ended after StopExecution, and its error if it FAILED. */
  readonly executionStatus: string;
  readonly executionError?: string;
  readonly executionCause?: string;
  /** The run record once the cleanup rule's function has run. */
  readonly record: RunRecord;
  /** Whether the target still lists the task as running, and whether its lock is held, after the cleanup. */
  readonly taskStillRunning: boolean;
  readonly lockHeld: boolean;
  /** Seconds from StopExecution to the lock's release. */
  readonly cleanupSeconds: number;
}

/**
 * A live run stopped from outside, as the console's "Stop execution" does: throttled so that its task is
 * still running, stopped once the ledger names the task; then the EventBridge rule on the execution's
 * status change runs the cleanup function, which cancels the task and releases the lock.
 */
export async function stopLiveRun(session: DeployedSession, index: string, log: (line: string) => void = () => undefined): Promise<StopOutcome> {
  const { sfn, ledger } = sessionClients(session);
  await seedIndex(session, index, { missing: 20_000, targetOlder: 0, equal: 0, targetNewer: 0 });
  const base = { source: { url: session.sourceUrl, index }, target: { index }, mode: 'merge', dateField: 'timestamp', batchSize: 100, requestsPerSecond: 50 };
  const dry = await runAwsCli(session, ['start', '--input', writeInput(session, { ...base, runId: `${index}-dry`, dryRun: true }), '--wait']);
  if (dry.code !== 0) throw new Error(`the dry run of ${index} failed:\n${dry.stdout}\n${dry.stderr}`);

  const runId = `${index}-live`;
  const started = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: session.deployment.reindexRunArn, name: runId, input: JSON.stringify({ ...base, runId, dryRun: false }) }),
  );
  const executionArn = started.executionArn!;
  log(`started ${runId}; waiting for its reindex task`);
  let taskId: string | undefined;
  for (let i = 0; i < 240 && !taskId; i++) {
    taskId = (await ledger.listPartitions(runId)).find((p) => p.taskId)?.taskId;
    if (!taskId) await sleep(500);
  }
  if (!taskId) throw new Error(`${runId}: no reindex task recorded within 2 minutes`);
  log(`task ${taskId} running; StopExecution (what the console's "Stop execution" calls)`);
  const stoppedAt = Date.now();
  await sfn.send(new StopExecutionCommand({ executionArn, error: 'OperatorStop', cause: 'stopped from the console' }));

  let lockHeld = true;
  for (let i = 0; i < 240 && lockHeld; i++) {
    lockHeld = (await ledger.getLock(index))?.runId === runId;
    if (lockHeld) await sleep(500);
  }
  const cleanupSeconds = (Date.now() - stoppedAt) / 1000;
  const execution = await settledExecution(sfn, executionArn);
  const record = (await ledger.getRun(runId))!;
  const target = new Client({ node: session.targetHostUrl });
  const { body } = await target.tasks.list({ actions: '*reindex', detailed: true });
  const running = Object.values((body as { nodes?: Record<string, { tasks: Record<string, unknown> }> }).nodes ?? {}).flatMap((n) => Object.keys(n.tasks));
  return { runId, executionArn, taskId, executionStatus: execution.status ?? 'UNKNOWN', executionError: execution.error, executionCause: execution.cause, record, taskStillRunning: running.includes(taskId), lockHeld, cleanupSeconds };
}

/** DescribeExecution until the execution has ended (LocalStack still says RUNNING right after StopExecution). */
export async function settledExecution(sfn: SFNClient, executionArn: string, timeoutMs = 60_000): Promise<DescribeExecutionCommandOutput> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING' || Date.now() > deadline) return execution;
    await sleep(500);
  }
}

export interface WorkedExampleOutcome {
  readonly dry: CliResult;
  readonly live: CliResult;
  readonly liveRunId: string;
  readonly record?: RunRecord;
  readonly expected: ExpectedCounters;
  /** The ledger's counters are what the seed implies. */
  readonly asSeeded: boolean;
}

/**
 * The worked example (1/1000 scale) through the deployed ReindexRun: seeded, then a dry run and a live
 * run, each started with `safe-reindex aws start --wait` as an operator would.
 */
export async function runWorkedExample(session: DeployedSession, index: string, echo?: (chunk: string) => void, stamp = ''): Promise<WorkedExampleOutcome> {
  await seedIndex(session, index);
  const base = { source: { url: session.sourceUrl, index }, target: { index }, mode: 'merge', dateField: 'timestamp', batchSize: 1000 };
  const suffix = stamp ? `-${stamp}` : '';
  echo?.(`\n== dry run (deployed ReindexRun) ==\n`);
  const runs = ['--runs', session.runsDir ?? join(session.workDir, 'runs')];
  const dry = await runAwsCli(session, ['start', '--input', writeInput(session, { ...base, runId: `${index}-dry${suffix}`, dryRun: true }), '--wait', ...runs], echo);
  const liveRunId = `${index}-live${suffix}`;
  const expected = expectedCounters(WORKED_EXAMPLE_1_1000);
  if (dry.code !== 0) return { dry, live: { code: 1, stdout: '', stderr: 'not started: the dry run failed' }, liveRunId, expected, asSeeded: false };
  echo?.(`\n== live run (deployed ReindexRun) ==\n`);
  const live = await runAwsCli(session, ['start', '--input', writeInput(session, { ...base, runId: liveRunId, dryRun: false }), '--wait', ...runs], echo);
  const record = await sessionClients(session).ledger.getRun(liveRunId);
  const asSeeded = countersAsSeeded(record?.counters, expected);
  return { dry, live, liveRunId, ...(record ? { record } : {}), expected, asSeeded };
}

/** A secret as a team stores source credentials: a JSON object with username and password. */
export async function createSourceSecret(awsEnv: Readonly<Record<string, string>>, name: string, credentials: { username: string; password: string }): Promise<string> {
  const client = new SecretsManagerClient(sdkConfig(awsEnv));
  const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(credentials) }));
  return created.ARN!;
}

/**
 * The source behind basic authentication, as a secured cluster is: a proxy on the host address that
 * answers 401 (security_exception) to any request without these credentials and forwards the rest.
 */
export async function startCredentialGate(sourceHostUrl: string, hostAddress: string, credentials: { username: string; password: string }): Promise<FaultProxy> {
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const gate = await startFaultProxy({ target: sourceHostUrl, host: hostAddress });
  gate.inject({ path: /.*/, headers: (h) => h.authorization !== expected, action: serverErrors.unauthorized() });
  return gate;
}
