import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from '../clusters/cluster';
import { isProcessAlive, processStartTime } from '../ledger/processes';
import { ensureDebianPackages, ensureLambdaRootfs, ensureLocalStackVenv, HostSetupError, run, type Log } from './host';
import {
  DEFAULT_NETWORK,
  DEFAULT_WORK_DIR,
  GATEWAY_PORT,
  LAMBDA_IMAGE,
  LAMBDA_INIT_SOURCE,
  LAMBDA_INIT_VERSION_DIR,
  LAMBDA_RUNTIME,
  REGION,
  REGISTRY_PORT,
  type NetworkSettings,
} from './settings';

/**
 * The LocalStack environment on this machine: a Linux bridge of its own, a Docker engine (Debian's)
 * whose containers sit on that bridge, a registry on 127.0.0.1 that serves them the locally built
 * Lambda image (LocalStack always pulls), localstack-core on the host with the project's Lambda init
 * and dynalite standing in for DynamoDB's engine, and the real local clusters listening on the bridge
 * too. `startLocalStackEnvironment` brings it up; `stop()` (or `tearDownLocalStackEnvironment` from a
 * state file left by a crash) leaves no process, container, bridge or data behind.
 */

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface LocalStackEnvironmentOptions {
  readonly workDir?: string;
  readonly network?: NetworkSettings;
  readonly log?: Log;
  /** Start the local source and target clusters; @default true */
  readonly clusters?: boolean;
}

export interface LocalStackEnvironment {
  /** LocalStack's gateway as the host reaches it. */
  readonly endpoint: string;
  readonly region: string;
  /** The host's address on the bridge: what the functions reach. */
  readonly hostAddress: string;
  /** Source (Elasticsearch 7.10.2) and target (OpenSearch) on the bridge address, as the functions and remote reindex see them. */
  readonly sourceUrl?: string;
  readonly targetUrl?: string;
  readonly source?: LocalCluster;
  readonly target?: LocalCluster;
  /** The environment variables for an AWS SDK client (or cdklocal) talking to this LocalStack. */
  readonly awsEnv: Readonly<Record<string, string>>;
  readonly workDir: string;
  stop(): Promise<void>;
}

interface RecordedProcess {
  readonly name: string;
  readonly pid: number;
  readonly startTime?: number;
}

interface EnvironmentState {
  readonly workDir: string;
  readonly bridge: string;
  readonly dockerHost: string;
  readonly processes: RecordedProcess[];
}

const STATE_FILE = 'environment.json';

export function localStackAwsEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
}

export async function startLocalStackEnvironment(options: LocalStackEnvironmentOptions = {}): Promise<LocalStackEnvironment> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const network = options.network ?? DEFAULT_NETWORK;
  const workDir = resolve(options.workDir ?? DEFAULT_WORK_DIR);
  if (existsSync(join(workDir, STATE_FILE))) {
    log(`A previous environment left ${join(workDir, STATE_FILE)}: tearing it down first`);
    await tearDownLocalStackEnvironment(workDir, log);
  }
  ensureDebianPackages(log);
  const python = ensureLocalStackVenv(log);
  const rootfsTar = ensureLambdaRootfs(PROJECT_ROOT, log);

  mkdirSync(join(workDir, 'logs'), { recursive: true });
  const dockerHost = `unix://${join(workDir, 'docker', 'docker.sock')}`;
  const state: EnvironmentState = { workDir, bridge: network.bridge, dockerHost, processes: [] };
  const saveState = () => writeFileSync(join(workDir, STATE_FILE), JSON.stringify(state, null, 2));
  saveState();
  const clusters: LocalCluster[] = [];
  const teardown = async () => {
    for (const cluster of clusters.reverse()) await cluster.stop().catch(() => undefined);
    await tearDownLocalStackEnvironment(workDir, log);
  };

  try {
    createBridge(network, log);
    const spawnLogged = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
      const out = openSync(join(workDir, 'logs', `${name}.log`), 'a');
      const child = spawn(command, args, { env, stdio: ['ignore', out, out], detached: true });
      closeSync(out);
      child.unref();
      if (child.pid === undefined) throw new HostSetupError(`${command} did not start`);
      state.processes.push({ name, pid: child.pid, startTime: processStartTime(child.pid) });
      saveState();
      return child.pid;
    };

    log(`Starting Docker (Debian's dockerd) on bridge ${network.bridge}, ${network.hostAddress}/${network.prefixLength}: no iptables, no masquerading, no forwarding`);
    mkdirSync(join(workDir, 'docker'), { recursive: true });
    spawnLogged('dockerd', 'dockerd', [
      '--host', dockerHost,
      '--data-root', join(workDir, 'docker', 'data'),
      '--exec-root', join(workDir, 'docker', 'exec'),
      '--pidfile', join(workDir, 'docker', 'docker.pid'),
      '--bridge', network.bridge,
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      '--userland-proxy=false',
    ]);
    await waitFor('Docker', async () => spawnSync('docker', ['-H', dockerHost, 'version'], { encoding: 'utf8' }).status === 0, 60_000);

    log(`Starting the image registry (Debian's docker-registry) on 127.0.0.1:${REGISTRY_PORT}`);
    const registryConfig = join(workDir, 'registry.yml');
    writeFileSync(
      registryConfig,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(workDir, 'registry')}`,
        'http:',
        `  addr: 127.0.0.1:${REGISTRY_PORT}`,
        '',
      ].join('\n'),
    );
    spawnLogged('registry', 'docker-registry', ['serve', registryConfig]);
    await waitFor('the registry', async () => (await fetch(`http://127.0.0.1:${REGISTRY_PORT}/v2/`).catch(() => undefined))?.ok === true, 30_000);

    log(`Importing the Lambda image ${LAMBDA_IMAGE}`);
    run('docker', ['-H', dockerHost, 'import', '--change', 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin', '--change', 'ENV LANG=C.UTF-8', rootfsTar, LAMBDA_IMAGE]);
    run('docker', ['-H', dockerHost, 'push', '-q', LAMBDA_IMAGE]);

    const fsRoot = join(workDir, 'localstack');
    placeLocalStackPackages(fsRoot);
    const endpoint = `http://127.0.0.1:${GATEWAY_PORT}`;
    log(`Starting localstack-core on ${endpoint} and ${network.hostAddress}:${GATEWAY_PORT}`);
    spawnLogged('localstack', python, ['-m', 'localstack.runtime.main'], {
      ...process.env,
      // This machine may itself be a container (/.dockerenv): LocalStack must still keep to host mode and FILESYSTEM_ROOT.
      OVERRIDE_IN_DOCKER: '0',
      FILESYSTEM_ROOT: fsRoot,
      LOCALSTACK_VOLUME_DIR: join(fsRoot, 'volume'),
      GATEWAY_LISTEN: `127.0.0.1:${GATEWAY_PORT},${network.hostAddress}:${GATEWAY_PORT}`,
      // The default (twisted) server binds 0.0.0.0 whatever GATEWAY_LISTEN names; hypercorn binds the two addresses.
      GATEWAY_SERVER: 'hypercorn',
      DOCKER_HOST: dockerHost,
      LAMBDA_RUNTIME_IMAGE_MAPPING: JSON.stringify({ [LAMBDA_RUNTIME]: LAMBDA_IMAGE }),
      LAMBDA_IGNORE_ARCHITECTURE: '1',
      HOSTNAME_FROM_LAMBDA: network.hostAddress,
      LAMBDA_DOCKER_NETWORK: 'bridge',
      DNS_ADDRESS: '0',
      SKIP_SSL_CERT_DOWNLOAD: '1',
      DISABLE_EVENTS: '1',
      LOCALSTACK_TELEMETRY_DISABLED: '1',
      PATH: `${join(fsRoot, 'shims')}:${process.env.PATH ?? ''}`,
      SAFE_REINDEX_DYNALITE: join(PROJECT_ROOT, 'node_modules', 'dynalite', 'cli.js'),
    });
    await waitFor('LocalStack', async () => {
      const health = await fetch(`${endpoint}/_localstack/health`).then((r) => r.json() as Promise<{ services?: Record<string, string> }>).catch(() => undefined);
      return health?.services?.lambda !== undefined && health.services.stepfunctions !== undefined;
    }, 120_000);

    const bridged = options.clusters ?? true ? await startReachableClusters(network.hostAddress, log) : undefined;
    if (bridged) clusters.push(bridged.source, bridged.target);
    return {
      endpoint,
      region: REGION,
      hostAddress: network.hostAddress,
      ...(bridged ?? {}),
      awsEnv: localStackAwsEnv(endpoint),
      workDir,
      stop: teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

interface ReachableClusters {
  readonly source: LocalCluster;
  readonly target: LocalCluster;
  readonly sourceUrl: string;
  readonly targetUrl: string;
}

/**
 * The real local clusters, listening on loopback and on `hostAddress` too: the functions reach both
 * there, and the target's remote reindex reaches the source there (its allowlist names the address).
 */
async function startReachableClusters(hostAddress: string, log: Log): Promise<ReachableClusters> {
  const listen = { 'http.host': ['127.0.0.1', hostAddress] };
  const source = await startLocalCluster({ distribution: 'elasticsearch', settings: listen, log });
  try {
    const target = await startLocalCluster({
      distribution: 'opensearch',
      settings: { ...listen, 'reindex.remote.allowlist': [`${hostAddress}:*`, '127.0.0.1:*', 'localhost:*'] },
      log,
    });
    const at = (cluster: LocalCluster) => `http://${hostAddress}:${cluster.port}`;
    return { source, target, sourceUrl: at(source), targetUrl: at(target) };
  } catch (err) {
    await source.stop().catch(() => undefined);
    throw err;
  }
}

export interface ExternalLocalStackOptions {
  /** The LocalStack gateway a user runs (e.g. the Docker image), as AWS_ENDPOINT_URL names it. */
  readonly endpoint: string;
  /** An address of this machine that the user's Lambda containers reach (e.g. the Docker bridge's gateway, 172.17.0.1). */
  readonly hostAddress: string;
  readonly workDir?: string;
  readonly log?: Log;
}

/**
 * A LocalStack the user runs: nothing is installed or started but the real local clusters, listening on
 * `hostAddress` for the functions; `stop()` stops the clusters and leaves that LocalStack running.
 */
export async function useExternalLocalStack(options: ExternalLocalStackOptions): Promise<LocalStackEnvironment> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let endpointUrl: URL;
  try {
    endpointUrl = new URL(options.endpoint);
  } catch {
    throw new HostSetupError(`AWS_ENDPOINT_URL ${JSON.stringify(options.endpoint)} is not a URL; give LocalStack's gateway, e.g. http://localhost:4566`);
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(options.hostAddress)) {
    throw new HostSetupError(`--host-address ${JSON.stringify(options.hostAddress)} is not an IPv4 address of this machine (e.g. 172.17.0.1, the Docker bridge's gateway)`);
  }
  const endpoint = endpointUrl.origin;
  const health = await fetch(`${endpoint}/_localstack/health`)
    .then((r) => r.json() as Promise<{ services?: Record<string, string> }>)
    .catch((err: Error) => {
      throw new HostSetupError(`no LocalStack answers at ${endpoint}/_localstack/health (${err.message}); start it, or unset AWS_ENDPOINT_URL to let this command run its own`);
    });
  const missing = ['lambda', 'stepfunctions', 'dynamodb', 'events', 'secretsmanager', 'cloudformation', 's3', 'iam'].filter((s) => health.services?.[s] === undefined);
  if (missing.length > 0) throw new HostSetupError(`the LocalStack at ${endpoint} does not offer ${missing.join(', ')}`);
  const workDir = resolve(options.workDir ?? DEFAULT_WORK_DIR);
  mkdirSync(workDir, { recursive: true });
  log(`Using the LocalStack at ${endpoint}; the functions reach this machine at ${options.hostAddress}`);
  const clusters = await startReachableClusters(options.hostAddress, log);
  return {
    endpoint,
    region: REGION,
    hostAddress: options.hostAddress,
    ...clusters,
    awsEnv: localStackAwsEnv(endpoint),
    workDir,
    async stop() {
      await clusters.target.stop().catch(() => undefined);
      await clusters.source.stop().catch(() => undefined);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/**
 * What LocalStack would download at first use, put where its installers look first (var/lib/localstack/lib
 * under FILESYSTEM_ROOT): the project's Lambda init, and for DynamoDB a `java` that runs dynalite (with
 * an empty marker where DynamoDB Local's jar would be: that jar is never run).
 */
function placeLocalStackPackages(fsRoot: string): void {
  const libs = join(fsRoot, 'var', 'lib', 'localstack', 'lib');
  const init = join(libs, 'lambda-runtime', LAMBDA_INIT_VERSION_DIR, 'x86_64', 'var', 'rapid', 'init');
  mkdirSync(join(init, '..'), { recursive: true });
  copyFileSync(LAMBDA_INIT_SOURCE, init);
  chmodSync(init, 0o755);

  const java = join(libs, 'java', '21', 'bin', 'java');
  mkdirSync(join(java, '..'), { recursive: true });
  writeFileSync(java, DYNALITE_JAVA_SHIM);
  chmodSync(java, 0o755);
  mkdirSync(join(fsRoot, 'shims'), { recursive: true });
  copyFileSync(java, join(fsRoot, 'shims', 'java'));
  chmodSync(join(fsRoot, 'shims', 'java'), 0o755);
  const ddb = join(libs, 'dynamodb-local', '2');
  mkdirSync(ddb, { recursive: true });
  writeFileSync(join(ddb, 'DynamoDBLocal.jar'), '');
}

/** LocalStack starts DynamoDB Local as `java ... -jar DynamoDBLocal.jar -port N ...`: run dynalite on that port instead. */
const DYNALITE_JAVA_SHIM = `#!/bin/sh
# Stands in for the JVM LocalStack would start DynamoDB Local in: serves dynalite on the same port.
port=
while [ $# -gt 0 ]; do
  if [ "$1" = "-port" ]; then port="$2"; fi
  shift
done
if [ -z "$port" ]; then echo "dynalite shim: no -port given" >&2; exit 2; fi
exec node "$SAFE_REINDEX_DYNALITE" --port "$port" --host 127.0.0.1
`;

function createBridge(network: NetworkSettings, log: Log): void {
  if (spawnSync('ip', ['link', 'show', network.bridge], { encoding: 'utf8' }).status === 0) {
    throw new HostSetupError(`a network interface named ${network.bridge} already exists; remove it (ip link delete ${network.bridge}) or choose another bridge`);
  }
  log(`Creating bridge ${network.bridge} (${network.hostAddress}/${network.prefixLength})`);
  run('ip', ['link', 'add', 'name', network.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${network.hostAddress}/${network.prefixLength}`, 'dev', network.bridge]);
  run('ip', ['link', 'set', network.bridge, 'up']);
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await sleep(500);
  }
  throw new HostSetupError(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * SIGTERM to the process itself (LocalStack, dockerd shut their own children down; a signal to the whole
 * group makes LocalStack hang in its shutdown), SIGKILL after the grace period; then SIGKILL to whatever
 * is left in its process group.
 */
async function stopProcess(proc: RecordedProcess, log: Log, graceMs = 30_000): Promise<void> {
  const signal = (target: number, sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      // gone
    }
  };
  if (isProcessAlive(proc.pid, proc.startTime)) {
    const started = Date.now();
    log(`Stopping ${proc.name} (pid ${proc.pid})`);
    signal(proc.pid, 'SIGTERM');
    while (Date.now() - started < graceMs && isProcessAlive(proc.pid, proc.startTime)) await sleep(200);
    if (isProcessAlive(proc.pid, proc.startTime)) {
      log(`${proc.name} did not stop within ${graceMs / 1000} s of SIGTERM: SIGKILL`);
      signal(-proc.pid, 'SIGKILL');
    }
    while (isProcessAlive(proc.pid, proc.startTime)) await sleep(100);
  }
  signal(-proc.pid, 'SIGKILL');
}

function removeContainers(dockerHost: string, log: Log): void {
  const containers = spawnSync('docker', ['-H', dockerHost, 'ps', '-aq'], { encoding: 'utf8' });
  const ids = containers.status === 0 ? containers.stdout.split('\n').filter(Boolean) : [];
  if (ids.length === 0) return;
  log(`Removing ${ids.length} container(s)`);
  spawnSync('docker', ['-H', dockerHost, 'rm', '-f', ...ids], { encoding: 'utf8' });
}

/**
 * Stops what the state file in `workDir` records, in reverse order of start (LocalStack first, Docker
 * last, after every container it runs is removed), deletes the bridge and the work directory.
 */
export async function tearDownLocalStackEnvironment(workDir: string = DEFAULT_WORK_DIR, log: Log = (l) => process.stderr.write(`${l}\n`)): Promise<void> {
  const file = join(workDir, STATE_FILE);
  if (!existsSync(file)) return;
  const state = JSON.parse(readFileSync(file, 'utf8')) as EnvironmentState;
  for (const proc of [...state.processes].reverse()) {
    if (proc.name === 'dockerd') removeContainers(state.dockerHost, log);
    await stopProcess(proc, log);
  }
  // dockerd unmounts its layers when it stops; a crash can leave mounts under the work directory.
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(`${workDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) spawnSync('umount', ['-l', mountPoint]);
  if (spawnSync('ip', ['link', 'show', state.bridge]).status === 0) {
    log(`Deleting bridge ${state.bridge}`);
    spawnSync('ip', ['link', 'delete', state.bridge]);
  }
  rmSync(workDir, { recursive: true, force: true });
}
