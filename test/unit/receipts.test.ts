import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADJUSTMENTS_HEADING,
  adjustmentLines,
  breakdownSvg,
  countersTable,
  differencesLocation,
  fromLaunch,
  parityLines,
  partitionLines,
  partitionMarkdownTable,
  summarise,
  writeDifferences,
  writeReceipts,
} from '../../local/receipts';
import type { RunRecord } from '../../lambdas/shared/ledger/ledger';
import type { PartitionItem } from '../../lambdas/shared/ledger/ledger';

const record = {
  runId: 'calls-live',
  targetIndex: 'calls',
  dryRun: false,
  status: 'SUCCEEDED',
  config: {},
  fingerprint: 'f',
  requestHash: 'h',
  startedAt: '2026-05-01T00:00:00.000Z',
  updatedAt: '2026-05-01T00:00:00.000Z',
  counters: { total: 84_987, created: 70_799, updated: 635, deleted: 0, noops: 0, versionConflicts: 13_553, failures: 0, arithmetic: '84,987 = ...' },
} as unknown as RunRecord;

describe('receipts', () => {
  it('prints the counters table with the kept conflicts and the arithmetic', () => {
    const lines = countersTable(summarise(record, { runId: 'calls-live', status: 'SUCCEEDED', error: null, cause: null }));
    expect(lines).toContain('version_conflicts        13,553   (target copy equal or newer: kept)');
    expect(lines.at(-1)).toBe('84,987 = ...');
  });

  it('says so when a run ended before its counters existed', () => {
    expect(countersTable(summarise(undefined, { runId: 'x', status: 'FAILED', error: 'InvalidInput', cause: 'runId is required' }))).toEqual([
      '(no counters: the run ended before its reindex finished)',
    ]);
    expect(parityLines(null)).toEqual(['parity: not checked']);
  });

  it('draws the breakdown as three stacked areas over the poll times, not a progress bar', () => {
    const polls = [0, 1, 2].map((i) => ({
      at: new Date(Date.UTC(2026, 4, 1, 0, i)).toISOString(),
      total: 100,
      created: 30 * i,
      updated: 2 * i,
      versionConflicts: 3 * i,
      failures: 0,
    }));
    const svg = breakdownSvg(polls);
    expect(svg.match(/<polygon /g)).toHaveLength(3);
    expect(svg).toContain('<title>version_conflicts (kept)</title>');
    expect(svg).not.toContain('NaN');
    expect(svg).toContain('+120 s');
  });

  it('starts the chart at the launch, with every counter at zero', () => {
    const polls = [{ at: '2026-05-01T00:00:05.000Z', total: 10, created: 4, updated: 0, versionConflicts: 1, failures: 0 }];
    expect(fromLaunch('2026-05-01T00:00:00.000Z', polls)).toEqual([
      { at: '2026-05-01T00:00:00.000Z', total: 0, created: 0, updated: 0, versionConflicts: 0, failures: 0 },
      ...polls,
    ]);
    expect(fromLaunch(null, polls)).toEqual(polls);
  });
});

const counters = (total: number, created: number, updated: number, versionConflicts: number, failures = 0) => ({
  total,
  created,
  updated,
  deleted: 0,
  noops: 0,
  versionConflicts,
  failures,
});

/** A partitioned run as ReconcileRun records it: p02 needed a second attempt. */
const partitioned = {
  ...record,
  runId: 'calls-parted',
  counters: { ...counters(305, 270, 5, 30), arithmetic: '305 = 270 created + 5 updated + 0 deleted + 0 noops + 30 version_conflicts' },
  partitions: [
    { id: 'p01', kind: 'range', end: '2026-05-10T00:00:00.000Z', expected: 100, status: 'SUCCEEDED', attempts: 1, taskIds: ['n:1'], counters: counters(100, 90, 0, 10) },
    {
      id: 'p02',
      kind: 'range',
      start: '2026-05-10T00:00:00.000Z',
      expected: 200,
      status: 'SUCCEEDED',
      attempts: 2,
      taskIds: ['n:2', 'n:4'],
      counters: counters(200, 175, 5, 20),
      errors: [{ attempt: 1, error: 'TaskLost', cause: 'node restart' }],
    },
    { id: 'p03', kind: 'missing-date', expected: 5, status: 'SUCCEEDED', attempts: 1, taskIds: ['n:3'], counters: counters(5, 5, 0, 0) },
  ],
} as unknown as RunRecord;
const outcome = { runId: 'calls-parted', status: 'SUCCEEDED' as const, error: null, cause: null };
const snap = (at: string, partitionId: string, created: number) => ({ at, partitionId, total: 200, created, updated: 0, versionConflicts: 0, failures: 0 });

describe('receipts of a partitioned run', () => {
  it('tables each partition (range, status, attempts, task ids, counters) and their total in Markdown', () => {
    const table = partitionMarkdownTable(summarise(partitioned, outcome).partitions!);

    expect(table[0]).toBe('| partition | range | status | attempts | task(s) | expected | total | created | updated | version_conflicts | failures |');
    expect(table.slice(2)).toEqual([
      '| p01 | `[-∞, 2026-05-10)` | SUCCEEDED | 1 | `n:1` | 100 | 100 | 90 | 0 | 10 | 0 |',
      '| p02 | `[2026-05-10, +∞)` | SUCCEEDED | 2 | `n:2` `n:4` | 200 | 200 | 175 | 5 | 20 | 0 |',
      '| p03 | `no date field` | SUCCEEDED | 1 | `n:3` | 5 | 5 | 5 | 0 | 0 | 0 |',
      '| **total** | | | 4 | 4 | 305 | **305** | **270** | **5** | **30** | **0** |',
    ]);
  });

  it('ends the terminal partition table with the total row', () => {
    const lines = partitionLines(summarise(partitioned, outcome));

    expect(lines).toHaveLength(5);
    expect(lines.at(-1)).toMatch(/^total +305 +305 +270 +5 +30 +4 {2}4 task\(s\)$/);
  });

  it('shows a partition that has not succeeded with its last error', () => {
    const failed = { ...partitioned, partitions: [{ ...(partitioned.partitions![1] as object), status: 'FAILED' }] } as unknown as RunRecord;
    expect(partitionMarkdownTable(summarise(failed, outcome).partitions!)[2]).toContain('| FAILED (TaskLost) |');
  });

  it('takes the partitions from the ledger\'s items when the run ended before ReconcileRun recorded them', () => {
    const items: PartitionItem[] = [
      { runId: 'r', partitionId: 'p01', kind: 'range', end: '2026-05-10T00:00:00.000Z', query: null, expected: 100, status: 'RUNNING', attempts: 1, taskId: 'n:1', taskIds: ['n:1'], errors: [], updatedAt: 'x', counters: { ...counters(100, 40, 0, 2), arithmetic: 'a' } } as PartitionItem,
      { runId: 'r', partitionId: 'p02', kind: 'missing-date', query: null, expected: 5, status: 'PENDING', attempts: 0, taskIds: [], errors: [], updatedAt: 'x' },
    ];
    const { partitions: _p, ...stopped } = partitioned as unknown as Record<string, unknown>;

    expect(summarise(stopped as unknown as RunRecord, { ...outcome, status: 'ABORTED' }, items).partitions).toEqual([
      { id: 'p01', kind: 'range', end: '2026-05-10T00:00:00.000Z', expected: 100, status: 'RUNNING', attempts: 1, taskIds: ['n:1'], counters: counters(100, 40, 0, 2) },
      { id: 'p02', kind: 'missing-date', expected: 5, status: 'PENDING', attempts: 0, taskIds: [] },
    ]);
    expect(summarise(partitioned, outcome, items).partitions).toHaveLength(3);
    expect(summarise(record, outcome, []).partitions).toBeUndefined();
  });

  it('writes the partition table with its total row, and one breakdown chart per partition from its own snapshots, into the receipts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'receipts-'));
    try {
      const polls = [snap('2026-05-01T00:00:01.000Z', 'p01', 50), snap('2026-05-01T00:00:02.000Z', 'p02', 60), snap('2026-05-01T00:00:03.000Z', 'p01', 90), snap('2026-05-01T00:00:04.000Z', 'p02', 175)];
      const paths = writeReceipts(dir, summarise(partitioned, outcome), polls);
      const markdown = readFileSync(paths.markdown, 'utf8');
      const html = readFileSync(paths.html, 'utf8');

      expect(markdown).toContain('## Partitions (3)');
      expect(markdown).toContain('| **total** | | | 4 | 4 | 305 | **305** | **270** | **5** | **30** | **0** |');
      expect(markdown).toContain('tasks: 4 for 3 partitions (below)');
      expect(html).toMatch(/<tfoot><tr><th>total<\/th>.*<td class="n">305<\/td><td class="n">270<\/td>/);
      expect(html.match(/<tr><td>p0\d<\/td>/g)).toHaveLength(3);
      // The run's chart, then one per partition.
      expect(html.match(/<svg /g)).toHaveLength(4);
      expect(html).toContain('<figcaption>p02 <code>[2026-05-10, +∞)</code> SUCCEEDED, 200 documents, 2 attempts</figcaption>');
      expect(html).not.toContain('NaN');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('draws a compact chart without its own legend', () => {
    const svg = breakdownSvg([snap('2026-05-01T00:00:01.000Z', 'p01', 5), snap('2026-05-01T00:00:09.000Z', 'p01', 9)], 280, 150, { compact: true });

    expect(svg.match(/<polygon /g)).toHaveLength(3);
    expect(svg).not.toContain('<rect');
    expect(svg).toContain('+8 s');
  });
});

/** The target rejected writes: the run went from 4 partition tasks to 2, then rethrottled its last task; p02 stalled once. */
const eased = {
  ...partitioned,
  runId: 'calls-eased',
  config: { partitions: 3, maxConcurrency: 4 },
  plan: { partitions: [] },
  concurrency: {
    current: 2,
    changes: [
      { at: '2026-05-01T00:02:11.123Z', from: 4, to: 3, partitionId: 'p02', reason: 'task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)' },
      { at: '2026-05-01T00:04:02.000Z', from: 3, to: 2, partitionId: 'p01', reason: 'task n:1: retries.bulk grew from 3 to 9 (the target rejected writes)' },
    ],
  },
  throttle: {
    changes: [{ at: '2026-05-01T00:06:30.000Z', taskId: 'n:4', partitionId: 'p02', from: null, to: 250, reason: 'task n:4: retries.bulk grew from 0 to 5 (the target rejected writes)' }],
  },
  stall: { at: '2026-05-01T00:20:00.000Z', since: '2026-05-01T00:05:00.000Z', processed: 40, total: 200, taskId: 'n:2', partitionId: 'p02' },
} as unknown as RunRecord;
const easedOutcome = { ...outcome, runId: 'calls-eased' };

describe('receipts: concurrency, throttle and stalls (the run says so)', () => {
  it('summarises maxConcurrency, the concurrency the run ended at with each change, the rethrottles and the last stall', () => {
    const summary = summarise(eased, easedOutcome);

    expect(summary.concurrency).toEqual({ max: 4, current: 2, changes: eased.concurrency!.changes });
    expect(summary.throttle?.changes).toHaveLength(1);
    expect(summary.stall).toMatchObject({ partitionId: 'p02', since: '2026-05-01T00:05:00.000Z' });
  });

  it('prints them after the partition table: each change with its time, partition and reason', () => {
    expect(adjustmentLines(summarise(eased, easedOutcome))).toEqual([
      'concurrency 4 -> 2: lowered twice because the target rejected writes',
      '  2026-05-01T00:02:11Z  4 -> 3  p02  task n:2: retries.bulk grew from 0 to 12 (the target rejected writes)',
      '  2026-05-01T00:04:02Z  3 -> 2  p01  task n:1: retries.bulk grew from 3 to 9 (the target rejected writes)',
      'rethrottled once because the target rejected writes',
      '  2026-05-01T00:06:30Z  task n:4  p02  unthrottled -> 250 docs/s  task n:4: retries.bulk grew from 0 to 5 (the target rejected writes)',
      'stalled: no counter change on task n:2 (p02) since 2026-05-01T00:05:00Z, reported 2026-05-01T00:20:00Z, 40 of 200 processed',
    ]);
  });

  it('says a partitioned run never lowered its concurrency, and says nothing for a quiet single-task run or a dry run', () => {
    const quiet = { ...partitioned, config: { partitions: 3, maxConcurrency: 2 } } as unknown as RunRecord;
    expect(adjustmentLines(summarise(quiet, outcome))).toEqual(['concurrency 2 (maxConcurrency; never lowered)']);
    expect(adjustmentLines(summarise(record, outcome))).toEqual([]);
    const dry = { ...eased, dryRun: true, partitions: undefined, concurrency: undefined, throttle: undefined, stall: undefined } as unknown as RunRecord;
    expect(summarise(dry, outcome).concurrency).toBeUndefined();
  });

  it('shows a single-task run\'s rethrottle and stall (no partition; an older stall record without its since)', () => {
    const single = {
      ...record,
      throttle: { changes: [{ at: '2026-05-01T00:01:00.000Z', taskId: 'n:7', partitionId: null, from: 2_000, to: 1_000, reason: 'task n:7: retries.bulk grew from 0 to 3 (the target rejected writes)' }] },
      stall: { at: '2026-05-01T00:30:00.000Z', processed: 5_000 },
    } as unknown as RunRecord;

    expect(adjustmentLines(summarise(single, outcome))).toEqual([
      'rethrottled once because the target rejected writes',
      '  2026-05-01T00:01:00Z  task n:7  2,000 docs/s -> 1,000 docs/s  task n:7: retries.bulk grew from 0 to 3 (the target rejected writes)',
      'stalled: no counter change on the task, reported 2026-05-01T00:30:00Z, 5,000 processed',
    ]);
  });

  it('lists each partition\'s own stall when the partitions carry them', () => {
    const parts = (partitioned.partitions as unknown as Array<Record<string, unknown>>).map((p) =>
      p.id === 'p03' ? p : { ...p, stall: { at: `2026-05-01T00:1${String(p.id).slice(2)}:00.000Z`, since: '2026-05-01T00:00:00.000Z', processed: 1, total: 2, taskId: `n:${String(p.id).slice(2)}` } },
    );
    const lines = adjustmentLines(summarise({ ...eased, partitions: parts } as unknown as RunRecord, easedOutcome));

    expect(lines.filter((l) => l.startsWith('stalled:'))).toEqual([
      'stalled: no counter change on task n:1 (p01) since 2026-05-01T00:00:00Z, reported 2026-05-01T00:11:00Z, 1 of 2 processed',
      'stalled: no counter change on task n:2 (p02) since 2026-05-01T00:00:00Z, reported 2026-05-01T00:12:00Z, 1 of 2 processed',
    ]);
  });

  it('writes them into the Markdown and HTML receipts (tables of changes) and the JSON receipt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'receipts-'));
    try {
      const paths = writeReceipts(dir, summarise(eased, easedOutcome), []);
      const markdown = readFileSync(paths.markdown, 'utf8');
      const html = readFileSync(paths.html, 'utf8');
      const json = JSON.parse(readFileSync(paths.json, 'utf8')) as Record<string, unknown>;

      expect(markdown).toContain(`## ${ADJUSTMENTS_HEADING}\n\nPartition concurrency **4 → 2**: lowered twice because the target rejected writes.`);
      expect(markdown).toContain('| 2026-05-01T00:02:11Z | 4 | 3 | p02 | task n:2: retries.bulk grew from 0 to 12 (the target rejected writes) |');
      expect(markdown).toContain('| 2026-05-01T00:06:30Z | `n:4` | p02 | unthrottled | 250 docs/s | task n:4: retries.bulk grew from 0 to 5 (the target rejected writes) |');
      expect(markdown).toContain('- stalled: no counter change on task n:2 (p02) since 2026-05-01T00:05:00Z');
      // After the partition table, before parity.
      expect(markdown.indexOf('## Partitions')).toBeLessThan(markdown.indexOf(`## ${ADJUSTMENTS_HEADING}`));
      expect(markdown.indexOf(`## ${ADJUSTMENTS_HEADING}`)).toBeLessThan(markdown.indexOf('## Parity'));
      expect(html).toContain(`<h2>${ADJUSTMENTS_HEADING}</h2>`);
      expect(html).toContain('<tr><td>2026-05-01T00:04:02Z</td><td class="n">3</td><td class="n">2</td><td>p01</td>');
      expect(html).toContain('<td><code>n:4</code></td><td>p02</td><td class="n">unthrottled</td><td class="n">250 docs/s</td>');
      expect(html).toContain('<li>stalled: no counter change on task n:2 (p02)');
      expect(json).toMatchObject({ concurrency: { max: 4, current: 2 }, throttle: { changes: [{ taskId: 'n:4', to: 250 }] }, stall: { partitionId: 'p02' } });

      const plain = readFileSync(writeReceipts(dir, summarise(record, outcome), []).markdown, 'utf8');
      expect(plain).not.toContain(ADJUSTMENTS_HEADING);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('receipts of a verified run', () => {
  const parity = {
    ok: false,
    mode: 'full',
    counts: { sourceCount: 20_000, targetCount: 19_999, difference: -1, drift: 0.00005, tolerance: 0.0002, ok: true },
    driftingDays: [],
    verification: {
      compared: 20_000,
      classes: { equal: 19_990, targetNewer: 4, sourceNewerByDesign: 0, regression: 3, missing: 3, targetOnly: 4, settled: 2 },
      firstIds: { regression: ['r1', 'r2', 'r3'], missing: ['m1', 'm2', 'm3'], targetOnly: ['t1', 't2', 't3', 't4'] },
      ranges: 12,
      splits: 5,
      invocations: 17,
      differences: 's3://bucket/runs/calls-verify/differences/',
    },
  };
  const verified = { ...record, runId: 'calls-verify', dryRun: true, status: 'FAILED', config: { verifyOnly: true }, parity } as unknown as RunRecord;
  const outcome = { runId: 'calls-verify', status: 'FAILED' as const, error: 'ParityFailed', cause: 'full verification confirmed ...' };

  it('shows the classes, the ranges and where every differing id is listed, and calls a verify-only run so', () => {
    const summary = summarise(verified, outcome);
    expect(summary.verifyOnly).toBe(true);
    expect(parityLines(summary.parity)).toEqual([
      'parity: FAILED (full verification: every document)',
      '  counts   source 20,000, target 19,999, drift 0.0050% (tolerance 0.0200%)',
      '  days     no drifting day',
      '  compared 20,000 source documents by id and version on the target, and every target document on the source',
      '  classes  19,990 equal, 4 newer on the target (kept), 3 regressed, 3 missing, 4 on the target only (2 different at first look, equal on the confirming lookup)',
      '  ranges   12 verified (5 split for density) in 17 invocation(s)',
      '  listed   every differing id: s3://bucket/runs/calls-verify/differences/',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'receipts-'));
    try {
      expect(readFileSync(writeReceipts(dir, summary, []).markdown, 'utf8')).toContain('(verify only)');
      expect(differencesLocation(summary)).toBe('s3://bucket/runs/calls-verify/differences/');
      const path = writeDifferences(dir, 'calls-verify', [{ id: 'm1', class: 'missing', sourceVersion: 3, targetVersion: null }]);
      expect(readFileSync(path, 'utf8')).toBe('{"id":"m1","class":"missing","sourceVersion":3,"targetVersion":null}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
