import { randomUUID } from 'node:crypto';
import type { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollTask } from '../../lambdas/poll-task/poll-task';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { Ledger, type StoredConfig } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { PollState, RunDeps, RunLog, StateInvocation } from '../../lambdas/shared/runtime/run-context';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import { collectingMetrics, localDocumentClient } from '../../local/pipeline';

/**
 * Stalls (no counter change for guards.stallMinutes) through the real poll handlers on the local ledger
 * (dynalite), the clock faked: a partition's stall is reported like a single-task run's, once per stall,
 * with its partition id, on the partition item and on the run, as `Stalled` on the target index.
 */

const HASH = 'a'.repeat(64);
const LAUNCH = Date.parse('2026-06-01T10:00:00.000Z');
const targetIndex = 'calls-2026-05';

let server: LocalLedger;
let ledger: Ledger;

beforeAll(async () => {
  server = await startLocalLedger();
  const client = localDocumentClient(server.endpoint);
  const tableName = `ledger-${randomUUID()}`;
  await createLedgerTable(client, tableName);
  ledger = new Ledger({ client, tableName });
});

afterAll(async () => {
  ledger?.client.destroy();
  await server?.stop();
});

async function createRun(runId: string, input: Record<string, unknown>): Promise<void> {
  const config = parseRunConfig(
    { runId, source: { url: 'http://127.0.0.1:9200', index: targetIndex }, target: { index: targetIndex }, dateField: 'timestamp', dryRun: false, guards: { stallMinutes: 15 }, ...input },
    { endpoint: 'http://127.0.0.1:9201' },
  );
  await ledger.createRun({
    runId,
    targetIndex,
    dryRun: false,
    config: JSON.parse(JSON.stringify(config)) as StoredConfig,
    fingerprint: 'f',
    requestHash: 'h',
    startedAt: new Date(LAUNCH).toISOString(),
    baselines: { sourceCount: 300, targetCount: 0 },
  });
}

/** A target whose one running task (tagged `tag`) answers these counters; no other reindex runs. */
function target(tag: string, status: () => Record<string, number>): Client {
  const task = () => ({ headers: { 'X-Opaque-Id': `${tag}/${HASH}` }, status: status(), description: `reindex from [source] to [${targetIndex}]` });
  return {
    tasks: {
      get: async () => ({ body: { completed: false, task: task() } }),
      list: async () => ({ body: { nodes: {} } }),
      cancel: async () => ({ body: {} }),
    },
  } as unknown as Client;
}

function harness(client: Client) {
  let nowMs = LAUNCH;
  const metrics = collectingMetrics();
  const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const log: RunLog = { info: () => undefined, warn: (message, fields = {}) => void warnings.push({ message, fields }) };
  const deps = { ledger, target: client, targetEndpoint: 'http://127.0.0.1:9201', metrics, log, now: () => new Date(nowMs) } as unknown as RunDeps;
  return { deps, metrics, warnings, at: (seconds: number) => void (nowMs = LAUNCH + seconds * 1000) };
}

const firstCursor: PollState = {
  completed: false,
  waitSeconds: 5,
  longPollSeconds: 0,
  cursor: { launchedAtMs: LAUNCH, previous: null, mark: null, totalChecked: true, polls: 0, stallReported: false },
};

/** Polls as the state machine does: the state (and its cursor) through JSON from one poll to the next. */
async function pollAt(
  h: ReturnType<typeof harness>,
  poll: (invocation: StateInvocation, deps: RunDeps) => Promise<PollState>,
  invocation: StateInvocation,
  seconds: number,
): Promise<StateInvocation> {
  h.at(seconds);
  const next = await poll(invocation, h.deps);
  return JSON.parse(JSON.stringify({ ...invocation, state: { ...invocation.state, poll: next } })) as StateInvocation;
}

describe('PollPartition reports a stalled partition', () => {
  it('once per stall: Stalled on the index, a warning with the partition id, the stall on the partition item and on the run', async () => {
    const runId = 'calls-2026-05-stalled';
    await createRun(runId, { partitions: 2, maxConcurrency: 2 });
    await ledger.putPartitions(
      runId,
      [
        { id: 'p01', kind: 'range', end: '2026-05-16T00:00:00.000Z', query: null, expected: 150 },
        { id: 'p02', kind: 'range', start: '2026-05-16T00:00:00.000Z', query: null, expected: 150 },
      ],
      new Date(LAUNCH),
    );
    for (const id of ['p01', 'p02']) {
      await ledger.updatePartition(runId, id, { status: 'RUNNING', attempts: 1, taskId: `n:${id}`, taskIds: [`n:${id}`], launchedAt: new Date(LAUNCH).toISOString() }, new Date(LAUNCH));
    }
    let created = 40;
    const h = harness(target(`${runId}.p02`, () => ({ total: 150, created, updated: 0, version_conflicts: 0 })));
    let invocation: StateInvocation = {
      state: {
        run: { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' },
        partition: { id: 'p02', kind: 'range', start: '2026-05-16T00:00:00.000Z' },
        launch: { taskId: 'n:p02' },
        poll: firstCursor,
      },
    };
    const stalled = () => h.metrics.emitted.filter((m) => m.name === 'Stalled');

    invocation = await pollAt(h, pollTask, invocation, 60);
    invocation = await pollAt(h, pollTask, invocation, 60 + 14 * 60);
    expect(stalled()).toEqual([]);

    invocation = await pollAt(h, pollTask, invocation, 60 + 15 * 60);
    expect(stalled()).toEqual([{ targetIndex, name: 'Stalled', value: 1 }]);
    expect(h.warnings).toEqual([
      {
        message: 'stalled: no counter change',
        fields: { runId, partitionId: 'p02', taskId: 'n:p02', since: '2026-06-01T10:01:00.000Z', processed: 40, total: 150, stallMinutes: 15 },
      },
    ]);
    const stall = { at: '2026-06-01T10:16:00.000Z', since: '2026-06-01T10:01:00.000Z', processed: 40, total: 150, taskId: 'n:p02' };
    expect((await ledger.getPartition(runId, 'p02')).stall).toEqual(stall);
    expect((await ledger.getPartition(runId, 'p01')).stall).toBeUndefined();
    expect((await ledger.getRun(runId))?.stall).toEqual({ ...stall, partitionId: 'p02' });
    expect(invocation.state.poll?.cursor.stallReported).toBe(true);

    // The same stall five minutes on: not reported again.
    invocation = await pollAt(h, pollTask, invocation, 60 + 20 * 60);
    expect(stalled()).toHaveLength(1);

    // The counters move (stall over), then stand still for the window again: a new stall.
    created = 90;
    invocation = await pollAt(h, pollTask, invocation, 60 + 21 * 60);
    expect(invocation.state.poll?.cursor.stallReported).toBe(false);
    invocation = await pollAt(h, pollTask, invocation, 60 + 36 * 60);
    expect(stalled()).toHaveLength(2);
    expect((await ledger.getPartition(runId, 'p02')).stall).toMatchObject({ since: '2026-06-01T10:22:00.000Z', processed: 90 });
  });
});

describe('PollTask reports a stalled run without partitions (the same shared check)', () => {
  it('once per stall, on the run and its whole-index task', async () => {
    const runId = 'calls-2026-05-one-stalled';
    await createRun(runId, {});
    await ledger.putPartitions(runId, [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query: null, expected: 300 }], new Date(LAUNCH));
    await ledger.updatePartition(runId, WHOLE_INDEX_PARTITION_ID, { status: 'RUNNING', attempts: 1, taskId: 'n:1', taskIds: ['n:1'], launchedAt: new Date(LAUNCH).toISOString() }, new Date(LAUNCH));
    const h = harness(target(runId, () => ({ total: 300, created: 120, updated: 0, version_conflicts: 0 })));
    let invocation: StateInvocation = {
      state: {
        run: { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' },
        partition: { id: WHOLE_INDEX_PARTITION_ID, kind: 'all' },
        launch: { taskId: 'n:1' },
        poll: firstCursor,
      },
    };

    invocation = await pollAt(h, pollTask, invocation, 30);
    invocation = await pollAt(h, pollTask, invocation, 30 + 15 * 60);
    invocation = await pollAt(h, pollTask, invocation, 30 + 16 * 60);

    expect(h.metrics.emitted.filter((m) => m.name === 'Stalled')).toEqual([{ targetIndex, name: 'Stalled', value: 1 }]);
    expect(h.warnings.map((w) => w.fields)).toEqual([
      { runId, taskId: 'n:1', partitionId: WHOLE_INDEX_PARTITION_ID, since: '2026-06-01T10:00:30.000Z', processed: 120, total: 300, stallMinutes: 15 },
    ]);
    const stall = { at: '2026-06-01T10:15:30.000Z', since: '2026-06-01T10:00:30.000Z', processed: 120, total: 300, taskId: 'n:1' };
    expect((await ledger.getRun(runId))?.stall).toEqual({ ...stall, partitionId: WHOLE_INDEX_PARTITION_ID });
    expect((await ledger.getPartition(runId, WHOLE_INDEX_PARTITION_ID)).stall).toEqual(stall);
  });
});
