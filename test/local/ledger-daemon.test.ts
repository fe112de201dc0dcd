import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Ledger, type LockHolder } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import {
  connectLocalLedger,
  endLocalExecution,
  registerLocalExecution,
  startLocalLedger,
  stopLocalLedgerDaemon,
} from '../../local/ledger/ledger';
import { isProcessAlive } from '../../local/ledger/processes';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const TABLE = 'ledger-daemon-test';
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:ReindexRun';

// --- helpers ------------------------------------------------------------------------------------------

const folders: string[] = [];

/** A new, empty ledger folder; every daemon serving it is stopped after the test. */
function ledgerFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'safe-reindex-ledger-'));
  folders.push(folder);
  return folder;
}

/** Pids of the ledger daemon processes serving `folder` (from `ps`, so a second daemon could not hide). */
function daemonsOf(folder: string): number[] {
  const ps = spawnSync('ps', ['-ww', '-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes('local/ledger/daemon.ts') && line.trimEnd().endsWith(`--dir ${folder}`))
    .map((line) => Number(line.trim().split(/\s+/, 1)[0]));
}

/** A process that exited but is not reaped yet (a zombie) is not alive. */
const alive = (pid: number) => isProcessAlive(pid);

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A pid that no process has any more (the child has exited and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

/**
 * Runs ES module code in a new Node process (tsx's loader, the repository as working directory, so
 * repository files and packages import as here); stdout lines it prints come back. `stdin` kept open
 * until `release()` lets the code wait for the test.
 */
function nodeProcess(code: string): { lines: string[]; done: Promise<number | null>; pid: number; release: () => void; line: (match: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (exit) => resolve(exit)));
  return {
    lines,
    done: done.then((exit) => {
      if (exit !== 0) throw new Error(`child exited ${exit}: ${stderr}`);
      return exit;
    }),
    pid: child.pid!,
    release: () => child.stdin.end(),
    line: async (match) => {
      await until(`a line ${match} from the child`, () => lines.some((l) => match.test(l)) || child.exitCode !== null, 60_000);
      const found = lines.find((l) => match.test(l));
      if (!found) throw new Error(`child exited ${child.exitCode} without printing ${match}: ${stderr}`);
      return found;
    },
  };
}

const ledgerModule = join(root, 'local/ledger/ledger.ts');

/** Child code: connects to the folder's daemon and prints `{endpoint, pid}` as JSON. */
function connectCode(folder: string, idleMs?: number): string {
  return `import { connectLocalLedger } from ${JSON.stringify(ledgerModule)};
const ledger = await connectLocalLedger(${JSON.stringify(folder)}${idleMs ? `, { idleMs: ${idleMs} }` : ''});
console.log(JSON.stringify({ endpoint: ledger.endpoint, pid: ledger.pid }));
await ledger.stop();`;
}

function documents(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }));
}

async function ledgerAt(endpoint: string): Promise<Ledger> {
  const client = documents(endpoint);
  await createLedgerTable(client, TABLE);
  return new Ledger({ client, tableName: TABLE });
}

function sfn(endpoint: string): SFNClient {
  return new SFNClient({ endpoint, region: 'us-east-1', credentials });
}

let executions = 0;
function executionArn(): string {
  executions += 1;
  return `arn:aws:states:us-east-1:000000000000:execution:ReindexRun:run-${process.pid}-${executions}`;
}

afterEach(async () => {
  for (const folder of folders.splice(0)) {
    await stopLocalLedgerDaemon(folder).catch(() => undefined);
    for (const pid of daemonsOf(folder)) process.kill(pid, 'SIGTERM');
    await until(`the daemons of ${folder} to exit`, () => daemonsOf(folder).length === 0);
    rmSync(folder, { recursive: true, force: true });
  }
});

afterAll(() => {
  expect(spawnSync('ps', ['-ww', '-eo', 'args='], { encoding: 'utf8' }).stdout).not.toMatch(/daemon\.ts --dir .*safe-reindex-ledger-/);
});

// --- the daemon ---------------------------------------------------------------------------------------

describe('connectLocalLedger: one ledger daemon per folder, shared by every process on it', () => {
  it('two processes connecting to one folder share one daemon, which outlives them, and see each other\'s writes', async () => {
    const folder = ledgerFolder();
    const writer = nodeProcess(`import { connectLocalLedger } from ${JSON.stringify(ledgerModule)};
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createLedgerTable } from ${JSON.stringify(join(root, 'local/ledger/table.ts'))};
const ledger = await connectLocalLedger(${JSON.stringify(folder)});
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ledger.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'a' } }));
await createLedgerTable(client, ${JSON.stringify(TABLE)});
await client.send(new PutCommand({ TableName: ${JSON.stringify(TABLE)}, Item: { pk: 'RUN#from-another-process', sk: 'RUN', by: process.pid } }));
console.log(JSON.stringify({ endpoint: ledger.endpoint, pid: ledger.pid }));
await ledger.stop();`);
    await writer.done;
    const first = JSON.parse(writer.lines[0]!) as { endpoint: string; pid: number };

    const here = await connectLocalLedger(folder);
    const { Item } = await documents(here.endpoint).send(new GetCommand({ TableName: TABLE, Key: { pk: 'RUN#from-another-process', sk: 'RUN' }, ConsistentRead: true }));
    await documents(here.endpoint).send(new PutCommand({ TableName: TABLE, Item: { pk: 'RUN#from-this-process', sk: 'RUN' } }));
    const reader = nodeProcess(`import { connectLocalLedger } from ${JSON.stringify(ledgerModule)};
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
const ledger = await connectLocalLedger(${JSON.stringify(folder)});
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ledger.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'b', secretAccessKey: 'b' } }));
const { Item } = await client.send(new GetCommand({ TableName: ${JSON.stringify(TABLE)}, Key: { pk: 'RUN#from-this-process', sk: 'RUN' }, ConsistentRead: true }));
console.log(JSON.stringify(Item ?? null));`);
    await reader.done;
    await here.stop();

    expect(here).toMatchObject(first);
    expect(Item).toMatchObject({ by: writer.pid });
    expect(JSON.parse(reader.lines[0]!)).toMatchObject({ pk: 'RUN#from-this-process' });
    expect(alive(first.pid)).toBe(true);
    expect(daemonsOf(folder)).toEqual([first.pid]);
    expect(JSON.parse(readFileSync(join(folder, 'daemon.json'), 'utf8'))).toMatchObject({ pid: first.pid, endpoint: first.endpoint, dir: folder });
  });

  it('four processes connecting at once to a folder without a daemon start exactly one', async () => {
    const folder = ledgerFolder();

    const children = Array.from({ length: 4 }, () => nodeProcess(connectCode(folder)));
    await Promise.all(children.map((c) => c.done));

    const answers = children.map((c) => JSON.parse(c.lines[0]!) as { endpoint: string; pid: number });
    expect(new Set(answers.map((a) => a.endpoint)).size).toBe(1);
    expect(new Set(answers.map((a) => a.pid)).size).toBe(1);
    expect(daemonsOf(folder)).toEqual([answers[0]!.pid]);
    expect(existsSync(join(folder, 'daemon.lock'))).toBe(false);
  });

  it('replaces a daemon.json left by a daemon that died with a new daemon', async () => {
    const folder = ledgerFolder();
    const stale = { pid: deadPid(), endpoint: 'http://127.0.0.1:9', dir: folder, startedAt: '2026-01-01T00:00:00.000Z' };
    writeFileSync(join(folder, 'daemon.json'), JSON.stringify(stale));

    const ledger = await connectLocalLedger(folder);

    expect(ledger.pid).not.toBe(stale.pid);
    expect(ledger.endpoint).not.toBe(stale.endpoint);
    expect(JSON.parse(readFileSync(join(folder, 'daemon.json'), 'utf8'))).toMatchObject({ pid: ledger.pid, endpoint: ledger.endpoint });
    expect(daemonsOf(folder)).toEqual([ledger.pid]);
  });

  it('exits by itself after its idle period without requests, removing its daemon.json; the next connect starts one on the same data', async () => {
    const folder = ledgerFolder();
    const first = await connectLocalLedger(folder, { idleMs: 1_000 });
    await ledgerAt(first.endpoint).then((l) => l.client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'RUN#kept', sk: 'RUN' } })));

    await until('the idle daemon to exit', () => !alive(first.pid));

    expect(existsSync(join(folder, 'daemon.json'))).toBe(false);
    expect(readFileSync(join(folder, 'daemon.log'), 'utf8')).toContain(`ledger daemon ${first.pid}: stopping (idle for 1000 ms)`);
    const second = await connectLocalLedger(folder);
    expect(second.pid).not.toBe(first.pid);
    const { Item } = await documents(second.endpoint).send(new GetCommand({ TableName: TABLE, Key: { pk: 'RUN#kept', sk: 'RUN' }, ConsistentRead: true }));
    expect(Item).toMatchObject({ pk: 'RUN#kept' });
  });

  it('stays past its idle period while an execution runs in a live process, and exits once that process is gone', async () => {
    const folder = ledgerFolder();
    const ledger = await connectLocalLedger(folder, { idleMs: 500 });
    const runner = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((resolve) => runner.once('exit', resolve));
    await registerLocalExecution(ledger.endpoint, { executionArn: executionArn(), stateMachineArn: STATE_MACHINE, name: 'long-run', pid: runner.pid! });

    await sleep(2_000);
    const aliveWhileRunning = alive(ledger.pid);
    runner.stdin!.end();
    await exited;
    await until('the daemon to exit once the run\'s process is gone', () => !alive(ledger.pid));

    expect(aliveWhileRunning).toBe(true);
  });

  it('stops cleanly on SIGTERM: daemon.json removed, the store closed and reopened by the next daemon', async () => {
    const folder = ledgerFolder();
    const first = await connectLocalLedger(folder);
    await ledgerAt(first.endpoint).then((l) => l.client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'RUN#before-sigterm', sk: 'RUN' } })));

    const stopped = await stopLocalLedgerDaemon(folder);

    expect(stopped).toBe(true);
    expect(alive(first.pid)).toBe(false);
    expect(existsSync(join(folder, 'daemon.json'))).toBe(false);
    expect(readFileSync(join(folder, 'daemon.log'), 'utf8')).toContain(`ledger daemon ${first.pid}: stopped`);
    const second = await connectLocalLedger(folder);
    const { Item } = await documents(second.endpoint).send(new GetCommand({ TableName: TABLE, Key: { pk: 'RUN#before-sigterm', sk: 'RUN' }, ConsistentRead: true }));
    expect(Item).toMatchObject({ pk: 'RUN#before-sigterm' });
  });

  it('an in-process ledger refuses a folder a daemon serves, saying why, instead of crashing on its first request', async () => {
    const folder = ledgerFolder();
    await connectLocalLedger(folder);

    await expect(startLocalLedger({ dir: folder })).rejects.toThrow(/ledger folder .* is in use by another process .*connectLocalLedger/);
  });

  it('the lock works across processes: refused while the holder\'s execution runs, taken over once its process is gone', async () => {
    const folder = ledgerFolder();
    const holderArn = executionArn();
    const holder = nodeProcess(`import { connectLocalLedger, registerLocalExecution } from ${JSON.stringify(ledgerModule)};
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Ledger } from ${JSON.stringify(join(root, 'lambdas/shared/ledger/ledger.ts'))};
import { createLedgerTable } from ${JSON.stringify(join(root, 'local/ledger/table.ts'))};
const ledger = await connectLocalLedger(${JSON.stringify(folder)});
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ledger.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'a' } }));
await createLedgerTable(client, ${JSON.stringify(TABLE)});
await registerLocalExecution(ledger.endpoint, { executionArn: ${JSON.stringify(holderArn)}, stateMachineArn: ${JSON.stringify(STATE_MACHINE)}, name: 'holder', pid: process.pid });
const result = await new Ledger({ client, tableName: ${JSON.stringify(TABLE)} }).acquireLock({ targetIndex: 'calls', runId: 'holder', executionArn: ${JSON.stringify(holderArn)}, now: new Date(), isHolderFinished: async () => false });
console.log(JSON.stringify(result));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0)); // gone without ending its execution, as a killed CLI`);
    expect(JSON.parse(await holder.line(/acquired/))).toEqual({ acquired: true });
    const connection = await connectLocalLedger(folder);
    const ledger = await ledgerAt(connection.endpoint);
    // What the deployed functions' isHolderFinished does (lambdas/shared/runtime/lambda-runtime.ts).
    const isHolderFinished = async (h: LockHolder) =>
      (await ledger.isRunFinished(h.runId)) || (await sfn(connection.endpoint).send(new DescribeExecutionCommand({ executionArn: h.executionArn! }))).status !== 'RUNNING';
    const request = { targetIndex: 'calls', runId: 'second', executionArn: executionArn(), isHolderFinished };

    const whileRunning = await ledger.acquireLock({ ...request, now: new Date() });
    holder.release();
    await holder.done;
    const afterwards = await ledger.acquireLock({ ...request, now: new Date() });

    expect(whileRunning).toMatchObject({ acquired: false, holder: { runId: 'holder', executionArn: holderArn } });
    expect(afterwards).toMatchObject({ acquired: true, takeover: { previousRunId: 'holder', previousExecutionArn: holderArn } });
  });
});

// --- DescribeExecution, in process and through the daemon --------------------------------------------

describe.each([
  ['startLocalLedger (in process)', async () => startLocalLedger()],
  ['connectLocalLedger (the daemon)', async () => connectLocalLedger(ledgerFolder())],
])('DescribeExecution through the AWS SDK\'s SFNClient on the endpoint of %s', (_name, open) => {
  it('reports a registered execution RUNNING with its ARNs, name and start date', async () => {
    const ledger = await open();
    const arn = executionArn();
    const before = Date.now();
    await registerLocalExecution(ledger.endpoint, { executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'calls-2026-05-live', pid: process.pid });

    const execution = await sfn(ledger.endpoint).send(new DescribeExecutionCommand({ executionArn: arn }));
    await ledger.stop();

    expect(execution).toMatchObject({ executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'calls-2026-05-live', status: 'RUNNING' });
    expect(execution.startDate).toBeInstanceOf(Date);
    expect(execution.startDate!.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(execution.startDate!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(execution.stopDate).toBeUndefined();
  });

  it.each(['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'] as const)('reports an execution ended %s with that status and a stop date; a later end does not change it', async (status) => {
    const ledger = await open();
    const arn = executionArn();
    await registerLocalExecution(ledger.endpoint, { executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'run', pid: process.pid });
    await endLocalExecution(ledger.endpoint, arn, status);
    await endLocalExecution(ledger.endpoint, arn, status === 'SUCCEEDED' ? 'FAILED' : 'SUCCEEDED');

    const execution = await sfn(ledger.endpoint).send(new DescribeExecutionCommand({ executionArn: arn }));
    await ledger.stop();

    expect(execution.status).toBe(status);
    expect(execution.stopDate!.getTime()).toBeGreaterThanOrEqual(execution.startDate!.getTime());
  });

  it('reports ABORTED for an execution registered RUNNING whose process is gone', async () => {
    const ledger = await open();
    const arn = executionArn();
    await registerLocalExecution(ledger.endpoint, { executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'crashed', pid: deadPid() });

    const execution = await sfn(ledger.endpoint).send(new DescribeExecutionCommand({ executionArn: arn }));
    await ledger.stop();

    expect(execution).toMatchObject({ executionArn: arn, status: 'ABORTED' });
  });

  it('answers an unknown ARN with HTTP 400 ExecutionDoesNotExist, which the SDK throws as its ExecutionDoesNotExist', async () => {
    const ledger = await open();
    const arn = executionArn();

    const error = await sfn(ledger.endpoint)
      .send(new DescribeExecutionCommand({ executionArn: arn }))
      .catch((err: unknown) => err);
    const raw = await fetch(ledger.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AWSStepFunctions.DescribeExecution' },
      body: JSON.stringify({ executionArn: arn }),
    });
    const body = await raw.json();
    await ledger.stop();

    expect(error).toBeInstanceOf(ExecutionDoesNotExist);
    expect(error).toMatchObject({ name: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${arn}'`, $metadata: { httpStatusCode: 400 } });
    expect(raw.status).toBe(400);
    expect(body).toEqual({ __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${arn}'` });
  });

  it('refuses to register an execution that is already RUNNING, and to end one it does not know', async () => {
    const ledger = await open();
    const arn = executionArn();
    await registerLocalExecution(ledger.endpoint, { executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'once', pid: process.pid });

    const again = registerLocalExecution(ledger.endpoint, { executionArn: arn, stateMachineArn: STATE_MACHINE, name: 'once', pid: process.pid });
    const unknown = endLocalExecution(ledger.endpoint, executionArn(), 'SUCCEEDED');

    await expect(again).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expect(unknown).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
    await ledger.stop();
  });

  it('still serves DynamoDB\'s API on the same endpoint', async () => {
    const ledger = await open();

    const l = await ledgerAt(ledger.endpoint);
    await l.client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'RUN#same-endpoint', sk: 'RUN' } }));
    const { Item } = await l.client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'RUN#same-endpoint', sk: 'RUN' }, ConsistentRead: true }));
    await ledger.stop();

    expect(Item).toEqual({ pk: 'RUN#same-endpoint', sk: 'RUN' });
  });
});
