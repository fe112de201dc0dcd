import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCanonicalRequest, parseOpaqueId, requestHash, opaqueId } from '../../lambdas/shared/planning/canonical-request';
import { isPartitioned, parseRunConfig } from '../../lambdas/shared/runtime/config';
import { InvalidInputError } from '../../lambdas/shared/runtime/errors';
import { partitionRequest, partitionTag, partitionedRequestHash, planFingerprint, runSlotDomain, sumCounters } from '../../lambdas/shared/planning/partitions';
import { taskSlotDomainKey } from '../../lambdas/shared/ledger/task-slots';
import { runSeries } from '../../local/receipts';
import { SLOT_WAIT_MAX_SECONDS, SLOT_WAIT_SECONDS, nextSlotWait } from '../../lambdas/shared/task-loop/task-states';
import { REINDEX_RUN_ASL } from '../../local/pipeline';

const target = { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com', maxTasksPerDomain: 4 };
const valid = {
  runId: 'calls-2026-05-dry',
  source: { url: 'https://es7.internal:9200', index: 'calls-2026-05' },
  target: { index: 'calls-2026-05' },
  dateField: 'timestamp',
};

describe('partitioned run input', () => {
  it('leaves a config without partitions exactly as before (no new keys)', () => {
    const config = parseRunConfig(valid, target);
    expect('partitions' in config || 'maxConcurrency' in config).toBe(false);
    expect(isPartitioned(config)).toBe(false);
    expect(isPartitioned(parseRunConfig({ ...valid, partitions: 1 }, target))).toBe(false);
  });

  it('accepts a number or "auto" and a maxConcurrency up to maxTasksPerDomain', () => {
    expect(parseRunConfig({ ...valid, partitions: 8, maxConcurrency: 4 }, target)).toMatchObject({ partitions: 8, maxConcurrency: 4 });
    expect(isPartitioned(parseRunConfig({ ...valid, partitions: 'auto' }, target))).toBe(true);
  });

  it.each([
    [{ partitions: 0 }, 'partitions'],
    [{ partitions: 33 }, 'partitions'],
    [{ partitions: 'many' }, 'partitions'],
    [{ partitions: 4, maxConcurrency: 5 }, 'maxConcurrency'],
    [{ maxConcurrency: 2 }, 'maxConcurrency'],
    [{ partitions: 4, dateField: null }, 'partitions'],
    [{ approvedFingerprint: 'abc' }, 'approvedFingerprint'],
    [{ approvedFingerprint: 'a'.repeat(64) }, 'approvedFingerprint'],
  ])('refuses %j naming %s', (extra, field) => {
    try {
      parseRunConfig({ ...valid, ...extra }, target);
      throw new Error('expected InvalidInput');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).message).toMatch(new RegExp(`^${field}`));
    }
  });
});

describe('partition requests', () => {
  const config = parseRunConfig({ ...valid, source: { ...valid.source, query: { term: { caller: 'x' } } }, partitions: 4 }, target);
  const base = buildCanonicalRequest(config);

  it('fingerprints the base request plus the spec: another spec, another hash; the base hash is not reused', () => {
    expect(partitionedRequestHash(base, 4)).not.toBe(partitionedRequestHash(base, 5));
    expect(partitionedRequestHash(base, 'auto')).not.toBe(requestHash(base));
  });

  it('fingerprints the plan: each partition\'s id, bounds and query, never its expected count', () => {
    const plan = [
      { id: 'p00', kind: 'range' as const, start: '2026-05-01T00:00:00.000Z', end: '2026-05-16T00:00:00.000Z', query: { range: { timestamp: { gte: '2026-05-01T00:00:00.000Z', lt: '2026-05-16T00:00:00.000Z' } } }, expected: 500 },
      { id: 'p01', kind: 'missing-date' as const, query: { bool: { must_not: { exists: { field: 'timestamp' } } } }, expected: 7 },
    ];
    const approved = planFingerprint('f'.repeat(64), plan);
    expect(approved).toMatch(/^[0-9a-f]{64}$/);
    expect(planFingerprint('f'.repeat(64), plan.map((p) => ({ ...p, expected: p.expected + 1_000 })))).toBe(approved);
    const moved = plan.map((p, i) => (i === 0 ? { ...p, end: '2026-05-17T00:00:00.000Z', query: { range: { timestamp: { gte: p.start, lt: '2026-05-17T00:00:00.000Z' } } } } : p));
    expect(planFingerprint('f'.repeat(64), moved)).not.toBe(approved);
    expect(planFingerprint('e'.repeat(64), plan)).not.toBe(approved);
  });

  it("puts the partition's query in source.query and changes nothing else", () => {
    const query = { bool: { filter: [{ term: { caller: 'x' } }, { range: { timestamp: { gte: '2026-05-10T00:00:00.000Z' } } }] } };
    const one = partitionRequest(base, query);
    expect(one.body.source.query).toEqual(query);
    expect({ ...one, body: { ...one.body, source: { ...one.body.source, query: base.body.source.query } } }).toEqual(base);
    expect(partitionRequest(base, null).body.source).not.toHaveProperty('query');
  });

  it('tags tasks <runId>.<pid>/<hash>, which parses back with the dot in the run id', () => {
    const tag = opaqueId(partitionTag('calls-2026-05.live', 'p03'), 'a'.repeat(64));
    expect(parseOpaqueId(tag)).toEqual({ runId: 'calls-2026-05.live.p03', hash: 'a'.repeat(64) });
  });

  it('keys the run-level slots apart from the domain slots', () => {
    const domain = taskSlotDomainKey(target.endpoint);
    const run = taskSlotDomainKey(runSlotDomain(target.endpoint, 'calls-2026-05-live'));
    expect(run).not.toBe(domain);
    expect(run.startsWith(domain)).toBe(true);
  });

  it('sums counters', () => {
    const c = { total: 3, created: 1, updated: 1, deleted: 0, noops: 0, versionConflicts: 1, failures: 0 };
    expect(sumCounters([c, undefined, c])).toEqual({ total: 6, created: 2, updated: 2, deleted: 0, noops: 0, versionConflicts: 2, failures: 0 });
  });
});

describe('receipts of a partitioned run', () => {
  it('turns per-partition snapshots into the run series (sum of each partition’s latest counters)', () => {
    const snap = (at: string, partitionId: string, created: number) => ({ at, partitionId, total: 10, created, updated: 0, deleted: 0, noops: 0, versionConflicts: 0, failures: 0 });
    const series = runSeries([snap('t1', 'p01', 2), snap('t2', 'p02', 3), snap('t3', 'p01', 5)]);
    expect(series.map((s) => [s.at, s.created, s.total])).toEqual([['t1', 2, 10], ['t2', 5, 20], ['t3', 8, 20]]);
    const plain = [{ at: 't1', created: 1 }];
    expect(runSeries(plain)).toEqual(plain);
  });
});

describe('the task Map of reindex-run.asl.json', () => {
  const asl = JSON.parse(readFileSync(REINDEX_RUN_ASL, 'utf8')) as { States: Record<string, Record<string, unknown>> };
  const map = asl.States.RunReindexTasks as { ItemProcessor: { States: Record<string, Record<string, unknown> & { Type: string; Catch?: Array<{ Next: string }> }> } };

  it('runs every live run\'s tasks after CheckApproval: one task path, partitioned or not', () => {
    expect(asl.States.CheckApproval?.Next).toBe('RunReindexTasks');
    expect(asl.States.RunReindexTasks).toMatchObject({ Type: 'Map', ItemsPath: '$.approval.partitions', Next: 'ReconcileRun' });
    // No iteration waits idle for a run-level slot: each waiting turn would cost 9 history events.
    expect(asl.States.RunReindexTasks).toMatchObject({ MaxConcurrencyPath: '$.approval.maxConcurrency' });
    expect(asl.States.RunReindexTasks).not.toHaveProperty('MaxConcurrency');
    expect(asl.States.ReconcileRun?.Next).toBe('CheckParity');
    const launches = JSON.stringify(asl).match(/\$\{LaunchReindexFunctionArn\}/g) ?? [];
    expect(launches).toHaveLength(1);
    expect(Object.keys(asl.States).filter((name) => /Single|Partition/.test(name))).toEqual([]);
  });

  it('has each task hold a domain task slot from before its launch until it is reconciled', () => {
    const s = map.ItemProcessor.States;
    expect(s.AcquireTaskSlot).toMatchObject({ Parameters: { FunctionName: '${AcquireTaskSlotFunctionArn}' }, Next: 'IsTaskSlotAcquired' });
    expect(s.IsTaskSlotAcquired).toMatchObject({ Default: 'WaitForTaskSlot', Choices: [{ Variable: '$.slot.acquired', Next: 'LaunchReindex' }] });
    expect(s.WaitForTaskSlot).toMatchObject({ Type: 'Wait', SecondsPath: '$.slot.waitSeconds', Next: 'AcquireTaskSlot' });
    expect(s.LaunchReindex).toMatchObject({ Next: 'CheckHeader' });
    expect(s.IsTaskComplete).toMatchObject({ Default: 'WaitForProgress', Choices: [{ Variable: '$.poll.completed', Next: 'ReconcileTask' }] });
    expect(s.ReconcileTask).toMatchObject({ Next: 'ReleaseTaskSlot' });
    expect(s.ReleaseTaskSlot).toMatchObject({ Parameters: { FunctionName: '${ReleaseTaskSlotFunctionArn}' }, Next: 'TaskDone' });
  });

  it('catches every failure of an iteration task into RecordTaskFailure (an iteration never fails the Map)', () => {
    const tasks = Object.entries(map.ItemProcessor.States).filter(([name, s]) => s.Type === 'Task' && name !== 'RecordTaskFailure');
    expect(tasks.length).toBeGreaterThan(5);
    for (const [, s] of tasks) expect(s.Catch?.map((c) => c.Next)).toEqual(['RecordTaskFailure']);
  });
});

describe('waiting for a task slot', () => {
  it('doubles the wait from the first try up to the cap (few history events for a long wait)', () => {
    const waits: number[] = [];
    let wait: number | undefined;
    for (let i = 0; i < 8; i++) waits.push((wait = nextSlotWait(wait)));
    expect(waits).toEqual([SLOT_WAIT_SECONDS, 30, 60, 120, 240, SLOT_WAIT_MAX_SECONDS, SLOT_WAIT_MAX_SECONDS, SLOT_WAIT_MAX_SECONDS]);
    expect(SLOT_WAIT_MAX_SECONDS).toBe(300);
    expect(nextSlotWait(0)).toBe(SLOT_WAIT_SECONDS);
  });
});
