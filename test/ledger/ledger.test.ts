import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LEDGER_BY_TARGET_INDEX,
  LEDGER_GSI_PARTITION_KEY,
  LEDGER_GSI_SORT_KEY,
  LEDGER_PARTITION_KEY,
  LEDGER_SORT_KEY,
  Ledger,
  RunAlreadyFinishedError,
  RunIdAlreadyUsedError,
  RunNotFoundError,
  SecretInLedgerError,
  assertNoSecrets,
  ledgerKeys,
  type LockHolder,
  type NewApproval,
  type NewRun,
  type RecordedProbe,
  type RunCounters,
  type StoredConfig,
} from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';

let server: LocalLedger;
let raw: DynamoDBClient;
let client: DynamoDBDocumentClient;

beforeAll(async () => {
  server = await startLocalLedger();
  raw = new DynamoDBClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
});

afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

/** A fresh table per test: tests stay independent. */
async function freshLedger(options: { pageSize?: number; clock?: () => Date } = {}): Promise<Ledger> {
  const tableName = `ledger-${randomUUID()}`;
  await createLedgerTable(client, tableName);
  return new Ledger({ client, tableName, ...options });
}

function newRun(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return {
    runId,
    targetIndex: 'calls-2026-05',
    dryRun: false,
    config: {
      runId,
      source: {
        url: 'https://es7.internal:9200',
        index: 'calls-2026-05',
        credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source',
        query: null,
      },
      mode: 'merge',
      batchSize: 1000,
      requestsPerSecond: null,
      parity: { countTolerance: 0.0002, sampleSize: 65 },
    } as unknown as StoredConfig,
    fingerprint: 'fp-1',
    requestHash: 'rh-1',
    startedAt: '2026-06-01T00:00:00.000Z',
    ...overrides,
  };
}

const finished = (ledger: Ledger) => (holder: LockHolder) => ledger.isRunFinished(holder.runId);

describe('createLedgerTable', () => {
  it('creates the table with the CDK key schema, byTarget index and on-demand billing, idempotently', async () => {
    const tableName = `ledger-${randomUUID()}`;
    await createLedgerTable(client, tableName);
    await createLedgerTable(client, tableName);

    const { Table } = await raw.send(new DescribeTableCommand({ TableName: tableName }));

    expect(Table?.KeySchema).toEqual([
      { AttributeName: LEDGER_PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: LEDGER_SORT_KEY, KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const gsi = Table?.GlobalSecondaryIndexes?.[0];
    expect(gsi?.IndexName).toBe(LEDGER_BY_TARGET_INDEX);
    expect(gsi?.KeySchema).toEqual([
      { AttributeName: LEDGER_GSI_PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: LEDGER_GSI_SORT_KEY, KeyType: 'RANGE' },
    ]);
    expect(gsi?.Projection?.ProjectionType).toBe('ALL');
  });
});

describe('runs', () => {
  it('creates, reads and partially updates a run record', async () => {
    const ledger = await freshLedger({ clock: () => new Date('2026-06-01T00:05:00Z') });

    const created = await ledger.createRun(newRun('calls-2026-05-live', { executionArn: 'arn:exec:1' }));
    const read = await ledger.getRun('calls-2026-05-live');
    const updated = await ledger.updateRun('calls-2026-05-live', {
      status: 'RUNNING',
      baselines: { sourceCount: 84_986_805, targetCount: 14_188_045 },
      probe: { sampled: 65, equal: 60, sourceNewer: 5, ratio: 0.013 } as unknown as RecordedProbe,
    });

    expect(created.status).toBe('VALIDATED');
    expect(read).toEqual(created);
    expect(read?.updatedAt).toBe('2026-06-01T00:00:00.000Z');
    expect(read).not.toHaveProperty('pk');
    expect(updated.status).toBe('RUNNING');
    expect(updated.updatedAt).toBe('2026-06-01T00:05:00.000Z');
    expect(updated.baselines).toEqual({ sourceCount: 84_986_805, targetCount: 14_188_045 });
    expect(updated.probe).toMatchObject({ ratio: 0.013 });
    expect(updated.fingerprint).toBe('fp-1');
    expect(updated.config).toEqual(created.config);
    expect(await ledger.getRun('missing')).toBeUndefined();
  });

  it('refuses a run id that is already used', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('dup'));

    await expect(ledger.createRun(newRun('dup', { fingerprint: 'other' }))).rejects.toBeInstanceOf(RunIdAlreadyUsedError);
    expect((await ledger.getRun('dup'))?.fingerprint).toBe('fp-1');
  });

  it('refuses to update a run that has no record', async () => {
    const ledger = await freshLedger();

    await expect(ledger.updateRun('ghost', { status: 'RUNNING' })).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('never moves a finished run back to a running status', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('late'));
    await ledger.finishRun('late', { status: 'ABORTED' });

    await expect(ledger.updateRun('late', { status: 'RUNNING' })).rejects.toBeInstanceOf(RunAlreadyFinishedError);
    await ledger.updateRun('late', { counters: { total: 10 } as RunCounters });
    expect((await ledger.getRun('late'))?.status).toBe('ABORTED');
  });

  it('records a task\'s id once on its partition and returns the recorded one to a retried launch', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('launch'));
    const now = new Date('2026-06-01T10:00:00.000Z');
    await ledger.putPartitions('launch', [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query: null, expected: 10 }], now);
    const launch = (taskId: string) => ({ taskId, taskIds: [taskId], attempts: 1, launchedAt: now.toISOString() });

    expect((await ledger.getPartition('launch', WHOLE_INDEX_PARTITION_ID)).taskId).toBeUndefined();
    const first = await ledger.recordPartitionTask('launch', WHOLE_INDEX_PARTITION_ID, launch('node-a:101'), now);
    const retry = await ledger.recordPartitionTask('launch', WHOLE_INDEX_PARTITION_ID, launch('node-a:202'), now);

    expect(first).toEqual({ taskId: 'node-a:101', recorded: true });
    expect(retry).toEqual({ taskId: 'node-a:101', recorded: false });
    expect(await ledger.getPartition('launch', WHOLE_INDEX_PARTITION_ID)).toMatchObject({ taskId: 'node-a:101', taskIds: ['node-a:101'], status: 'RUNNING' });
    await expect(ledger.recordPartitionTask('ghost', WHOLE_INDEX_PARTITION_ID, launch('x:1'), now)).rejects.toThrow(/no partition all/);
  });

  it('keeps the first terminal status when a run is finished twice', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('fin'));
    await ledger.updateRun('fin', { status: 'RUNNING' });
    const counters = { total: 84_986_805, created: 70_798_760, updated: 634_962, version_conflicts: 13_553_083, failures: [] } as unknown as RunCounters;

    const first = await ledger.finishRun('fin', { status: 'FAILED', error: 'ParityFailed', cause: 'day 2026-05-03 drifts', counters });
    const again = await ledger.finishRun('fin', { status: 'FAILED', error: 'ParityFailed', cause: 'second' });
    const abort = await ledger.finishRun('fin', { status: 'ABORTED' });
    const run = await ledger.getRun('fin');

    expect(first).toEqual({ status: 'FAILED', changed: true });
    expect(again).toEqual({ status: 'FAILED', changed: false });
    expect(abort).toEqual({ status: 'FAILED', changed: false });
    expect(run?.status).toBe('FAILED');
    expect(run?.error).toBe('ParityFailed');
    expect(run?.cause).toBe('day 2026-05-03 drifts');
    expect(run?.counters).toEqual(counters);
    expect(run?.finishedAt).toBeDefined();
    await expect(ledger.finishRun('ghost', { status: 'ABORTED' })).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('appends foreign tasks to the run record', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('foreign'));

    await ledger.addForeignTask('foreign', { taskId: 'n:1', action: 'cancelled' });
    await ledger.addForeignTask('foreign', { taskId: 'n:2', action: 'cancelled' });

    expect((await ledger.getRun('foreign'))?.foreignTasks).toEqual([
      { taskId: 'n:1', action: 'cancelled' },
      { taskId: 'n:2', action: 'cancelled' },
    ]);
  });
});

describe('secrets', () => {
  it('accepts secret references and rejects plain secrets without echoing them', async () => {
    const ledger = await freshLedger();
    expect(() =>
      assertNoSecrets({ source: { password: 'secret:es-source', credentialsSecret: 'arn:aws:secretsmanager:x' }, n: 1 }),
    ).not.toThrow();

    const leaking = newRun('leak', { config: { source: { remote: { username: 'u', password: 'hunter2' } } } as unknown as StoredConfig });
    const error = await ledger.createRun(leaking).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(SecretInLedgerError);
    expect((error as Error).message).toContain('$.config.source.remote.password');
    expect((error as Error).message).not.toContain('hunter2');
    expect(await ledger.getRun('leak')).toBeUndefined();
    expect(() => assertNoSecrets({ headers: { Authorization: 'Basic dTpw' } })).toThrow(SecretInLedgerError);
  });
});

describe('polls', () => {
  it('lists snapshots in time order whatever the write order', async () => {
    const ledger = await freshLedger();
    const times = ['2026-06-01T00:00:30Z', '2026-06-01T00:00:05Z', '2026-06-01T00:10:00.5Z', '2026-06-01T00:01:00Z'];

    for (const at of times) await ledger.appendPoll('p', { at, created: Date.parse(at) % 1000, status: { total: 5 } });
    const polls = await ledger.listPolls('p');

    expect(polls.map((poll) => poll.at)).toEqual([
      '2026-06-01T00:00:05.000Z',
      '2026-06-01T00:00:30.000Z',
      '2026-06-01T00:01:00.000Z',
      '2026-06-01T00:10:00.500Z',
    ]);
    expect(polls[0]?.status).toEqual({ total: 5 });
    expect(await ledger.listPolls('other')).toEqual([]);
  });

  it('keeps the snapshots of two partitions polled in the same millisecond, in time order', async () => {
    const ledger = await freshLedger();
    await ledger.appendPoll('parted', { at: '2026-06-01T00:00:01.000Z', partitionId: 'p01', created: 1 });
    await ledger.appendPoll('parted', { at: '2026-06-01T00:00:01.000Z', partitionId: 'p00', created: 2 });
    await ledger.appendPoll('parted', { at: '2026-06-01T00:00:00.500Z', partitionId: 'p01', created: 3 });

    const polls = await ledger.listPolls('parted');

    expect(polls.map((poll) => [poll.at, poll.partitionId, poll.created])).toEqual([
      ['2026-06-01T00:00:00.500Z', 'p01', 3],
      ['2026-06-01T00:00:01.000Z', 'p00', 2],
      ['2026-06-01T00:00:01.000Z', 'p01', 1],
    ]);
  });

  it('reads thousands of snapshots across pages, without the run record', async () => {
    const ledger = await freshLedger({ pageSize: 100 });
    await ledger.createRun(newRun('long'));
    const start = Date.parse('2026-06-01T00:00:00Z');
    const count = 1_150;
    const items = Array.from({ length: count }, (_, i) => {
      const at = new Date(start + i * 150_000).toISOString(); // a 48-hour run polled every 2.5 minutes
      return { ...ledgerKeys.poll('long', at), at, runId: 'long', created: i };
    });
    const batches = [];
    for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
    for (let i = 0; i < batches.length; i += 8) {
      await Promise.all(
        batches.slice(i, i + 8).map((batch) =>
          client.send(new BatchWriteCommand({ RequestItems: { [ledger.tableName]: batch.map((Item) => ({ PutRequest: { Item } })) } })),
        ),
      );
    }
    await ledger.appendPoll('long', { at: new Date(start + count * 150_000).toISOString(), created: count });

    const polls = await ledger.listPolls('long');

    expect(polls).toHaveLength(count + 1);
    expect(polls.map((poll) => poll.created)).toEqual(Array.from({ length: count + 1 }, (_, i) => i));
  });
});

describe('lock', () => {
  const now = new Date('2026-06-01T00:00:00Z');

  it('gives the lock to one live run and refuses a second one', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('a'));
    await ledger.createRun(newRun('b'));

    const a = await ledger.acquireLock({ targetIndex: 'idx', runId: 'a', executionArn: 'arn:a', now, isHolderFinished: finished(ledger) });
    const b = await ledger.acquireLock({ targetIndex: 'idx', runId: 'b', now, isHolderFinished: finished(ledger) });

    expect(a).toEqual({ acquired: true });
    expect(b).toEqual({
      acquired: false,
      holder: { targetIndex: 'idx', runId: 'a', since: '2026-06-01T00:00:00.000Z', executionArn: 'arn:a' },
    });
  });

  it('lets the holder re-acquire idempotently and follows its new execution', async () => {
    const ledger = await freshLedger();
    const never = async () => false;
    await ledger.acquireLock({ targetIndex: 'idx', runId: 'a', executionArn: 'arn:a1', now, isHolderFinished: never });

    const again = await ledger.acquireLock({
      targetIndex: 'idx',
      runId: 'a',
      executionArn: 'arn:a2',
      now: new Date('2026-06-02T00:00:00Z'),
      isHolderFinished: never,
    });

    expect(again).toEqual({ acquired: true });
    expect(await ledger.getLock('idx')).toEqual({
      targetIndex: 'idx',
      runId: 'a',
      since: '2026-06-01T00:00:00.000Z',
      executionArn: 'arn:a2',
    });
  });

  it('takes over a lock whose holder is finished and records the takeover', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('old'));
    await ledger.createRun(newRun('new'));
    await ledger.acquireLock({ targetIndex: 'idx', runId: 'old', executionArn: 'arn:old', now, isHolderFinished: finished(ledger) });
    await ledger.finishRun('old', { status: 'FAILED', error: 'TaskLost' }); // crashed before releasing
    const later = new Date('2026-06-01T06:00:00Z');

    const result = await ledger.acquireLock({ targetIndex: 'idx', runId: 'new', now: later, isHolderFinished: finished(ledger) });

    const takeover = {
      previousRunId: 'old',
      previousSince: '2026-06-01T00:00:00.000Z',
      previousExecutionArn: 'arn:old',
      at: '2026-06-01T06:00:00.000Z',
    };
    expect(result).toEqual({ acquired: true, takeover });
    expect((await ledger.getRun('new'))?.lockTakeover).toEqual(takeover);
    expect(await ledger.getLock('idx')).toMatchObject({ runId: 'new', since: '2026-06-01T06:00:00.000Z', takeover });
  });

  it('keeps the index tombstone retention a dead holder raised on the lock it takes over, so the new holder restores the original', async () => {
    const ledger = await freshLedger();
    await ledger.createRun(newRun('dead'));
    await ledger.createRun(newRun('heir'));
    await ledger.acquireLock({ targetIndex: 'idx', runId: 'dead', now, isHolderFinished: finished(ledger) });
    const raised = { index: 'idx', original: '60s', raisedTo: '24h', at: '2026-06-01T00:00:01.000Z', runId: 'dead' };
    expect(await ledger.setLockTombstones('idx', 'dead', raised)).toBe(true);
    await ledger.finishRun('dead', { status: 'FAILED', error: 'TaskLost' });

    await ledger.acquireLock({ targetIndex: 'idx', runId: 'heir', now: new Date('2026-06-01T06:00:00Z'), isHolderFinished: finished(ledger) });

    expect(await ledger.getLock('idx')).toMatchObject({ runId: 'heir', tombstones: raised });
    expect(await ledger.setLockTombstones('idx', 'dead', { ...raised, original: 'tampered' })).toBe(false);
    expect((await ledger.getLock('idx'))?.tombstones).toEqual(raised);
  });

  it('releases the lock only for its holder, idempotently', async () => {
    const ledger = await freshLedger();
    await ledger.acquireLock({ targetIndex: 'idx', runId: 'a', now, isHolderFinished: async () => false });

    expect(await ledger.releaseLock('idx', 'b')).toBe(false);
    expect((await ledger.getLock('idx'))?.runId).toBe('a');
    expect(await ledger.releaseLock('idx', 'a')).toBe(true);
    expect(await ledger.releaseLock('idx', 'a')).toBe(false);
    expect(await ledger.getLock('idx')).toBeUndefined();
    expect(await ledger.releaseLock('never-locked', 'a')).toBe(false);
  });

  it('gives a free lock to exactly one of ten concurrent runs', async () => {
    const ledger = await freshLedger();
    const runIds = Array.from({ length: 10 }, (_, i) => `racer-${i}`);

    const results = await Promise.all(
      runIds.map((runId) => ledger.acquireLock({ targetIndex: 'idx', runId, now, isHolderFinished: async () => false })),
    );

    const winners = runIds.filter((_, i) => results[i]?.acquired);
    expect(winners).toHaveLength(1);
    expect((await ledger.getLock('idx'))?.runId).toBe(winners[0]);
    for (const result of results) if (!result.acquired) expect(result.holder.runId).toBe(winners[0]);
  });

  it('lets exactly one of ten concurrent runs take over a finished holder', async () => {
    const ledger = await freshLedger();
    await ledger.acquireLock({ targetIndex: 'idx', runId: 'dead', now, isHolderFinished: async () => false });
    const runIds = Array.from({ length: 10 }, (_, i) => `racer-${i}`);
    const isHolderFinished = async (holder: LockHolder) => holder.runId === 'dead';

    const results = await Promise.all(runIds.map((runId) => ledger.acquireLock({ targetIndex: 'idx', runId, now, isHolderFinished })));

    const winners = results.filter((result) => result.acquired);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ takeover: { previousRunId: 'dead' } });
  });
});

describe('approvals', () => {
  const approval = {
    fingerprint: 'fp-approval',
    runId: 'calls-2026-05-dry',
    canonicalRequest: {
      body: { source: { remote: { host: 'https://es7.internal:9200', password: 'secret:es-source' }, index: 'calls-2026-05' } },
      params: { wait_for_completion: false },
    },
    requestHash: 'rh-1',
    baselines: { sourceCount: 84_986_805 },
    probe: { predicted: { created: 70_798_760 } },
    approvedAt: '2026-06-01T00:00:00.000Z',
    maxAgeHours: 24,
  } as unknown as NewApproval;

  it('returns a fresh approval with its TTL in epoch seconds', async () => {
    const ledger = await freshLedger();
    await ledger.putApproval(approval);

    const lookup = await ledger.getApproval('fp-approval', new Date('2026-06-01T23:59:59Z'), 24);

    expect(lookup.found).toBe(true);
    expect(lookup.approval).toMatchObject({
      runId: 'calls-2026-05-dry',
      canonicalRequest: approval.canonicalRequest,
      expiresAt: Date.parse('2026-06-02T00:00:00Z') / 1000,
    });
    expect(lookup.approval).not.toHaveProperty('maxAgeHours');
  });

  it('refuses an approval older than the maximum age even before TTL deletes it', async () => {
    const ledger = await freshLedger();
    await ledger.putApproval(approval);

    const expired = await ledger.getApproval('fp-approval', new Date('2026-06-02T00:00:00Z'), 24);
    const shorter = await ledger.getApproval('fp-approval', new Date('2026-06-01T02:00:00Z'), 1);
    const none = await ledger.getApproval('fp-unknown', new Date('2026-06-01T00:00:00Z'), 24);

    expect(expired).toMatchObject({ found: false, reason: 'expired' });
    expect(shorter).toMatchObject({ found: false, reason: 'expired' });
    expect(none).toEqual({ found: false, reason: 'none' });
  });

  it('replaces an approval with a newer dry run, never with an older one', async () => {
    const ledger = await freshLedger();
    await ledger.putApproval(approval);

    const newer = await ledger.putApproval({ ...approval, runId: 'dry-2', approvedAt: '2026-06-01T12:00:00Z' });
    const stale = await ledger.putApproval({ ...approval, runId: 'dry-0', approvedAt: '2026-05-31T12:00:00Z' });
    const lookup = await ledger.getApproval('fp-approval', new Date('2026-06-02T06:00:00Z'), 24);

    expect(newer.stored).toBe(true);
    expect(stale.stored).toBe(false);
    expect(lookup).toMatchObject({ found: true, approval: { runId: 'dry-2', approvedAt: '2026-06-01T12:00:00.000Z' } });
  });
});

describe('runsByTarget', () => {
  it('lists the runs of one target index, newest first, across pages', async () => {
    const ledger = await freshLedger({ pageSize: 2 });
    await ledger.createRun(newRun('may-dry', { dryRun: true, startedAt: '2026-06-01T00:00:00Z' }));
    await ledger.createRun(newRun('may-live-2', { startedAt: '2026-06-03T00:00:00Z' }));
    await ledger.createRun(newRun('may-live', { startedAt: '2026-06-02T00:00:00Z' }));
    await ledger.createRun(newRun('june', { targetIndex: 'calls-2026-06', startedAt: '2026-07-01T00:00:00Z' }));
    await ledger.appendPoll('may-live', { at: '2026-06-02T00:01:00Z', created: 1 });

    const runs = await ledger.runsByTarget('calls-2026-05');
    const latest = await ledger.runsByTarget('calls-2026-05', { limit: 1 });

    expect(runs.map((run) => run.runId)).toEqual(['may-live-2', 'may-live', 'may-dry']);
    expect(runs[2]?.dryRun).toBe(true);
    expect(runs[0]).not.toHaveProperty(LEDGER_GSI_PARTITION_KEY);
    expect(latest.map((run) => run.runId)).toEqual(['may-live-2']);
    expect(await ledger.runsByTarget('calls-1999-01')).toEqual([]);
  });
});
