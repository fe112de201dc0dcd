import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedWorkedExample } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const servers = localServers();

function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'local/cli/safe-reindex.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('safe-reindex local (the CLI)', () => {
  const work = mkdtempSync(join(tmpdir(), 'safe-reindex-cli-'));
  const index = uniqueIndex('calls-cli');
  const input = (runId: string, dryRun: boolean) => {
    const file = join(work, `${runId}.json`);
    writeFileSync(file, JSON.stringify({ runId, source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', dryRun }));
    return file;
  };
  const common = () => ['--target-url', defaultTarget().url, '--ledger-endpoint', servers.ledgerEndpoint];

  beforeAll(async () => {
    await seedWorkedExample({
      source: clientFor(servers.source.url),
      target: clientFor(defaultTarget().url),
      index,
      shape: { missing: 120, targetOlder: 5, equal: 20, targetNewer: 5 },
    });
  });

  it('with --json, prints only the final run record on stdout and writes the receipts', async () => {
    const { code, stdout } = await cli(['local', '--input', input(`${index}-dry`, true), ...common(), '--json'], work);

    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as { status: string; error: null; dryRun: boolean; baselines: { sourceCount: number }; receipts: Record<string, string> };
    expect(record).toMatchObject({ status: 'SUCCEEDED', error: null, dryRun: true, baselines: { sourceCount: 150 } });
    for (const path of Object.values(record.receipts)) expect(existsSync(path)).toBe(true);
    expect(readFileSync(record.receipts.html!, 'utf8')).toContain('<svg');
  });

  it('runs the approved live run with the header, poll lines and the counters table, exit 0', async () => {
    const { code, stdout } = await cli(['local', '--input', input(`${index}-live`, false), ...common()], work);

    expect(code).toBe(0);
    expect(stdout).toContain('mode:                 merge (dest.version_type: external, conflicts: proceed)');
    expect(stdout).toMatch(/created [\d,]+ {2}updated [\d,]+ {2}version_conflicts [\d,]+ {2}of 150/);
    expect(stdout).toContain('150 = 120 created + 5 updated + 0 deleted + 0 noops + 25 version_conflicts');
    expect(stdout).toContain('parity: OK');
  });

  it('reruns the same request under a new run id on the approval the dry run recorded', async () => {
    const { code, stdout } = await cli(['local', '--input', input(`${index}-rerun`, false), ...common(), '--json', '--runs', work], work);

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'SUCCEEDED', counters: { total: 150, failures: 0 } });
  });

  it('exits 1 with the error name on stderr when the run fails', async () => {
    const file = join(work, 'other-batch.json');
    writeFileSync(file, JSON.stringify({ runId: `${index}-other`, source: { url: servers.source.url, index }, target: { index }, dryRun: false, batchSize: 7 }));

    const { code, stdout, stderr } = await cli(['local', '--input', file, ...common(), '--json'], work);

    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'FAILED', error: 'DryRunRequired' });
    expect(stderr).toContain('DryRunRequired');
  });

  it('a partitioned live run prints one poll line per turn with the run\'s and each partition\'s progress, the partition table with its total, and per-partition receipts', async () => {
    const parted = uniqueIndex('calls-cli-parted');
    await seedWorkedExample({ source: clientFor(servers.source.url), target: clientFor(defaultTarget().url), index: parted, shape: { missing: 120, targetOlder: 5, equal: 20, targetNewer: 5 } });
    const file = (runId: string, dryRun: boolean) => {
      const path = join(work, `${runId}.json`);
      writeFileSync(path, JSON.stringify({ runId, source: { url: servers.source.url, index: parted }, target: { index: parted }, dateField: 'timestamp', batchSize: 10, partitions: 3, maxConcurrency: 2, dryRun }));
      return path;
    };
    expect((await cli(['local', '--input', file(`${parted}-dry`, true), ...common(), '--json', '--runs', work], work)).code).toBe(0);

    const { code, stdout } = await cli(['local', '--input', file(`${parted}-live`, false), ...common(), '--runs', work], work);

    expect(code).toBe(0);
    const polls = stdout.split('\n').filter((l) => /^ {2}\d\d:\d\d:\d\d {2}/.test(l));
    expect(stdout).toContain('  per partition: processed/total, c created, u updated, vc version_conflicts (kept), f failures');
    expect(polls.length).toBeGreaterThan(0);
    for (const line of polls) expect(line).toMatch(/^ {2}[\d:]{8} {2}[\d,]+ of [\d,]+ \([\d.]+%\) {2}created [\d,]+ {2}updated [\d,]+ {2}version_conflicts [\d,]+ {2}· {2}partitions \d+ done, \d+ running, \d+ waiting( {2}· {2}p\d\d( done)? [\d,]+\/[\d,]+ c [\d,]+ u [\d,]+ vc [\d,]+)+$/);
    expect(polls.at(-1)).toMatch(/^ {2}[\d:]{8} {2}150 of 150 \(100\.0%\) {2}created 120 {2}updated 5 {2}version_conflicts 25 {2}· {2}partitions 4 done, 0 running, 0 waiting {2}· /);
    // Every partition's finished task is shown once, as done.
    expect(polls.join('\n').match(/ p\d\d done /g)).toHaveLength(4);
    expect(stdout).toMatch(/^total {35,}150 +150 +120 +5 +25 +4 {2}4 task\(s\)$/m);

    const receipt = readFileSync(join(work, `${parted}-live`, 'receipt.md'), 'utf8');
    expect(receipt).toContain('## Partitions (4)');
    expect(receipt).toContain('| **total** | | | 4 | 4 | 150 | **150** | **120** | **5** | **25** | **0** |');
    expect(readFileSync(join(work, `${parted}-live`, 'receipt.html'), 'utf8').match(/<svg /g)).toHaveLength(5);
  });

  it.each([
    [['local', '--target-url', 'http://127.0.0.1:9'], '--input FILE is required'],
    [['local', '--input', '/nonexistent.json', '--target-url', 'http://127.0.0.1:9'], 'cannot read --input /nonexistent.json'],
    [['local', '--input', '/etc/hostname', '--target-url', 'http://127.0.0.1:9'], 'is not JSON'],
    [['local', '--input', 'x.json', '--target-url', 'http://127.0.0.1:9', '--verbose'], "Unknown option '--verbose'"],
    [['deploy'], 'unknown command deploy'],
  ])('exits 2 when misused: %j', async (args, message) => {
    const { code, stderr, stdout } = await cli(args, work);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stdout).toBe('');
  });
});
