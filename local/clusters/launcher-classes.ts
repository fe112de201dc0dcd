import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Jdk } from './java';
import { CACHE_DIR, LAUNCHER_DIR } from './paths';

/**
 * The node launcher (`launcher/<Name>.java`) compiled once per launcher source, classpath and JDK
 * into the cache: the source-file mode would compile it at every JVM start (a second or so of CPU
 * against a classpath of a few hundred jars). Compiled by the JDK's own javac module, so whatever JDK
 * could run the source file compiles it. Safe when several processes ask at once: each compiles
 * into its own folder and the first rename wins.
 * @returns the folder to put on the classpath; the class to run is the file name without `.java`
 */
export async function launcherClasses(launcher: string, classpath: string, jdk: Jdk): Promise<string> {
  const source = join(LAUNCHER_DIR, launcher);
  const key = createHash('sha256').update(readFileSync(source)).update('\0').update(classpath).update('\0').update(jdk.java).digest('hex').slice(0, 16);
  const dir = join(CACHE_DIR, `launcher-${launcher.replace(/\.java$/, '')}-java${jdk.feature}-${key}`);
  if (existsSync(join(dir, launcher.replace(/\.java$/, '.class')))) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const staging = `${dir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  await compile(jdk, ['-cp', classpath, '-d', staging, '-nowarn', source]);
  try {
    renameSync(staging, dir);
  } catch (err) {
    // Another process renamed its copy first: same source, same classpath, same JDK, same classes.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(dir)) throw err;
  }
  return dir;
}

function compile(jdk: Jdk, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(jdk.java, ['-m', 'jdk.compiler/com.sun.tools.javac.Main', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`compiling the node launcher with Java ${jdk.feature} failed (exit ${code}):\n${output.trim()}`)),
    );
  });
}
