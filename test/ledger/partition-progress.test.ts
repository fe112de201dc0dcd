import { randomUUID } from 'node:crypto';
import type { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollTask } from '../../lambdas/poll-task/poll-task';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { ZERO_COUNTERS } from '../../lambdas/shared/checks/counters';
import { Ledger, type PartitionItem, type StoredConfig } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import { percent, reportPartitionPoll, runProgress } from '../../lambdas/shared/task-loop/stall';
import type { RunDeps, RunLog, StateInvocation } from '../../lambdas/shared/runtime/run-context';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import { collectingMetrics, localDocumentClient } from '../../local/pipeline';

/** Partition progress: run totals as metrics, per-partition values in the poll log line. */

const now = new Date('2026-06-01T00:00:00Z');
const HASH = 'a'.repeat(64);
const counters = (c: Partial<Record<'total' | 'created' | 'updated' | 'versionConflicts' | 'failures', number>>) => ({ ...ZERO_COUNTERS, ...c });
const item = (partitionId: string, status: PartitionItem['status'], expected: number, c?: ReturnType<typeof counters>): PartitionItem => ({
  runId: 'r',
  partitionId,
  kind: 'range',
  query: null,
  expected,
  status,
  attempts: status === 'PENDING' ? 0 : 1,
  taskIds: [],
  errors: [],
  updatedAt: now.toISOString(),
  ...(c ? { counters: c } : {}),
});

describe('runProgress', () => {
  it('sums every partition\'s latest counters, the polled one taken from the poll, and counts partitions by state', () => {
    const parts = [
      item('p01', 'SUCCEEDED', 100, counters({ total: 100, created: 90, versionConflicts: 10 })),
      item('p02', 'RUNNING', 200, counters({ total: 200, created: 50 })),
      item('p03', 'RETRYING', 40, counters({ total: 40, created: 3, failures: 2 })),
      item('p04', 'PENDING', 5),
    ];
    const progress = runProgress(parts, { partitionId: 'p02', completed: false, counters: counters({ total: 200, created: 120, updated: 5, versionConflicts: 15 }) });

    expect(progress).toEqual({
      partitions: 4,
      done: 1,
      running: 1,
      waiting: 2,
      failed: 0,
      processed: 100 + 140 + 3,
      total: 100 + 200 + 40 + 5,
      percent: 70.4,
      created: 90 + 120 + 3,
      updated: 5,
      deleted: 0,
      noops: 0,
      versionConflicts: 25,
      failures: 2,
    });
  });

  it('counts the polled partition done when its task completed, and uses its expected count until its task reports a total', () => {
    const parts = [item('p01', 'RUNNING', 10, counters({ total: 10, created: 10 })), item('p02', 'RUNNING', 7)];
    const progress = runProgress(parts, { partitionId: 'p01', completed: true, counters: counters({ total: 10, created: 10 }) });

    expect(progress).toMatchObject({ done: 1, running: 1, processed: 10, total: 17, percent: 58.8 });
  });

  it('rounds the percentage down: 100 only when everything is processed', () => {
    expect([percent(0, 0), percent(999, 1000), percent(1000, 1000), percent(1, 3)]).toEqual([0, 99.9, 100, 33.3]);
  });
});

describe('PollPartition on the ledger (dynalite)', () => {
  let server: LocalLedger;
  let ledger: Ledger;
  const runId = 'calls-2026-05-live';
  const targetIndex = 'calls-2026-05';

  beforeAll(async () => {
    server = await startLocalLedger();
    const client = localDocumentClient(server.endpoint);
    const tableName = `ledger-${randomUUID()}`;
    await createLedgerTable(client, tableName);
    ledger = new Ledger({ client, tableName });
    const config = parseRunConfig(
      { runId, source: { url: 'http://127.0.0.1:9200', index: targetIndex }, target: { index: targetIndex }, dateField: 'timestamp', partitions: 3, maxConcurrency: 2, dryRun: false },
      { endpoint: 'http://127.0.0.1:9201' },
    );
    await ledger.createRun({
      runId,
      targetIndex,
      dryRun: false,
      config: JSON.parse(JSON.stringify(config)) as StoredConfig,
      fingerprint: 'f',
      requestHash: 'h',
      startedAt: now.toISOString(),
    });
    await ledger.putPartitions(
      runId,
      [
        { id: 'p01', kind: 'range', end: '2026-05-10T00:00:00.000Z', query: null, expected: 100 },
        { id: 'p02', kind: 'range', start: '2026-05-10T00:00:00.000Z', query: null, expected: 200 },
        { id: 'p03', kind: 'missing-date', query: null, expected: 5 },
      ],
      now,
    );
    await ledger.updatePartition(runId, 'p01', { status: 'SUCCEEDED', attempts: 1, taskIds: ['n:1'], counters: counters({ total: 100, created: 90, versionConflicts: 10 }) }, now);
    await ledger.updatePartition(runId, 'p02', { status: 'RUNNING', attempts: 1, taskId: 'n:2', taskIds: ['n:2'], counters: counters({ total: 200, created: 50 }) }, now);
  });

  afterAll(async () => {
    ledger?.client.destroy();
    await server?.stop();
  });

  /** A target whose task n:2 answers with these server counters; no other reindex runs. */
  function target(status: Record<string, number>, completed: boolean): Client {
    const task = { headers: { 'X-Opaque-Id': `${runId}.p02/${HASH}` }, status, description: `reindex from [source] to [${targetIndex}]` };
    return {
      tasks: {
        get: async () => ({ body: completed ? { completed, task, response: { ...status, failures: [] } } : { completed, task } }),
        list: async () => ({ body: { nodes: {} } }),
        cancel: async () => ({ body: {} }),
      },
    } as unknown as Client;
  }

  function deps(client: Client) {
    const metrics = collectingMetrics();
    const lines: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const log: RunLog = { info: (message, fields = {}) => void lines.push({ message, fields }), warn: (message, fields = {}) => void lines.push({ message, fields }) };
    const d = { ledger, target: client, targetEndpoint: 'http://127.0.0.1:9201', metrics, log, now: () => now } as unknown as RunDeps;
    return { d, metrics, lines };
  }

  const invocation: StateInvocation = {
    state: {
      run: { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' },
      partition: { id: 'p02', kind: 'range', start: '2026-05-10T00:00:00.000Z' },
      launch: { taskId: 'n:2' },
      poll: {
        completed: false,
        waitSeconds: 5,
        longPollSeconds: 0,
        cursor: { launchedAtMs: now.getTime() - 60_000, previous: null, mark: null, totalChecked: false, polls: 0, stallReported: false },
      },
    },
  };

  it('emits the run totals (every partition\'s latest counters summed) and logs the partition\'s and the run\'s progress', async () => {
    const { d, metrics, lines } = deps(target({ total: 200, created: 120, updated: 5, version_conflicts: 15 }, false));

    await pollTask(invocation, d);

    expect(metrics.emitted).toEqual([
      { targetIndex, name: 'Created', value: 210 },
      { targetIndex, name: 'Updated', value: 5 },
      { targetIndex, name: 'VersionConflicts', value: 25 },
      { targetIndex, name: 'Failures', value: 0 },
    ]);
    const poll = lines.find((l) => l.message === 'poll')!.fields;
    expect(poll).toMatchObject({ runId, targetIndex, partitionId: 'p02', taskId: 'n:2', attempt: 1, completed: false, total: 200, created: 120, processed: 140, expected: 200, percent: 70 });
    expect(poll.run).toMatchObject({ partitions: 3, done: 1, running: 1, waiting: 1, processed: 240, total: 305, percent: 78.6, created: 210, versionConflicts: 25 });
  });

  it('emits the run\'s cumulative sum again on the next poll (a gauge: never the snapshots added up)', async () => {
    const { d, metrics, lines } = deps(target({ total: 200, created: 170, updated: 5, version_conflicts: 25 }, true));

    await pollTask(invocation, d);

    expect(Object.fromEntries(metrics.emitted.map((m) => [m.name, m.value]))).toEqual({ Created: 260, Updated: 5, VersionConflicts: 35, Failures: 0 });
    expect(lines.find((l) => l.message === 'poll')!.fields.run).toMatchObject({ done: 2, running: 0, waiting: 1, processed: 300, total: 305 });
  });

  it('still logs the partition\'s poll line, without run totals or metrics, when the ledger cannot be read', async () => {
    const { d, metrics, lines } = deps(target({}, false));
    const broken = { ...d, ledger: { client: { send: async () => Promise.reject(new Error('ProvisionedThroughputExceeded')) }, tableName: 't' } } as unknown as RunDeps;
    const part = item('p02', 'RUNNING', 200);

    await reportPartitionPoll(broken, { runId, targetIndex, partitionId: 'p02', taskId: 'n:2', partition: part, completed: false, counters: counters({ total: 200, created: 1 }) });

    expect(metrics.emitted).toEqual([]);
    expect(lines.map((l) => l.message)).toEqual(['poll: the run totals could not be read from the ledger', 'poll']);
    expect(lines[1]!.fields).toMatchObject({ partitionId: 'p02', created: 1, percent: 0.5 });
    expect(lines[1]!.fields.run).toBeUndefined();
  });
});
