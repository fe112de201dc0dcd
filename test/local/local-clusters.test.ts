import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jvmOptions, startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { serverSpec } from '../../local/clusters/distributions';
import { findJdk, featureRelease } from '../../local/clusters/java';
import { runMaven } from '../../local/clusters/maven';
import { clientFor } from '../support/client';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function runNode(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: 'pipe' });
}

function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing a line; stderr:\n${err}`)));
  });
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('startLocalCluster', () => {
  let node: LocalCluster;
  beforeAll(async () => {
    node = await startLocalCluster({ distribution: 'elasticsearch', log: () => undefined });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('restart() kills the JVM and brings the node back on the same port with its data', async () => {
    const client = clientFor(node.url);
    await client.index({ index: 'kept-across-restart', id: '1', body: { kept: true }, refresh: true });
    const before = node.pid();

    await node.restart();

    expect(node.pid()).not.toBe(before);
    expect(alive(before!)).toBe(false);
    const { body } = await client.get({ index: 'kept-across-restart', id: '1' });
    expect(body._source).toEqual({ kept: true });
  });

  it('runs the JVM on the client compiler only by default (quick start), with the heap asked for', () => {
    const args = spawnSync('ps', ['-o', 'args=', '-p', String(node.pid())], { encoding: 'utf8' }).stdout.split(' ');
    expect(args).toContain('-XX:TieredStopAtLevel=1');
    expect(args).toEqual(expect.arrayContaining(['-Xms512m', '-Xmx512m', '-XX:+UseG1GC']));
    // The launcher runs compiled (from the cache), not as a source file compiled at every start.
    expect(args).toContain('ElasticsearchLauncher');
    expect(args.some((a) => a.endsWith('.java'))).toBe(false);
  });

  it("keeps the JVM's tiered compilation for jit 'full' (sustained throughput)", () => {
    const full = jvmOptions({ heap: '1g', jit: 'full' });
    expect(full.some((a) => a.startsWith('-XX:TieredStopAtLevel'))).toBe(false);
    expect(full).toEqual(expect.arrayContaining(['-Xms1g', '-Xmx1g']));
    expect(jvmOptions({ heap: '1g', jit: 'quick-start' })).toEqual([...full.slice(0, 5), '-XX:TieredStopAtLevel=1', ...full.slice(5)]);
  });

  it('refuses a port that is already in use, naming the port and the fix', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startLocalCluster({ distribution: 'opensearch', port, log: () => undefined })).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      blocker.close();
    }
  });

  it('refuses an unknown version, listing the ones it has', async () => {
    await expect(startLocalCluster({ distribution: 'opensearch', version: '1.3.0' })).rejects.toThrow(
      'No local opensearch server of version "1.3.0": choose one of 3.5.0, 2.19.1',
    );
  });

  it('gives up on a node that does not come up in time, with the log path, and leaves no JVM behind', async () => {
    const err = (await startLocalCluster({ distribution: 'elasticsearch', startTimeoutMs: 300, log: () => undefined }).catch(
      (e: Error) => e,
    )) as Error;
    expect(err.message).toMatch(/did not answer at http:\/\/127\.0\.0\.1:\d+ with a yellow or green cluster within 0 s/);
    const logFile = /Full log: (.*server\.log)/.exec(err.message)?.[1];
    expect(logFile).toBeDefined();
    const jvms = spawnSync('pgrep', ['-f', dirname(logFile!)], { encoding: 'utf8' });
    expect(jvms.stdout.trim()).toBe('');
  });

  it('the JVM dies with the Node process that started it, even on SIGKILL', async () => {
    const parent = runNode(['test/fixtures/start-cluster-and-wait.ts']);
    const { pid, url } = JSON.parse(await firstLine(parent)) as { pid: number; url: string };
    expect((await fetch(url)).status).toBe(200);

    parent.kill('SIGKILL');

    expect(await eventually(() => !alive(pid), 10_000)).toBe(true);
  });
});

describe('JDK selection', () => {
  it('explains that OpenSearch 3.5 needs Java 21+ and how to use 2.19.1 instead', () => {
    const jdk17 = '/usr/lib/jvm/java-17-openjdk-amd64';
    expect(() => findJdk(serverSpec('opensearch', '3.5.0'), { JAVA_HOME: jdk17, PATH: '' }, '/nonexistent')).toThrow(
      /opensearch 3\.5\.0 needs Java 21-25; found Java 17 at .*SAFE_REINDEX_OPENSEARCH_VERSION=2\.19\.1/,
    );
  });

  it('says so when there is no java at all', () => {
    expect(() => findJdk(serverSpec('elasticsearch', '7.10.2'), { PATH: '' }, '/nonexistent')).toThrow(
      'found no java at all (JAVA_HOME, PATH, /usr/lib/jvm)',
    );
  });

  it.each([
    ['17.0.15', 17],
    ['1.8.0_392', 8],
    ['25', 25],
    ['21.0.2+13-LTS', 21],
  ])('reads the feature release of "%s" as %i', (version, feature) => {
    expect(featureRelease(version)).toBe(feature);
  });
});

describe('Maven', () => {
  it('names the missing tool and how to install it', async () => {
    const prev = process.env.SAFE_REINDEX_MVN;
    process.env.SAFE_REINDEX_MVN = '/nonexistent/mvn';
    try {
      const jdk = findJdk(serverSpec('elasticsearch', '7.10.2'));
      await expect(runMaven(['-v'], root, jdk, () => undefined)).rejects.toThrow(
        'Maven ("/nonexistent/mvn") is not installed or not on PATH',
      );
    } finally {
      if (prev === undefined) delete process.env.SAFE_REINDEX_MVN;
      else process.env.SAFE_REINDEX_MVN = prev;
    }
  });
});

describe('npm run local-cluster', () => {
  it('prints exactly one ready line for the ledger and exits 0 on SIGTERM', async () => {
    const cli = runNode(['local/clusters/cli.ts', '--distribution', 'ledger']);
    const done = exitOf(cli);
    const line = await firstLine(cli);
    expect(line).toMatch(/^ledger dynalite ready at http:\/\/127\.0\.0\.1:\d+$/);

    cli.kill('SIGTERM');

    const { code, stdout } = await done;
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toEqual([line]);
  });

  it('starts a real server and stops it on SIGINT', async () => {
    const cli = runNode(['local/clusters/cli.ts', '--distribution', 'elasticsearch']);
    const done = exitOf(cli);
    const line = await firstLine(cli);
    const url = /^elasticsearch 7\.10\.2 ready at (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
    expect(url).toBeDefined();
    expect(((await (await fetch(url!)).json()) as { version: { number: string } }).version.number).toBe('7.10.2');

    cli.kill('SIGINT');

    expect((await done).code).toBe(0);
    await expect(fetch(url!)).rejects.toThrow();
  });

  it.each([
    [['--distribution', 'solr'], '--distribution must be elasticsearch, opensearch or ledger, got solr'],
    [['--distribution', 'ledger', '--port', 'abc'], '--port must be a port number from 1 to 65535, got abc'],
    [['--distribution', 'opensearch', '--verbose'], "Unknown option '--verbose'"],
    [['--distribution', 'opensearch', '--jit', 'turbo'], '--jit must be quick-start or full, got turbo'],
    [['--distribution', 'ledger', '--jit', 'full'], '--jit does not apply to the ledger (dynalite)'],
  ])('exits 2 with a usage message for %j', async (args, message) => {
    const { code, stderr, stdout } = await exitOf(runNode(['local/clusters/cli.ts', ...args]));
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stdout).toBe('');
  });
});
