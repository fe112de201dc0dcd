import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isProcessAlive, processStartTime } from './processes';

/**
 * A ledger folder shared by several processes. LevelDB lets one process open a folder, so one process,
 * the ledger daemon (`daemon.ts`), serves it; every `safe-reindex local` on that folder connects to it.
 * In the folder beside LevelDB's files:
 * - `daemon.json`: the live daemon's `{pid, endpoint, dir, startedAt, processStart}`, written (atomically)
 *   by the daemon once it serves, removed when it exits;
 * - `daemon.lock`: held (exclusive create) by the one process starting a daemon; the others wait for
 *   `daemon.json`;
 * - `daemon.log`: the daemons' output.
 */

export const DAEMON_FILE = 'daemon.json';
export const DAEMON_LOCK = 'daemon.lock';
export const DAEMON_LOG = 'daemon.log';
/** The daemon's exit code when another process holds the folder (a daemon that won a race). */
export const EXIT_FOLDER_IN_USE = 3;
export const IDLE_ENV = 'SAFE_REINDEX_LEDGER_IDLE_MS';
export const DEFAULT_IDLE_MS = 10 * 60_000;

const here = dirname(fileURLToPath(import.meta.url));
const DAEMON_SCRIPT = join(here, 'daemon.ts');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface DaemonInfo {
  readonly pid: number;
  readonly endpoint: string;
  readonly dir: string;
  readonly startedAt: string;
  /** `processStartTime(pid)`: a reused pid is not taken for the daemon. */
  readonly processStart?: number;
}

export interface LocalLedgerConnection {
  /** The daemon's endpoint: DynamoDB's API and DescribeExecution, as `startLocalLedger`'s. */
  readonly endpoint: string;
  /** The daemon's process id. */
  readonly pid: number;
  /** Disconnects; the daemon stays for the next run (it exits by itself once idle). */
  stop(): Promise<void>;
}

export interface ConnectLocalLedgerOptions {
  /** A daemon started by this call exits after this long without requests; @default SAFE_REINDEX_LEDGER_IDLE_MS, else 10 minutes */
  readonly idleMs?: number;
  /** How long to wait for a daemon to answer; @default 60 s */
  readonly timeoutMs?: number;
}

/**
 * The ledger daemon serving `dir`: the live one (its pid alive and its endpoint answering as the daemon
 * of `dir`), else a new one started detached (it outlives this process). Safe when several processes
 * connect at once: one starts the daemon, the others wait for it; a `daemon.json` of a dead daemon is
 * replaced.
 */
export async function connectLocalLedger(dir: string, options: ConnectLocalLedgerOptions = {}): Promise<LocalLedgerConnection> {
  const folder = resolve(dir);
  mkdirSync(folder, { recursive: true });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last: DaemonState = { kind: 'none' };
  while (Date.now() < deadline) {
    last = await daemonState(folder);
    if (last.kind === 'live') return connection(last.info);
    if (last.kind === 'unanswering') {
      // Alive but not (yet) answering: starting, or busy. Another daemon could not open the folder anyway.
      await sleep(100);
      continue;
    }
    const release = tryLock(folder, timeoutMs);
    if (!release) {
      await sleep(50 + Math.random() * 50);
      continue;
    }
    try {
      // Checked again under the lock: a daemon may have come up since.
      last = await daemonState(folder);
      if (last.kind === 'live') return connection(last.info);
      if (last.kind === 'unanswering') continue;
      if (last.kind === 'dead') removeIfUnchanged(join(folder, DAEMON_FILE), last.text);
      const started = await startDaemon(folder, options, deadline);
      if (started) return connection(started);
    } finally {
      release();
    }
  }
  const described = last.kind === 'unanswering' ? `: pid ${last.info.pid} at ${last.info.endpoint} (${DAEMON_FILE}) is alive but does not answer; stop it (kill ${last.info.pid})` : '';
  throw new Error(`no ledger daemon for ${folder} answered within ${timeoutMs} ms${described}${logTail(folder)}`);
}

/**
 * Stops the ledger daemon of `dir`, if one runs (SIGTERM: it closes LevelDB and removes `daemon.json`).
 * Resolves true once it has exited, false if none was running.
 */
export async function stopLocalLedgerDaemon(dir: string, timeoutMs = 15_000): Promise<boolean> {
  const info = readInfo(resolve(dir))?.info;
  if (!info || !isProcessAlive(info.pid, info.processStart)) return false;
  process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(info.pid, info.processStart)) {
    if (Date.now() > deadline) throw new Error(`the ledger daemon ${info.pid} of ${dir} did not exit within ${timeoutMs} ms of SIGTERM`);
    await sleep(50);
  }
  return true;
}

type DaemonState =
  | { kind: 'none' }
  | { kind: 'dead'; text: string }
  | { kind: 'unanswering'; info: DaemonInfo }
  | { kind: 'live'; info: DaemonInfo };

export async function daemonState(folder: string): Promise<DaemonState> {
  const read = readInfo(folder);
  if (!read) return { kind: 'none' };
  const { info, text } = read;
  if (!info || !isProcessAlive(info.pid, info.processStart)) return { kind: 'dead', text };
  return (await answersAsDaemon(info, folder)) ? { kind: 'live', info } : { kind: 'unanswering', info };
}

function readInfo(folder: string): { info: DaemonInfo | undefined; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync(join(folder, DAEMON_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const info = JSON.parse(text) as DaemonInfo;
    return { info: Number.isInteger(info?.pid) && typeof info.endpoint === 'string' ? info : undefined, text };
  } catch {
    return { info: undefined, text };
  }
}

async function answersAsDaemon(info: DaemonInfo, folder: string): Promise<boolean> {
  try {
    const response = await fetch(new URL('/', info.endpoint), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'SafeReindexLocal.Ping' },
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    if (!response.ok) return false;
    const pong = (await response.json()) as { pid?: unknown; dir?: unknown };
    return pong.pid === info.pid && pong.dir === folder;
  } catch {
    return false;
  }
}

function connection(info: DaemonInfo): LocalLedgerConnection {
  return { endpoint: info.endpoint, pid: info.pid, stop: async () => undefined };
}

/** Takes `daemon.lock` (exclusive create); undefined when another process holds it. A holder that died, or holds it too long, loses it. */
function tryLock(folder: string, staleAfterMs: number): (() => void) | undefined {
  const file = join(folder, DAEMON_LOCK);
  const mine = JSON.stringify({ pid: process.pid, processStart: processStartTime(process.pid), at: new Date().toISOString() });
  try {
    const fd = openSync(file, 'wx');
    try {
      writeSync(fd, mine);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    breakStaleLock(file, staleAfterMs);
    return undefined;
  }
  return () => removeIfUnchanged(file, mine);
}

function breakStaleLock(file: string, staleAfterMs: number): void {
  let text: string;
  let age: number;
  try {
    text = readFileSync(file, 'utf8');
    age = Date.now() - statSync(file).mtimeMs;
  } catch {
    return; // gone already
  }
  let holder: { pid?: number; processStart?: number } | undefined;
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    holder = undefined; // being written, or torn
  }
  const dead = holder?.pid !== undefined ? !isProcessAlive(holder.pid, holder.processStart) : age > 5_000;
  // Two processes breaking the same stale lock could both start a daemon: the second cannot open
  // LevelDB and exits (EXIT_FOLDER_IN_USE), and its starter connects to the first.
  if (dead || age > staleAfterMs) removeIfUnchanged(file, text);
}

function removeIfUnchanged(file: string, text: string): void {
  try {
    if (readFileSync(file, 'utf8') === text) unlinkSync(file);
  } catch {
    // gone already
  }
}

/** Starts a daemon for the folder; its info once it answers, or undefined when another process holds the folder. */
async function startDaemon(folder: string, options: ConnectLocalLedgerOptions, deadline: number): Promise<DaemonInfo | undefined> {
  const log = openSync(join(folder, DAEMON_LOG), 'a');
  let exit: number | null | undefined;
  let spawnError: Error | undefined;
  try {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, DAEMON_SCRIPT, '--dir', folder], {
      cwd: folder,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...(options.idleMs === undefined ? {} : { [IDLE_ENV]: String(options.idleMs) }) },
    });
    child.once('exit', (code) => (exit = code));
    child.once('error', (err) => (spawnError = err));
    child.unref();
  } finally {
    closeSync(log);
  }
  while (Date.now() < deadline) {
    const state = await daemonState(folder);
    if (state.kind === 'live') return state.info;
    if (spawnError) throw new Error(`cannot start the ledger daemon for ${folder}: ${spawnError.message}`);
    if (exit === EXIT_FOLDER_IN_USE) return undefined;
    if (exit !== undefined) throw new Error(`the ledger daemon for ${folder} exited with code ${exit} before it answered${logTail(folder)}`);
    await sleep(50);
  }
  return undefined;
}

function logTail(folder: string): string {
  const file = join(folder, DAEMON_LOG);
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15);
  return `\n${file}, last lines:\n${lines.join('\n')}`;
}
