import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Client } from '@opensearch-project/opensearch';
import { Ledger, type RunRecord } from '../../lambdas/shared/ledger/ledger';
import { seedWorkedExample, WORKED_EXAMPLE_1_1000, type WorkedExampleShape } from '../seed/worked-example';
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
  /** Where run inputs and receipts go. */
  readonly workDir: string;
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

export function sessionClients(session: DeployedSession): { sfn: SFNClient; ledger: Ledger } {
  const config = {
    region: session.awsEnv.AWS_REGION!,
    endpoint: session.awsEnv.AWS_ENDPOINT_URL!,
    credentials: { accessKeyId: session.awsEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: session.awsEnv.AWS_SECRET_ACCESS_KEY! },
  };
  const sfn = new SFNClient(config);
  const ledger = new Ledger({ client: DynamoDBDocumentClient.from(new DynamoDBClient(config)), tableName: session.deployment.ledgerTable });
  return { sfn, ledger };
}

export interface StopOutcome {
  readonly runId: string;
  readonly executionArn: string;
  readonly taskId: string;
  /** The execution's status after StopExecution. */
  readonly executionStatus: string;
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
  const executionStatus = (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status ?? 'UNKNOWN';

  let lockHeld = true;
  for (let i = 0; i < 240 && lockHeld; i++) {
    lockHeld = (await ledger.getLock(index))?.runId === runId;
    if (lockHeld) await sleep(500);
  }
  const cleanupSeconds = (Date.now() - stoppedAt) / 1000;
  const record = (await ledger.getRun(runId))!;
  const target = new Client({ node: session.targetHostUrl });
  const { body } = await target.tasks.list({ actions: '*reindex', detailed: true });
  const running = Object.values((body as { nodes?: Record<string, { tasks: Record<string, unknown> }> }).nodes ?? {}).flatMap((n) => Object.keys(n.tasks));
  return { runId, executionArn, taskId, executionStatus, record, taskStillRunning: running.includes(taskId), lockHeld, cleanupSeconds };
}
