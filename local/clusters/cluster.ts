import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultVersion, serverSpec, type Distribution, type ServerSpec } from './distributions';
import { findJdk, type Jdk } from './java';
import { resolveClasspath } from './maven';
import { launcherClasses } from './launcher-classes';
import { assertPortFree, freePort } from './ports';

export interface LocalClusterOptions {
  readonly distribution: Distribution;
  /** The server's own version; @default 7.10.2 for elasticsearch, SAFE_REINDEX_OPENSEARCH_VERSION or 3.5.0 for opensearch */
  readonly version?: string;
  /** HTTP port on 127.0.0.1; @default a free port */
  readonly port?: number;
  /** Node home (data, logs, settings); kept after stop. @default a temporary folder removed on stop */
  readonly dataDir?: string;
  /** JVM heap, as -Xms/-Xmx take it; @default '512m' */
  readonly heap?: string;
  /** Extra node settings, e.g. `{ 'thread_pool.write.queue_size': 1 }`; they win over the defaults. */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** How long the node may take to answer and turn yellow; @default 180000 */
  readonly startTimeoutMs?: number;
  /** Progress lines (Maven, JVM start); @default written to stderr */
  readonly log?: (line: string) => void;
  /**
   * Which JIT compilers the JVM runs. `quick-start`: the client compiler only (`-XX:TieredStopAtLevel=1`),
   * so a node is up on about half the CPU and the optimising compiler never competes with the work of
   * a short session (tests, the demo). `full`: the JVM's default tiered compilation, for sustained
   * throughput (the benchmarks). @default 'quick-start'
   */
  readonly jit?: JitMode;
}

export type JitMode = 'quick-start' | 'full';
export const JIT_MODES: readonly JitMode[] = ['quick-start', 'full'];

export interface LocalCluster {
  readonly url: string;
  readonly distribution: Distribution;
  readonly version: string;
  readonly port: number;
  /** Node home: data, settings and `server.log`. */
  readonly dataDir: string;
  readonly logFile: string;
  /** PID of the running JVM. */
  pid(): number | undefined;
  stop(): Promise<void>;
  /** SIGKILL the JVM and start it again on the same data directory and port: a real node crash. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function stderrLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const log = options.log ?? stderrLog;
  const spec = serverSpec(options.distribution, options.version ?? defaultVersion(options.distribution));
  const jdk = findJdk(spec);
  const resolved = await resolveClasspath(spec, jdk, log);
  const classpath = `${await launcherClasses(spec.launcher, resolved, jdk)}:${resolved}`;
  if (options.port !== undefined) await assertPortFree(options.port, '--port');
  const port = options.port ?? (await freePort());
  const transportPort = await freePort();

  const temporary = options.dataDir === undefined;
  const dataDir = temporary
    ? mkdtempSync(join(tmpdir(), `safe-reindex-${spec.distribution}-${spec.version}-`))
    : resolve(options.dataDir!);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dataDir, 'server.log');
  const settingsFile = join(dataDir, 'safe-reindex-node.json');
  writeFileSync(settingsFile, JSON.stringify(nodeSettings(spec, port, transportPort, options.settings), null, 2));

  const node = new JvmNode(spec, jdk, classpath, dataDir, settingsFile, jvmOptions({ heap: options.heap ?? '512m', jit: options.jit ?? 'quick-start' }), logFile);
  const url = `http://127.0.0.1:${port}`;
  const timeoutMs = options.startTimeoutMs ?? 180_000;

  log(`Starting ${spec.distribution} ${spec.version} on Java ${jdk.feature} at ${url} (log: ${logFile})`);
  await node.start(url, timeoutMs);

  return {
    url,
    distribution: spec.distribution,
    version: spec.version,
    port,
    dataDir,
    logFile,
    pid: () => node.pid(),
    async stop() {
      await node.stop();
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await node.kill();
      log(`Restarting ${spec.distribution} ${spec.version} at ${url} on the same data directory`);
      await node.start(url, timeoutMs);
    },
  };
}

export function nodeSettings(
  spec: ServerSpec,
  port: number,
  transportPort: number,
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return {
    'network.host': '127.0.0.1',
    'http.port': port,
    'transport.port': transportPort,
    // The ES 7.10.2 and OpenSearch 2.19.1 runners leave discovery on: a lone node would probe 9300-9305.
    'discovery.type': 'single-node',
    // A nearly full disk must not turn test indices read-only.
    'cluster.routing.allocation.disk.threshold_enabled': false,
    [spec.remoteAllowSetting]: ['127.0.0.1:*', 'localhost:*'],
    ...extra,
  };
}

/** The JVM flags a node starts with, before its classpath. */
export function jvmOptions(options: { heap: string; jit: JitMode }): string[] {
  return [
    `-Xms${options.heap}`,
    `-Xmx${options.heap}`,
    // As both distributions' jvm.options set G1 (JDK 14+): without the reserve and the early marking,
    // garbage counts as real usage and the parent circuit breaker (95% of heap) trips on small heaps.
    '-XX:+UseG1GC',
    '-XX:G1ReservePercent=25',
    '-XX:InitiatingHeapOccupancyPercent=30',
    ...(options.jit === 'quick-start' ? ['-XX:TieredStopAtLevel=1'] : []),
    '-Dfile.encoding=UTF-8',
    '-Dlog4j2.formatMsgNoLookups=true',
  ];
}

class JvmNode {
  private child: ChildProcess | undefined;

  constructor(
    private readonly spec: ServerSpec,
    private readonly jdk: Jdk,
    private readonly classpath: string,
    private readonly dataDir: string,
    private readonly settingsFile: string,
    private readonly jvmFlags: readonly string[],
    private readonly logFile: string,
  ) {}

  pid(): number | undefined {
    return this.child?.pid;
  }

  async start(url: string, timeoutMs: number): Promise<void> {
    const logFd = openSync(this.logFile, 'a');
    const child = spawn(
      this.jdk.java,
      [
        ...this.jvmFlags,
        '-cp',
        this.classpath,
        this.spec.launcher.replace(/\.java$/, ''),
        join(this.dataDir, 'home'),
        this.settingsFile,
      ],
      // stdin stays an open pipe: the launcher halts the JVM when it closes, i.e. when this process dies.
      { cwd: this.dataDir, stdio: ['pipe', logFd, logFd] },
    );
    closeSync(logFd);
    this.child = child;
    running.add(child);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.once('exit', () => running.delete(child));
    try {
      await waitUntilReady(url, this.spec, exited, timeoutMs);
    } catch (err) {
      await this.kill();
      throw new Error(`${(err as Error).message}\n${this.logTail()}\nFull log: ${this.logFile}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGKILL');
    await exited;
  }

  private logTail(): string {
    if (!existsSync(this.logFile)) return '(no server log was written)';
    const lines = readFileSync(this.logFile, 'utf8').trimEnd().split('\n');
    return `Last lines of the server log:\n${lines.slice(-25).join('\n')}`;
  }
}

async function waitUntilReady(
  url: string,
  spec: ServerSpec,
  exited: Promise<number | null>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`${spec.distribution} ${spec.version} exited (code ${exitCode}) before it answered at ${url}`);
    }
    try {
      const root = await getJson(`${url}/`);
      const number = (root as { version?: { number?: string } }).version?.number;
      if (number !== spec.version) {
        throw new Error(`the server at ${url} reports version ${number}, expected ${spec.version}`);
      }
      const health = (await getJson(`${url}/_cluster/health?wait_for_status=yellow&timeout=2s`)) as { status?: string };
      if (health.status === 'yellow' || health.status === 'green') return;
    } catch (err) {
      if ((err as Error).message.startsWith('the server at')) throw err;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(
    `${spec.distribution} ${spec.version} did not answer at ${url} with a yellow or green cluster within ` +
      `${Math.round(timeoutMs / 1000)} s (a slow first start? raise startTimeoutMs)`,
  );
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
  return res.json();
}
