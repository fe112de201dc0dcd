import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import { connectLocalLedger, stopLocalLedgerDaemon } from '../../local/ledger/ledger';
import { seedWorkedExample } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

/**
 * Several `safe-reindex local` processes on one `--ledger DIR` at once: they share the folder's ledger
 * daemon, so the target-index lock holds across processes as on DynamoDB.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const servers = localServers();
/** The table the CLI's runs use (local/pipeline.ts DEFAULT_TABLE). */
const CLI_TABLE = 'safe-reindex-ledger';

interface CliRun {
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  exitCode(): number | null;
}

/** CLI processes this file started: any still running when it ends is killed (no orphans). */
const started: ChildProcess[] = [];

function cli(args: string[], cwd: string): CliRun {
  const child = spawn(process.execPath, [join(root, 'local/cli/safe-reindex.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return {
    exited: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    exitCode: () => child.exitCode,
  };
}

function ledgerDaemons(folder: string): string[] {
  return spawnSync('ps', ['-ww', '-eo', 'args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('daemon.ts') && l.trimEnd().endsWith(`--dir ${folder}`));
}

describe('safe-reindex local: concurrent runs on one --ledger folder', () => {
  const work = mkdtempSync(join(tmpdir(), 'safe-reindex-shared-ledger-'));
  const ledgerDir = join(work, 'ledger');
  const first = uniqueIndex('calls-shared-a');
  const other = uniqueIndex('calls-shared-b');
  const total = 600;
  // Throttled: 40 documents a second in batches of 20, so the first live run lasts about 15 s.
  const input = (index: string, runId: string, dryRun: boolean) => {
    const file = join(work, `${runId}.json`);
    writeFileSync(
      file,
      JSON.stringify({ runId, source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 20, requestsPerSecond: 40, dryRun }),
    );
    return file;
  };
  const run = (index: string, runId: string, dryRun: boolean) =>
    cli(['local', '--input', input(index, runId, dryRun), '--target-url', defaultTarget().url, '--ledger', ledgerDir, '--runs', join(work, 'runs'), '--json'], work);

  beforeAll(async () => {
    for (const index of [first, other]) {
      await seedWorkedExample({
        source: clientFor(servers.source.url),
        target: clientFor(defaultTarget().url),
        index,
        shape: { missing: total, targetOlder: 0, equal: 0, targetNewer: 0 },
      });
    }
  });

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await stopLocalLedgerDaemon(ledgerDir);
    expect(ledgerDaemons(ledgerDir)).toEqual([]);
    rmSync(work, { recursive: true, force: true });
  });

  it('a second live run on the same index while the first runs fails RunInProgress (exit 1, no crash); a run on another index succeeds beside it', async () => {
    // Prepare: two dry runs at once, the first two processes on the folder.
    const dry = await Promise.all([run(first, `${first}-dry`, true).exited, run(other, `${other}-dry`, true).exited]);
    for (const d of dry) expect(d.code, d.stderr.slice(-2000)).toBe(0);
    const connection = await connectLocalLedger(ledgerDir);
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: connection.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } }));
    await createLedgerTable(client, CLI_TABLE);
    const ledger = new Ledger({ client, tableName: CLI_TABLE });
    const live = run(first, `${first}-live-1`, false);
    const deadline = Date.now() + 60_000;
    while ((await ledger.getLock(first))?.runId !== `${first}-live-1`) {
      if (Date.now() > deadline || live.exitCode() !== null) throw new Error(`the first live run did not take the lock: ${JSON.stringify(await live.exited)}`);
      await sleep(100);
    }

    // Act
    const secondRun = run(first, `${first}-live-2`, false);
    const besideRun = run(other, `${other}-live`, false);
    const second = await secondRun.exited;
    const firstStillRunning = live.exitCode() === null;
    const [beside, done] = await Promise.all([besideRun.exited, live.exited]);

    // Assess
    expect(firstStillRunning).toBe(true);
    expect(second.code, second.stderr).toBe(1);
    expect(JSON.parse(second.stdout)).toMatchObject({
      runId: `${first}-live-2`,
      status: 'FAILED',
      error: 'RunInProgress',
      cause: expect.stringContaining(`target index ${first} is locked by live run ${first}-live-1`),
    });
    expect(second.stderr).toContain('RunInProgress');
    expect(second.stderr).not.toMatch(/Database is (not open|closed)|^\s+at .*node:internal/m);
    expect(beside.code, beside.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(beside.stdout)).toMatchObject({ status: 'SUCCEEDED', counters: { total, created: total, failures: 0 } });
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ status: 'SUCCEEDED', counters: { total, created: total, failures: 0 } });
    expect(await ledger.getLock(first)).toBeUndefined();
    expect(ledgerDaemons(ledgerDir)).toHaveLength(1);
  }, 240_000);
});
