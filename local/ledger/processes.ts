import { readFileSync } from 'node:fs';

/**
 * When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22), on Linux; else
 * undefined. Stored beside a pid it tells a reused pid from the process that was meant.
 */
export function processStartTime(pid: number): number | undefined {
  const stat = procStat(pid);
  const startTime = stat?.[19];
  return startTime === undefined ? undefined : Number(startTime);
}

/**
 * True while the process runs: it exists (signal 0; EPERM means it exists under another user), is not
 * a zombie, and when `startTime` is given (see `processStartTime`) it is still the same process.
 */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (!stat) return true; // no /proc (macOS): signal 0 is all there is
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return startTime === undefined || Number(stat[19]) === startTime;
}

/** The fields of /proc/<pid>/stat after the command name (state first), or undefined. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return undefined;
  }
}
