import { randomUUID } from 'node:crypto';
import type { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollTask } from '../../lambdas/poll-task/poll-task';
import { LONG_POLL_CEILING_SECONDS } from '../../lambdas/shared/task-loop/adaptive-wait';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { Ledger, type StoredConfig } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { PollState, RunDeps, StateInvocation } from '../../lambdas/shared/runtime/run-context';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import { collectingMetrics, localDocumentClient } from '../../local/pipeline';

/**
 * A poll long-polls no longer than LONG_POLL_CEILING_SECONDS, whatever longPollSeconds its state carries
 * (a state from before a deployment, a redrive, a hand-edited input): the ceiling is what keeps the
 * invocation well inside its Lambda timeout and its Task timeout (test/unit/reindex-run-asl.test.ts).
 * The real poll handlers on the local ledger (dynalite); the target a stub recording each `GET _tasks`.
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

async function createRun(runId: string, input: Record<string, unknown> = {}): Promise<void> {
  const config = parseRunConfig(
    { runId, source: { url: 'http://127.0.0.1:9200', index: targetIndex }, target: { index: targetIndex }, dateField: 'timestamp', dryRun: false, ...input },
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

/** A target whose one running task (tagged `tag`) answers; each `GET _tasks` timeout asked is recorded. */
function target(tag: string, asked: string[]): Client {
  const task = { headers: { 'X-Opaque-Id': `${tag}/${HASH}` }, status: { total: 150, created: 40, updated: 0, version_conflicts: 0 }, description: `reindex from [source] to [${targetIndex}]` };
  return {
    tasks: {
      get: async (params: { timeout?: string }) => {
        asked.push(params.timeout ?? 'none');
        return { body: { completed: false, task } };
      },
      list: async () => ({ body: { nodes: {} } }),
      cancel: async () => ({ body: {} }),
    },
  } as unknown as Client;
}

function depsFor(client: Client): RunDeps {
  const log = { info: () => undefined, warn: () => undefined };
  return { ledger, target: client, targetEndpoint: 'http://127.0.0.1:9201', metrics: collectingMetrics(), log, now: () => new Date(LAUNCH + 600_000) } as unknown as RunDeps;
}

const pollAsking = (longPollSeconds: number): PollState => ({
  completed: false,
  waitSeconds: 5,
  longPollSeconds,
  cursor: { launchedAtMs: LAUNCH, previous: { processed: 20, secondsSinceLaunch: 300 }, mark: null, totalChecked: true, polls: 3, stallReported: false },
});

describe('the poll loops cap their long-poll at LONG_POLL_CEILING_SECONDS', () => {
  it.each([
    [840, `${LONG_POLL_CEILING_SECONDS}s`],
    [120, '120s'],
  ])('PollTask asked to long-poll %i s waits %s', async (asking, expected) => {
    // Prepare
    const runId = `calls-2026-05-live-${asking}`;
    await createRun(runId);
    await ledger.putPartitions(runId, [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query: null, expected: 300 }], new Date(LAUNCH));
    await ledger.updatePartition(runId, WHOLE_INDEX_PARTITION_ID, { status: 'RUNNING', attempts: 1, taskId: 'n:1', taskIds: ['n:1'], launchedAt: new Date(LAUNCH).toISOString() }, new Date(LAUNCH));
    const asked: string[] = [];
    const invocation: StateInvocation = {
      state: {
        run: { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' },
        partition: { id: WHOLE_INDEX_PARTITION_ID, kind: 'all' },
        launch: { taskId: 'n:1' },
        poll: pollAsking(asking),
      },
    };

    // Act
    await pollTask(invocation, depsFor(target(runId, asked)));

    // Assess
    expect(asked).toEqual([expected]);
  });

  it('PollTask of a partition asked to long-poll beyond the ceiling waits the ceiling', async () => {
    // Prepare
    const runId = 'calls-2026-05-live-parts';
    await createRun(runId, { partitions: 2, maxConcurrency: 2 });
    await ledger.putPartitions(
      runId,
      [
        { id: 'p01', kind: 'range', end: '2026-05-16T00:00:00.000Z', query: null, expected: 150 },
        { id: 'p02', kind: 'range', start: '2026-05-16T00:00:00.000Z', query: null, expected: 150 },
      ],
      new Date(LAUNCH),
    );
    await ledger.updatePartition(runId, 'p02', { status: 'RUNNING', attempts: 1, taskId: 'n:p02', taskIds: ['n:p02'], launchedAt: new Date(LAUNCH).toISOString() }, new Date(LAUNCH));
    const asked: string[] = [];
    const invocation: StateInvocation = {
      state: {
        run: { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' },
        partition: { id: 'p02', kind: 'range', start: '2026-05-16T00:00:00.000Z' },
        launch: { taskId: 'n:p02' },
        poll: pollAsking(900),
      },
    };

    // Act
    await pollTask(invocation, depsFor(target(`${runId}.p02`, asked)));

    // Assess
    expect(asked).toEqual([`${LONG_POLL_CEILING_SECONDS}s`]);
  });
});
