import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerSpec } from './distributions';
import type { Jdk } from './java';
import { CACHE_DIR, MAVEN_DIR } from './paths';

/**
 * The server's classpath as Maven resolves it (`dependency:build-classpath`), cached per pom content.
 * The jars stay in the user's Maven repository exactly as Maven Central delivers them, so the server's
 * manifest carries the build hash `GET /` reports.
 */
export async function resolveClasspath(spec: ServerSpec, jdk: Jdk, log: (line: string) => void): Promise<string> {
  const pomDir = join(MAVEN_DIR, spec.pomDir);
  const pom = readFileSync(join(pomDir, 'pom.xml'));
  const key = createHash('sha256').update(pom).digest('hex').slice(0, 16);
  const cacheFile = join(CACHE_DIR, `${spec.pomDir}-${key}.classpath`);
  if (existsSync(cacheFile)) {
    const cached = readFileSync(cacheFile, 'utf8').trim();
    if (cached && cached.split(':').every((jar) => existsSync(jar))) return cached;
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  log(
    `Resolving ${spec.distribution} ${spec.version} from Maven Central into your Maven repository ` +
      `(a few hundred MB the first time; later starts use the cache)...`,
  );
  const outFile = `${cacheFile}.${process.pid}.tmp`;
  await runMaven(
    ['-B', '-q', '-Dstyle.color=never', 'dependency:build-classpath', `-Dmdep.outputFile=${outFile}`],
    pomDir,
    jdk,
    log,
  );
  const classpath = readFileSync(outFile, 'utf8').trim();
  if (!classpath) throw new Error(`Maven resolved an empty classpath for ${spec.pomDir}/pom.xml`);
  renameSync(outFile, cacheFile);
  return classpath;
}

export function runMaven(args: string[], cwd: string, jdk: Jdk, log: (line: string) => void): Promise<void> {
  const mvn = process.env.SAFE_REINDEX_MVN ?? 'mvn';
  return new Promise((resolve, reject) => {
    const child = spawn(mvn, args, {
      cwd,
      env: { ...process.env, JAVA_HOME: process.env.JAVA_HOME ?? jdk.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      for (const line of text.split('\n')) {
        // eslint-disable-next-line no-control-regex
        const plain = line.replace(/\x1b\[[0-9;]*m/g, '').trimEnd();
        if (plain.trim()) log(`[maven] ${plain}`);
      }
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `Maven ("${mvn}") is not installed or not on PATH: the local clusters are resolved from Maven Central ` +
                `with Maven 3.8+. Install it (Debian: apt-get install maven) or set SAFE_REINDEX_MVN to its path.`,
            )
          : err,
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `Maven failed (exit ${code}) resolving ${cwd}/pom.xml; is Maven Central reachable? Its output:\n` +
              output.join('').split('\n').slice(-30).join('\n'),
          ),
        );
    });
  });
}
