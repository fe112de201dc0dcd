import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServerSpec } from './distributions';

export interface Jdk {
  readonly home: string;
  readonly java: string;
  readonly feature: number;
}

/** Feature release of a JDK home, read from its `release` file (`JAVA_VERSION="17.0.15"`). */
export function readJdk(home: string): Jdk | undefined {
  const java = join(home, 'bin', 'java');
  if (!existsSync(java)) return undefined;
  const release = join(home, 'release');
  let version: string | undefined;
  if (existsSync(release)) {
    version = /^JAVA_VERSION="([^"]+)"/m.exec(readFileSync(release, 'utf8'))?.[1];
  }
  if (!version) {
    try {
      const out = execFileSync(java, ['-version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      version = /version "([^"]+)"/.exec(out)?.[1];
    } catch (e) {
      version = /version "([^"]+)"/.exec(String((e as { stderr?: string }).stderr ?? ''))?.[1];
    }
  }
  const feature = featureRelease(version);
  return feature === undefined ? undefined : { home, java, feature };
}

export function featureRelease(version: string | undefined): number | undefined {
  if (!version) return undefined;
  const parts = version.split(/[.+-]/);
  const first = Number(parts[0]);
  if (first === 1) return Number(parts[1]);
  return Number.isFinite(first) ? first : undefined;
}

/** JDK homes in the order a user expects them to be tried: JAVA_HOME, `java` on PATH, then /usr/lib/jvm. */
export function candidateJdkHomes(env: NodeJS.ProcessEnv = process.env, jvmDir = '/usr/lib/jvm'): string[] {
  const homes: string[] = [];
  if (env.JAVA_HOME) homes.push(env.JAVA_HOME);
  for (const dir of (env.PATH ?? '').split(':')) {
    const java = join(dir, 'java');
    if (dir && existsSync(java)) {
      homes.push(dirname(dirname(realpathSync(java))));
      break;
    }
  }
  if (existsSync(jvmDir)) {
    for (const name of readdirSync(jvmDir).sort()) homes.push(join(jvmDir, name));
  }
  return [...new Set(homes)];
}

export function findJdk(spec: ServerSpec, env: NodeJS.ProcessEnv = process.env, jvmDir = '/usr/lib/jvm'): Jdk {
  const seen: Jdk[] = [];
  for (const home of candidateJdkHomes(env, jvmDir)) {
    const jdk = readJdk(home);
    if (!jdk) continue;
    seen.push(jdk);
    if (jdk.feature >= spec.java.min && jdk.feature <= spec.java.max) return jdk;
  }
  const found = seen.length
    ? `found ${[...new Map(seen.map((j) => [j.feature, j])).values()].map((j) => `Java ${j.feature} at ${j.home}`).join(', ')}`
    : 'found no java at all (JAVA_HOME, PATH, /usr/lib/jvm)';
  throw new Error(
    `${spec.distribution} ${spec.version} needs Java ${spec.java.min}` +
      (spec.java.max > spec.java.min ? `-${spec.java.max}` : '') +
      `; ${found}. ${spec.jdkAdvice}`,
  );
}
