import { describe, expect, it } from 'vitest';
import type { PartitionItem, PollSnapshot, RunRecord } from '../../lambdas/shared/ledger/ledger';
import type { RunProgress } from '../../lambdas/shared/task-loop/stall';
import { PARTITION_LEGEND, partitionPollLine, PartitionPollLines, partitionStatusLine, RecordEventLines, RUN_EVENTS, runEventLine, SnapshotPollLines, type PartitionPoll } from '../../local/cli/poll-lines';

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

const item = (partitionId: string, status: PartitionItem['status'], expected: number, extra: Partial<PartitionItem> = {}): PartitionItem => ({
  runId: 'parted',
  partitionId,
  kind: 'range',
  query: null,
  expected,
  status,
  attempts: 1,
  taskId: `n:${partitionId}`,
  taskIds: [`n:${partitionId}`],
  errors: [],
  updatedAt: '2026-06-01T10:00:00.000Z',
  ...extra,
});
const snapshot = (at: string, partitionId: string, created: number, total: number, completed = false, taskId = `n:${partitionId}`): PollSnapshot => ({
  at: `2026-06-01T${at}.000Z`,
  partitionId,
  taskId,
  completed,
  total,
  created,
  updated: 0,
  deleted: 0,
  noops: 0,
  versionConflicts: 0,
  failures: 0,
});
const full = (total: number) => ({ total, created: total, updated: 0, deleted: 0, noops: 0, versionConflicts: 0, failures: 0 });

describe('SnapshotPollLines: a partitioned run\'s poll lines from the ledger (aws start --wait)', () => {
  it('replays the snapshots as the local CLI prints the log lines: at each snapshot\'s time, the run\'s progress as of then', () => {
    // Read after the run: both partitions SUCCEEDED with their final counters; the replay still shows the way there.
    const items = [item('p01', 'SUCCEEDED', 100, { counters: full(100) }), item('p02', 'SUCCEEDED', 50, { counters: full(50) })];
    const out: string[] = [];
    const lines = new SnapshotPollLines((l) => out.push(l));

    lines.snapshot(snapshot('10:00:01', 'p01', 40, 100), items);
    expect(out).toEqual([]);
    lines.snapshot(snapshot('10:00:02', 'p02', 20, 50), items);
    lines.snapshot(snapshot('10:00:03', 'p01', 100, 100, true), items);
    lines.snapshot(snapshot('10:00:04', 'p02', 50, 50, true), items);

    expect(out).toEqual([
      PARTITION_LEGEND,
      '  10:00:02  60 of 150 (40.0%)  created 60  updated 0  version_conflicts 0  ·  partitions 0 done, 2 running, 0 waiting  ·  p01 40/100 c 40 u 0 vc 0  ·  p02 20/50 c 20 u 0 vc 0',
      '  10:00:03  120 of 150 (80.0%)  created 120  updated 0  version_conflicts 0  ·  partitions 1 done, 1 running, 0 waiting  ·  p01 done 100/100 c 100 u 0 vc 0  ·  p02 20/50 c 20 u 0 vc 0',
      '  10:00:04  150 of 150 (100.0%)  created 150  updated 0  version_conflicts 0  ·  partitions 2 done, 0 running, 0 waiting  ·  p02 done 50/50 c 50 u 0 vc 0',
    ]);
  });

  it('counts a partition not yet launched as waiting, and drops a partition waiting for its retry until its next task polls', () => {
    const out: string[] = [];
    const lines = new SnapshotPollLines((l) => out.push(l));
    const first = [item('p01', 'RUNNING', 100), item('p02', 'RUNNING', 50), item('p03', 'PENDING', 10, { attempts: 0, taskId: undefined, taskIds: [] })];

    lines.snapshot(snapshot('10:00:01', 'p01', 40, 100), first);
    lines.snapshot(snapshot('10:00:02', 'p02', 20, 50), first);
    expect(out.at(-1)).toContain('partitions 0 done, 2 running, 1 waiting');

    const retrying = [item('p01', 'RETRYING', 100), first[1]!, first[2]!];
    lines.settle(retrying);
    lines.snapshot(snapshot('10:00:12', 'p02', 30, 50), retrying);
    expect(out.at(-1)).toContain('partitions 0 done, 1 running, 2 waiting');
    expect(out.at(-1)).not.toContain('p01');

    const relaunched = [item('p01', 'RUNNING', 100, { attempts: 2, taskId: 'n:9', taskIds: ['n:p01', 'n:9'] }), first[1]!, first[2]!];
    lines.snapshot(snapshot('10:00:20', 'p01', 5, 100, false, 'n:9'), relaunched);
    lines.snapshot(snapshot('10:00:21', 'p02', 35, 50), relaunched);
    expect(out.at(-1)).toMatch(/ {2}· {2}p01 5\/100 .* {2}· {2}p02 35\/50 /);
  });
});

describe('partitionStatusLine (aws status)', () => {
  it('shows the run\'s progress now and each running partition\'s, from the partition items', () => {
    const items = [
      item('p01', 'SUCCEEDED', 100, { counters: full(100) }),
      item('p02', 'RUNNING', 50, { counters: { ...full(50), created: 10, versionConflicts: 5 } }),
      item('p03', 'PENDING', 10, { attempts: 0, taskId: undefined, taskIds: [] }),
    ];
    expect(partitionStatusLine('10:00:25', items)).toBe(
      '  10:00:25  115 of 160 (71.8%)  created 110  updated 0  version_conflicts 5  ·  partitions 1 done, 1 running, 1 waiting  ·  p02 15/50 c 10 u 0 vc 5',
    );
  });
});

describe('RecordEventLines (aws start --wait): the run record\'s changes and stalls, each once, in time order', () => {
  it('prints what is new since the last look', () => {
    const events = new RecordEventLines();
    const record = {
      runId: 'parted',
      concurrency: { current: 3, changes: [{ at: '2026-06-01T10:02:11.000Z', ...LOWERED }] },
      stall: { at: '2026-06-01T10:01:30.000Z', since: '2026-06-01T09:46:30.000Z', processed: 7, total: 9, taskId: 'n:p02', partitionId: 'p02' },
    } as unknown as RunRecord;
    const items = [item('p02', 'RUNNING', 9, { stall: { at: '2026-06-01T10:01:30.000Z', since: '2026-06-01T09:46:30.000Z', processed: 7, total: 9, taskId: 'n:p02' } })];

    expect(events.lines(record, items)).toEqual([
      '  ! 10:01:30  stalled: no counter change on task n:p02 (p02) since 2026-06-01T09:46:30Z, 7 of 9 processed',
      '  ! 10:02:11  concurrency 4 -> 3  p02  task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)',
    ]);
    expect(events.lines(record, items)).toEqual([]);

    const later = { ...record, throttle: { changes: [{ at: '2026-06-01T10:05:00.000Z', taskId: 'n:p01', partitionId: 'p01', from: null, to: 250, reason: 'r' }] } } as unknown as RunRecord;
    expect(events.lines(later, items)).toEqual(['  ! 10:05:00  rethrottled task n:p01  p01  unthrottled -> 250 docs/s  r']);
  });
});
