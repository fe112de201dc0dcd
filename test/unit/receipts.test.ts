import { describe, expect, it } from 'vitest';
import { breakdownSvg, countersTable, fromLaunch, parityLines, summarise } from '../../local/receipts';
import type { RunRecord } from '../../lambdas/shared/ledger';

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
