/**
 * The ledger daemon: the one process that opens a ledger folder's LevelDB store and serves it to every
 * local run on that folder (`connectLocalLedger` starts it, detached).
 *
 *   node --import tsx local/ledger/daemon.ts --dir DIR
 *
 * Once it serves, it writes DIR/daemon.json `{pid, endpoint, dir, startedAt, processStart}`. It exits
 * by itself after SAFE_REINDEX_LEDGER_IDLE_MS (default 10 minutes) without requests and with no local
 * execution RUNNING in a live process, and on SIGTERM, SIGINT or SIGHUP; then it removes its
 * daemon.json and closes the store. Exit code 3: another process holds the folder.
 */
import { renameSync, unlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DAEMON_FILE, DEFAULT_IDLE_MS, EXIT_FOLDER_IN_USE, IDLE_ENV, type DaemonInfo } from './connect';
import { processStartTime } from './processes';
import { createLedgerServer, LedgerFolderInUseError, type LedgerServer } from './server';

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ledger daemon ${process.pid}: ${message}\n`);

const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
if (!values.dir) {
  log('usage: daemon.ts --dir DIR');
  process.exit(2);
}
const dir = resolve(values.dir);
const infoFile = join(dir, DAEMON_FILE);
const idleMs = Number(process.env[IDLE_ENV] ?? DEFAULT_IDLE_MS);
if (!Number.isFinite(idleMs) || idleMs <= 0) {
  log(`${IDLE_ENV} must be a positive number of milliseconds, got ${process.env[IDLE_ENV]}`);
  process.exit(2);
}

let ledger: LedgerServer;
try {
  ledger = await createLedgerServer({ dir, lockWaitMs: 3_000 });
} catch (err) {
  log((err as Error).message);
  process.exit(err instanceof LedgerFolderInUseError ? EXIT_FOLDER_IN_USE : 1);
}

let ownText: string | undefined;
const removeInfo = () => {
  try {
    if (ownText !== undefined && readFileSync(infoFile, 'utf8') === ownText) unlinkSync(infoFile);
  } catch {
    // gone already
  }
};

let stopping = false;
async function shutdown(reason: string): Promise<never> {
  if (!stopping) {
    stopping = true;
    clearInterval(idleCheck);
    log(`stopping (${reason})`);
    removeInfo();
    const forced = setTimeout(() => {
      log('the store did not close within 20 s; exiting');
      process.exit(1);
    }, 20_000);
    forced.unref();
    try {
      await ledger.close();
    } catch (err) {
      log(`closing: ${(err as Error).message}`);
    }
    log('stopped');
    process.exit(0);
  }
  return new Promise<never>(() => undefined);
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
process.on('uncaughtException', (err) => {
  log(`uncaught: ${err.stack ?? err.message}`);
  removeInfo();
  process.exit(1);
});

const idleCheck = setInterval(
  () => {
    if (Date.now() - ledger.lastActivity() >= idleMs && !ledger.executions.hasRunning()) void shutdown(`idle for ${idleMs} ms`);
  },
  Math.min(Math.max(idleMs / 4, 50), 30_000),
);

const processStart = processStartTime(process.pid);
const info: DaemonInfo = {
  pid: process.pid,
  endpoint: ledger.endpoint,
  dir,
  startedAt: new Date().toISOString(),
  ...(processStart === undefined ? {} : { processStart }),
};
ownText = `${JSON.stringify(info)}\n`;
const temporary = `${infoFile}.${process.pid}.tmp`;
writeFileSync(temporary, ownText);
renameSync(temporary, infoFile);
log(`serving ${dir} on ${ledger.endpoint}; exits after ${idleMs} ms without requests`);
