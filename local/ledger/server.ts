import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecutionRegistry, LocalApiError, type LocalExecution } from './executions';

/**
 * One HTTP endpoint for the local ledger, dispatched on `X-Amz-Target`:
 * - `DynamoDB_20120810.*`: dynalite (DynamoDB's API);
 * - `AWSStepFunctions.DescribeExecution`: the local runner's executions, as Step Functions reports them
 *   (the functions' `isHolderFinished` asks it whether a lock or slot holder still runs);
 * - `SafeReindexLocal.RegisterExecution` / `EndExecution`: the local runner records its executions;
 *   `SafeReindexLocal.Ping`: who answers (pid, folder), for `connectLocalLedger`.
 */

type DynaliteFactory = (options: Record<string, unknown>) => Server;
interface LevelDb {
  open(): Promise<void>;
}
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as DynaliteFactory;
const dynaliteDb = require('dynalite/db') as { create: (options: Record<string, unknown>) => { db: LevelDb } };

export const EXECUTIONS_FILE = 'executions.json';

/** Another process holds the folder's LevelDB lock. */
export class LedgerFolderInUseError extends Error {
  override readonly name = 'LedgerFolderInUseError';
}

export interface LedgerServerOptions {
  /** Folder of the LevelDB store (and of the executions file); @default in memory */
  readonly dir?: string;
  /** Port on 127.0.0.1; @default a free one */
  readonly port?: number;
  /** How long to wait for another process to let go of the folder's LevelDB lock; @default 5 s */
  readonly lockWaitMs?: number;
}

export interface LedgerServer {
  readonly endpoint: string;
  readonly server: Server;
  readonly executions: ExecutionRegistry;
  /** Epoch milliseconds of the last request's start or end. */
  lastActivity(): number;
  close(): Promise<void>;
}

export async function createLedgerServer(options: LedgerServerOptions = {}): Promise<LedgerServer> {
  const dir = options.dir ? resolve(options.dir) : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const { server, db } = createDynalite({
    path: dir,
    // Tables become ACTIVE at once: the ledger creates its table on first use.
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  const close = () =>
    new Promise<void>((res, rej) => {
      server.closeAllConnections?.();
      server.close((err) => (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING' ? rej(err) : res()));
    });
  try {
    await openStore(db, dir, options.lockWaitMs ?? 5_000);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }

  const executions = new ExecutionRegistry(dir ? join(dir, EXECUTIONS_FILE) : undefined);
  let lastActivity = Date.now();
  const dynamo = server.listeners('request')[0] as RequestListener;
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    lastActivity = Date.now();
    res.on('finish', () => (lastActivity = Date.now()));
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('AWSStepFunctions.') || target.startsWith('SafeReindexLocal.')) {
      void answerJson(req, res, target, executions, dir);
      return;
    }
    dynamo(req, res);
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', rej);
      res();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { endpoint: `http://127.0.0.1:${port}`, server, executions, lastActivity: () => lastActivity, close };
}

/**
 * dynalite's server and its LevelDB handle. dynalite opens the store lazily and a store it cannot open
 * (another process holds the folder) throws inside its request handler and ends the process; the
 * handle lets the store be opened here first, with an error that says why.
 */
function createDynalite(options: Record<string, unknown>): { server: Server; db: LevelDb } {
  const create = dynaliteDb.create;
  let store: { db: LevelDb } | undefined;
  dynaliteDb.create = (storeOptions) => (store = create(storeOptions));
  try {
    const server = dynalite(options);
    if (!store) throw new Error('dynalite did not create its store through dynalite/db');
    return { server, db: store.db };
  } finally {
    dynaliteDb.create = create;
  }
}

async function openStore(db: LevelDb, dir: string | undefined, lockWaitMs: number): Promise<void> {
  const deadline = Date.now() + lockWaitMs;
  for (;;) {
    try {
      await db.open();
      return;
    } catch (err) {
      const e = err as { code?: string; cause?: { code?: string; message?: string }; message: string };
      const locked = e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED';
      if (locked && Date.now() < deadline) {
        await sleep(100);
        continue;
      }
      if (locked) {
        throw new LedgerFolderInUseError(
          `the ledger folder ${dir} is in use by another process (its LevelDB lock is held): a ledger daemon ` +
            `(see ${dir}/daemon.json) or another in-process ledger; connect to it instead (connectLocalLedger)`,
          { cause: err },
        );
      }
      throw new Error(`cannot open the ledger folder ${dir}: ${e.cause?.message ?? e.message}`, { cause: err });
    }
  }
}

async function answerJson(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  executions: ExecutionRegistry,
  dir: string | undefined,
): Promise<void> {
  const send = (status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/x-amz-json-1.0',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(text);
  };
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (req.method !== 'POST') throw new LocalApiError('UnknownOperationException', `${req.method} is not supported; POST / with X-Amz-Target`);
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new LocalApiError('SerializationException', 'the request body is not JSON');
    }
    if (typeof body !== 'object' || body === null) throw new LocalApiError('SerializationException', 'the request body is not a JSON object');
    send(200, operate(target, body, executions, dir));
  } catch (err) {
    if (err instanceof LocalApiError) send(400, { __type: err.type, message: err.message });
    else send(500, { __type: 'InternalFailure', message: (err as Error).message });
  }
}

function operate(target: string, body: Record<string, unknown>, executions: ExecutionRegistry, dir: string | undefined): unknown {
  switch (target) {
    case 'AWSStepFunctions.DescribeExecution': {
      if (typeof body.executionArn !== 'string') throw new LocalApiError('ValidationException', 'executionArn is required');
      const e = executions.describe(body.executionArn);
      return {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate / 1000,
        ...(e.stopDate === undefined ? {} : { stopDate: e.stopDate / 1000 }),
      };
    }
    case 'SafeReindexLocal.RegisterExecution':
      executions.register(body as unknown as LocalExecution);
      return {};
    case 'SafeReindexLocal.EndExecution':
      if (typeof body.executionArn !== 'string') throw new LocalApiError('ValidationException', 'executionArn is required');
      executions.end(body.executionArn, String(body.status));
      return {};
    case 'SafeReindexLocal.Ping':
      return { pid: process.pid, dir: dir ?? null };
    default:
      throw new LocalApiError('UnknownOperationException', `${target} is not an operation of this local endpoint`);
  }
}
