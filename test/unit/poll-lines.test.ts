import { describe, expect, it } from 'vitest';
import type { RunProgress } from '../../lambdas/shared/partition-progress';
import { PARTITION_LEGEND, PartitionPollLines, partitionPollLine, RUN_EVENTS, runEventLine, type PartitionPoll } from '../../local/cli/poll-lines';

// local/cli/safe-reindex.mjs (the bin) sits beside safe-reindex.ts and wins the extensionless import.
const CLI_MODULE = '../../local/cli/safe-reindex.ts';
const { terminalLog } = (await import(/* @vite-ignore */ CLI_MODULE)) as typeof import('../../local/cli/safe-reindex');

const run = (r: Partial<RunProgress> = {}): RunProgress => ({
  partitions: 5,
  done: 1,
  running: 2,
  waiting: 2,
  failed: 0,
  processed: 41_200,
  total: 84_987,
  percent: 48.4,
  created: 35_000,
  updated: 300,
  deleted: 0,
  noops: 0,
  versionConflicts: 5_900,
  failures: 0,
  ...r,
});
const poll = (partitionId: string, p: Partial<PartitionPoll> = {}): PartitionPoll => ({
  partitionId,
  taskId: `n:${partitionId}`,
  completed: false,
  total: 16_400,
  created: 9_000,
  updated: 100,
  versionConflicts: 700,
  failures: 0,
  processed: 9_800,
  expected: 16_400,
  ...p,
});

describe('partitionPollLine', () => {
  it('shows the run\'s progress and breakdown, its partitions by state, and each partition\'s progress and breakdown', () => {
    expect(partitionPollLine('12:00:03', run(), [poll('p02'), poll('p03', { completed: true, processed: 17_100, total: 17_100, created: 16_000, updated: 300, versionConflicts: 800 })])).toBe(
      '  12:00:03  41,200 of 84,987 (48.4%)  created 35,000  updated 300  version_conflicts 5,900  ·  partitions 1 done, 2 running, 2 waiting' +
        '  ·  p02 9,800/16,400 c 9,000 u 100 vc 700  ·  p03 done 17,100/17,100 c 16,000 u 300 vc 800',
    );
  });

  it('names failures and failed partitions only when there are some, and the expected count until the task reports its total', () => {
    const line = partitionPollLine('12:00:03', run({ failures: 3, failed: 1 }), [poll('p04', { total: 0, processed: 0, created: 0, updated: 0, versionConflicts: 0, failures: 3, expected: 5_000 })]);

    expect(line).toContain('version_conflicts 5,900  failures 3  ·  partitions 1 done, 2 running, 2 waiting, 1 failed');
    expect(line).toContain('p04 0/5,000 c 0 u 0 vc 0 f 3');
    expect(partitionPollLine('12:00:03', run(), [poll('p01')])).not.toMatch(/fail/);
  });

  it('says so when the run totals could not be read', () => {
    expect(partitionPollLine('12:00:03', undefined, [poll('p01')])).toBe('  12:00:03  run totals unavailable  ·  p01 9,800/16,400 c 9,000 u 100 vc 700');
  });
});

describe('PartitionPollLines: one line per turn of the poll loop, not one per partition poll', () => {
  const printer = () => {
    const out: string[] = [];
    return { out, lines: new PartitionPollLines((line) => out.push(line), () => '12:00:00') };
  };

  it('prints once every running partition has polled, with the legend before the first line', () => {
    const { out, lines } = printer();
    lines.poll(poll('p01', { run: run({ running: 2 }) }));
    expect(out).toEqual([]);
    lines.poll(poll('p02', { run: run({ running: 2 }) }));
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(PARTITION_LEGEND);
    expect(out[1]).toMatch(/  ·  p01 .*  ·  p02 /);

    lines.poll(poll('p02', { processed: 10_000, run: run({ running: 2 }) }));
    lines.poll(poll('p01', { run: run({ running: 2 }) }));
    expect(out).toHaveLength(3);
    expect(out[2]).toContain('p02 10,000/16,400');
  });

  it('prints when a partition polls again before the others (a fast partition does not wait for a slow one)', () => {
    const { out, lines } = printer();
    lines.poll(poll('p01', { run: run({ running: 3 }) }));
    lines.poll(poll('p01', { processed: 12_000, run: run({ running: 3 }) }));
    expect(out.slice(1)).toEqual([expect.stringContaining('p01 12,000/16,400')]);
  });

  it('prints at once when a partition\'s task finishes, shows it done once, then leaves it out', () => {
    const { out, lines } = printer();
    lines.poll(poll('p01', { run: run({ running: 2 }) }));
    lines.poll(poll('p02', { completed: true, processed: 16_400, run: run({ running: 1, done: 2 }) }));
    expect(out.at(-1)).toContain('p02 done 16,400/16,400');
    lines.poll(poll('p01', { processed: 15_000, run: run({ running: 1, done: 2 }) }));
    expect(out.at(-1)).toContain('p01 15,000/16,400');
    expect(out.at(-1)).not.toContain('p02');
  });

  it('counts a partition done once its finish was seen, though the ledger still has it running until its reconcile', () => {
    const { out, lines } = printer();
    lines.poll(poll('p03', { completed: true, run: run({ done: 1, running: 1, waiting: 2 }) }));
    // p01's poll read the ledger before p03 was reconciled: p01 is the one done there, p03 still running.
    lines.poll(poll('p01', { completed: true, run: run({ done: 1, running: 1, waiting: 2 }) }));
    expect(out.slice(1)).toEqual([
      expect.stringContaining('partitions 1 done, 1 running, 2 waiting  ·  p03 done'),
      expect.stringContaining('partitions 2 done, 0 running, 2 waiting  ·  p01 done'),
    ]);
  });

  it('prints every poll when one partition runs (as a single-task run), and drops a failed partition until its retry polls', () => {
    const { out, lines } = printer();
    lines.poll(poll('p01', { run: run({ running: 2 }) }));
    lines.failed('p01');
    lines.poll(poll('p02', { run: run({ running: 1 }) }));
    lines.poll(poll('p02', { processed: 11_000, run: run({ running: 1 }) }));
    expect(out.slice(1)).toHaveLength(2);
    expect(out.slice(1).every((l) => !l.includes('p01'))).toBe(true);
  });
});

describe('terminalLog', () => {
  it('keeps the single-task poll line, and turns a partitioned run\'s poll lines into one line per turn', () => {
    const out: string[] = [];
    const err: string[] = [];
    const log = terminalLog((l) => out.push(l), (l) => err.push(l));

    log.info('poll', { runId: 'one', taskId: 'n:1', completed: false, total: 150, created: 120, updated: 5, versionConflicts: 25 });
    expect(out.at(-1)).toMatch(/^ {2}\d\d:\d\d:\d\d {2}created 120 {2}updated 5 {2}version_conflicts 25 {2}of 150$/);

    log.info('poll', { runId: 'parted', ...poll('p01'), run: run({ running: 2 }) });
    expect(out).toHaveLength(1);
    log.warn('partition failed: retrying it alone', { runId: 'parted', partitionId: 'p01' });
    log.info('poll', { runId: 'parted', ...poll('p02'), run: run({ running: 1 }) });
    expect(out.slice(1)).toEqual([PARTITION_LEGEND, expect.stringMatching(/^ {2}\d\d:\d\d:\d\d {2}41,200 of 84,987 \(48\.4%\).* {2}· {2}p02 9,800\/16,400 c 9,000 u 100 vc 700$/)]);
    expect(err.some((l) => l.startsWith('! partition failed'))).toBe(true);
  });
});

const LOWERED = { runId: 'parted', partitionId: 'p02', from: 4, to: 3, reason: 'task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)' };
const RETHROTTLED = { runId: 'one', partitionId: null, taskId: 'n:7', from: 2_000, to: 1_000, reason: 'task n:7: retries.bulk grew from 0 to 3 (the target rejected writes)' };
const STALLED = { runId: 'parted', partitionId: 'p02', taskId: 'n:2', since: '2026-06-01T10:01:00.000Z', processed: 4_000, total: 16_400, stallMinutes: 15 };

describe('runEventLine: a lowered concurrency, a rethrottle and a stall among the poll lines', () => {
  it('says each with its partition, task and reason; nothing for other warnings', () => {
    expect(runEventLine('10:02:11', RUN_EVENTS.lowered, LOWERED)).toBe(
      '  ! 10:02:11  concurrency 4 -> 3  p02  task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)',
    );
    expect(runEventLine('10:03:00', RUN_EVENTS.rethrottled, RETHROTTLED)).toBe(
      '  ! 10:03:00  rethrottled task n:7  2,000 docs/s -> 1,000 docs/s  task n:7: retries.bulk grew from 0 to 3 (the target rejected writes)',
    );
    expect(runEventLine('10:03:00', RUN_EVENTS.rethrottled, { ...RETHROTTLED, partitionId: 'p01', from: 'unthrottled', to: 250 })).toContain(
      'rethrottled task n:7  p01  unthrottled -> 250 docs/s  ',
    );
    expect(runEventLine('10:16:00', RUN_EVENTS.stalled, STALLED)).toBe(
      '  ! 10:16:00  stalled: no counter change on task n:2 (p02) since 2026-06-01T10:01:00Z, 4,000 of 16,400 processed',
    );
    expect(runEventLine('10:16:00', 'partition failed: retrying it alone', { partitionId: 'p01' })).toBeUndefined();
  });

  it('terminalLog prints them on stdout among the poll lines and keeps the warning with its fields on stderr; with --json (one stream) only the warning', () => {
    const out: string[] = [];
    const err: string[] = [];
    terminalLog((l) => out.push(l), (l) => err.push(l)).warn(RUN_EVENTS.lowered, LOWERED);
    expect(out).toEqual([expect.stringMatching(/^ {2}! \d\d:\d\d:\d\d {2}concurrency 4 -> 3 {2}p02 {2}task n:2: /)]);
    expect(err).toEqual([`! ${RUN_EVENTS.lowered} ${JSON.stringify(LOWERED)}`]);

    const both: string[] = [];
    const note = (l: string) => void both.push(l);
    terminalLog(note, note).warn(RUN_EVENTS.stalled, STALLED);
    expect(both).toEqual([`! ${RUN_EVENTS.stalled} ${JSON.stringify(STALLED)}`]);
  });
});
