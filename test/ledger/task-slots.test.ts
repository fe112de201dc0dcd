import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_PARTITION_KEY, LEDGER_SORT_KEY, Ledger, type StoredConfig } from '../../lambdas/shared/ledger/ledger';
import { createLedgerTable } from '../../local/ledger/table';
import {
  TaskSlotError,
  TaskSlots,
  taskSlotDomainKey,
  taskSlotKeys,
  type AcquireTaskSlot,
  type TaskSlotHolder,
} from '../../lambdas/shared/ledger/task-slots';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import { localDocumentClient } from '../../local/pipeline';

let server: LocalLedger;
let client: DynamoDBDocumentClient;

beforeAll(async () => {
  server = await startLocalLedger();
  client = localDocumentClient(server.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

const DOMAIN = 'https://vpc-calls-abc123.eu-west-1.es.amazonaws.com';
const now = new Date('2026-06-01T00:00:00Z');
const never = async () => false;

/** A fresh ledger table per test; the slots are used through the ledger instance (client + table name). */
async function fresh(): Promise<{ ledger: Ledger; slots: TaskSlots }> {
  const tableName = `ledger-${randomUUID()}`;
  await createLedgerTable(client, tableName);
  const ledger = new Ledger({ client, tableName });
  return { ledger, slots: new TaskSlots(ledger) };
}

function acquire(slots: TaskSlots, runId: string, partitionId: string, overrides: Partial<AcquireTaskSlot> = {}) {
  return slots.acquireTaskSlot({ domain: DOMAIN, max: 4, runId, partitionId, now, isHolderFinished: never, ...overrides });
}

/** Every item of the table, raw (keys included). */
async function allItems(tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** The same table through a client that counts refused conditional writes: proof that a test really raced. */
function counting(slots: TaskSlots): { slots: TaskSlots; refusals: () => number } {
  let refused = 0;
  const send = async (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
    try {
      return await client.send(command);
    } catch (err) {
      if ((err as Error).name === 'ConditionalCheckFailedException') refused++;
      throw err;
    }
  };
  return {
    slots: new TaskSlots({ client: { send } as unknown as DynamoDBDocumentClient, tableName: slots.tableName }),
    refusals: () => refused,
  };
}

const who = (holders: readonly TaskSlotHolder[]) => holders.map((h) => `${h.slot}:${h.runId}/${h.partitionId}`);

describe('acquire and release', () => {
  it('hands out max slots in order and refuses the next acquirer, listing the holders', async () => {
    const { slots } = await fresh();

    const taken = [];
    for (let p = 0; p < 4; p++) taken.push(await acquire(slots, 'calls-2026-05', `p${p}`, { executionArn: `arn:exec:p${p}` }));
    const refused = await acquire(slots, 'calls-2026-06', 'p0');

    expect(taken).toEqual([0, 1, 2, 3].map((slot) => ({ acquired: true, slot })));
    expect(refused.acquired).toBe(false);
    if (refused.acquired) return;
    expect(refused.holders).toEqual(
      [0, 1, 2, 3].map((slot) => ({
        domain: DOMAIN,
        slot,
        runId: 'calls-2026-05',
        partitionId: `p${slot}`,
        executionArn: `arn:exec:p${slot}`,
        since: '2026-06-01T00:00:00.000Z',
      })),
    );
    expect(refused).not.toHaveProperty('freed');
    expect(await slots.taskSlotHolders(DOMAIN)).toEqual(refused.holders);
  });

  it('frees exactly one slot on release, which the next acquirer takes', async () => {
    const { slots } = await fresh();
    for (let p = 0; p < 4; p++) await acquire(slots, 'a', `p${p}`);

    const released = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p2' });
    const holdersAfter = await slots.taskSlotHolders(DOMAIN);
    const next = await acquire(slots, 'b', 'p0');
    const refused = await acquire(slots, 'c', 'p0');

    expect(released).toEqual([2]);
    expect(who(holdersAfter)).toEqual(['0:a/p0', '1:a/p1', '3:a/p3']);
    expect(next).toEqual({ acquired: true, slot: 2 });
    expect(refused.acquired).toBe(false);
    expect(await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p2' })).toEqual([]);
    expect(await slots.releaseTaskSlot({ domain: 'https://never-used.example', runId: 'a', partitionId: 'p2' })).toEqual([]);
  });

  it('lets a holder re-acquire idempotently, keeping its slot and following a new execution', async () => {
    const { ledger, slots } = await fresh();
    await acquire(slots, 'other', 'p0');
    const first = await acquire(slots, 'a', 'p0', { executionArn: 'arn:exec:1' });

    const again = await acquire(slots, 'a', 'p0', { executionArn: 'arn:exec:2', now: new Date('2026-06-01T01:00:00Z') });
    const plain = await acquire(slots, 'a', 'p0', { now: new Date('2026-06-01T02:00:00Z') });

    expect(first).toEqual({ acquired: true, slot: 1 });
    expect(again).toEqual({ acquired: true, slot: 1 });
    expect(plain).toEqual({ acquired: true, slot: 1 });
    const holders = await slots.taskSlotHolders(DOMAIN);
    expect(who(holders)).toEqual(['0:other/p0', '1:a/p0']);
    expect(holders[1]).toMatchObject({ executionArn: 'arn:exec:2', since: '2026-06-01T00:00:00.000Z' });
    expect(await allItems(ledger.tableName)).toHaveLength(2);
  });

  it('gives one holder one slot when it acquires concurrently with itself', async () => {
    const { ledger, slots } = await fresh();

    const results = await Promise.all(Array.from({ length: 6 }, () => acquire(slots, 'a', 'p0')));

    const held = await slots.taskSlotHolders(DOMAIN);
    expect(results.every((result) => result.acquired)).toBe(true);
    expect(who(held)).toEqual(['0:a/p0']);
    expect(await allItems(ledger.tableName)).toHaveLength(1);
    expect(await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p0' })).toEqual([0]);
  });

  it('never lets a non-holder release a slot', async () => {
    const { slots } = await fresh();
    await acquire(slots, 'a', 'p0', { executionArn: 'arn:exec:a2' });
    await acquire(slots, 'b', 'p0');

    const byOtherRun = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'c', partitionId: 'p0' });
    const byOtherPartition = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p1' });
    const byOldExecution = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p0', executionArn: 'arn:exec:a1' });
    const allOfOtherRun = await slots.releaseAllTaskSlots({ domain: DOMAIN, runId: 'c' });

    expect([byOtherRun, byOtherPartition, byOldExecution, allOfOtherRun]).toEqual([[], [], [], []]);
    expect(who(await slots.taskSlotHolders(DOMAIN))).toEqual(['0:a/p0', '1:b/p0']);
    expect(await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p0', executionArn: 'arn:exec:a2' })).toEqual([0]);
  });

  it('releases every slot of a run on the failure path and none of another run', async () => {
    const { slots } = await fresh();
    await acquire(slots, 'a', 'p0');
    await acquire(slots, 'b', 'p0');
    await acquire(slots, 'a', 'p1');
    await acquire(slots, 'a', 'p2');

    const released = await slots.releaseAllTaskSlots({ domain: DOMAIN, runId: 'a' });
    const again = await slots.releaseAllTaskSlots({ domain: DOMAIN, runId: 'a' });

    expect(released).toEqual([0, 2, 3]);
    expect(again).toEqual([]);
    expect(who(await slots.taskSlotHolders(DOMAIN))).toEqual(['1:b/p0']);
  });

  it('keeps the slots of different domains apart and normalises the endpoint', async () => {
    const { slots } = await fresh();
    await acquire(slots, 'a', 'p0', { max: 1 });

    const sameDomain = await acquire(slots, 'b', 'p0', { max: 1, domain: 'HTTPS://VPC-Calls-ABC123.eu-west-1.es.amazonaws.com:443/' });
    const otherDomain = await acquire(slots, 'b', 'p0', { max: 1, domain: 'https://vpc-other.eu-west-1.es.amazonaws.com' });

    expect(taskSlotDomainKey('HTTPS://VPC-Calls-ABC123.eu-west-1.es.amazonaws.com:443/')).toBe(DOMAIN);
    expect(taskSlotKeys.slot(DOMAIN, 3)).toEqual({ [LEDGER_PARTITION_KEY]: `SLOTS#${DOMAIN}`, [LEDGER_SORT_KEY]: 'SLOT#3' });
    expect(sameDomain.acquired).toBe(false);
    expect(otherDomain).toEqual({ acquired: true, slot: 0 });
  });

  it('rejects a bad max, domain or holder identity', async () => {
    const { slots } = await fresh();

    await expect(acquire(slots, 'a', 'p0', { max: 0 })).rejects.toBeInstanceOf(TaskSlotError);
    await expect(acquire(slots, 'a', 'p0', { max: 2.5 })).rejects.toBeInstanceOf(TaskSlotError);
    await expect(acquire(slots, 'a', 'p0', { domain: 'calls-2026-05' })).rejects.toBeInstanceOf(TaskSlotError);
    await expect(acquire(slots, 'a', '')).rejects.toBeInstanceOf(TaskSlotError);
    await expect(slots.releaseTaskSlot({ domain: DOMAIN, runId: '', partitionId: 'p0' })).rejects.toBeInstanceOf(TaskSlotError);
  });
});

describe('reclaim', () => {
  it('reclaims the slot of a finished holder, reports it, and ignores the late release of the old holder', async () => {
    const { ledger, slots } = await fresh();
    const isHolderFinished = (holder: TaskSlotHolder) => ledger.isRunFinished(holder.runId);
    await ledger.createRun({ runId: 'old', targetIndex: 'calls-2026-05', dryRun: false, config: {} as StoredConfig, fingerprint: 'f', requestHash: 'r', startedAt: now.toISOString() });
    await acquire(slots, 'old', 'p0', { max: 2, executionArn: 'arn:exec:old', isHolderFinished });
    await acquire(slots, 'live', 'p0', { max: 2, isHolderFinished });
    const later = new Date('2026-06-01T06:00:00Z');

    const refusedWhileRunning = await acquire(slots, 'new', 'p0', { max: 2, now: later, isHolderFinished });
    await ledger.finishRun('old', { status: 'FAILED', error: 'TaskLost' }); // crashed before releasing
    const result = await acquire(slots, 'new', 'p0', { max: 2, now: later, executionArn: 'arn:exec:new', isHolderFinished });
    const lateRelease = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'old', partitionId: 'p0' });

    const reclaimed = {
      slot: 0,
      previousRunId: 'old',
      previousPartitionId: 'p0',
      previousSince: '2026-06-01T00:00:00.000Z',
      previousExecutionArn: 'arn:exec:old',
      at: '2026-06-01T06:00:00.000Z',
    };
    expect(refusedWhileRunning.acquired).toBe(false);
    expect(result).toEqual({ acquired: true, slot: 0, reclaimed });
    expect(lateRelease).toEqual([]);
    expect((await slots.taskSlotHolders(DOMAIN))[0]).toEqual({
      domain: DOMAIN,
      slot: 0,
      runId: 'new',
      partitionId: 'p0',
      executionArn: 'arn:exec:new',
      since: '2026-06-01T06:00:00.000Z',
      reclaim: reclaimed,
    });
  });

  it('frees finished holders on demand, whatever their slot number', async () => {
    const { slots } = await fresh();
    for (const runId of ['a', 'dead', 'b', 'dead2']) await acquire(slots, runId, 'p0');

    const freed = await slots.reclaimFinishedTaskSlots({
      domain: DOMAIN,
      now: new Date('2026-06-02T00:00:00Z'),
      isHolderFinished: async (holder) => holder.runId.startsWith('dead'),
    });

    expect(freed.map((r) => [r.slot, r.previousRunId, r.at])).toEqual([
      [1, 'dead', '2026-06-02T00:00:00.000Z'],
      [3, 'dead2', '2026-06-02T00:00:00.000Z'],
    ]);
    expect(who(await slots.taskSlotHolders(DOMAIN))).toEqual(['0:a/p0', '2:b/p0']);
  });
});

describe('races', () => {
  it('gives exactly max of twelve concurrent acquirers a slot, never one slot to two', async () => {
    const { ledger, slots: plain } = await fresh();
    const { slots, refusals } = counting(plain);
    const racers = Array.from({ length: 12 }, (_, i) => ({ runId: `run-${i % 3}`, partitionId: `p${i}` }));

    const results = await Promise.all(racers.map(({ runId, partitionId }) => acquire(slots, runId, partitionId)));

    expect(refusals()).toBeGreaterThan(0); // the acquirers did collide on slots

    const winners = racers.filter((_, i) => results[i]?.acquired);
    const wonSlots = results.flatMap((result) => (result.acquired ? [result.slot] : []));
    expect(winners).toHaveLength(4);
    expect([...wonSlots].sort()).toEqual([0, 1, 2, 3]);
    const items = await allItems(ledger.tableName);
    expect(items).toHaveLength(4);
    expect(items.map((item) => item[LEDGER_SORT_KEY]).sort()).toEqual(['SLOT#0', 'SLOT#1', 'SLOT#2', 'SLOT#3']);
    const holders = items.map((item) => item.holder as { runId: string; partitionId: string });
    expect(new Set(holders.map((h) => h.partitionId)).size).toBe(4);
    expect(holders.map((h) => `${h.runId}/${h.partitionId}`).sort()).toEqual(winners.map((w) => `${w.runId}/${w.partitionId}`).sort());
    for (const [i, result] of results.entries()) {
      if (result.acquired) {
        expect(items.find((item) => item[LEDGER_SORT_KEY] === `SLOT#${result.slot}`)?.holder).toMatchObject(racers[i]!);
      } else {
        expect(result.holders).toHaveLength(4);
      }
    }
  });

  it('lets exactly one of several concurrent acquirers reclaim each finished holder', async () => {
    const { ledger, slots: plain } = await fresh();
    const { slots, refusals } = counting(plain);
    for (let p = 0; p < 4; p++) await acquire(slots, 'dead', `p${p}`);
    const isHolderFinished = async (holder: TaskSlotHolder) => holder.runId === 'dead';

    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => acquire(slots, 'new', `p${i}`, { isHolderFinished, now: new Date('2026-06-01T01:00:00Z') })),
    );

    const winners = results.filter((result) => result.acquired);
    expect(refusals()).toBeGreaterThan(0);
    expect(winners).toHaveLength(4);
    expect(winners.map((w) => (w.acquired ? w.reclaimed?.previousPartitionId : undefined)).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
    const items = await allItems(ledger.tableName);
    expect(items).toHaveLength(4);
    expect(items.every((item) => (item.holder as { runId: string }).runId === 'new')).toBe(true);
  });
});

describe('changing max', () => {
  it('never hands out slots at or above a lowered max, but releases and reclaims them normally', async () => {
    const { slots } = await fresh();
    for (let p = 0; p < 4; p++) await acquire(slots, 'a', `p${p}`, { max: 4 });

    const lowered = { max: 2 } as const;
    const refusedFull = await acquire(slots, 'b', 'p0', lowered);
    const releasedHigh = await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p2' });
    const refusedWithFreeHighSlot = await acquire(slots, 'b', 'p0', lowered);
    const highHolderAgain = await acquire(slots, 'a', 'p3', lowered);
    await slots.releaseTaskSlot({ domain: DOMAIN, runId: 'a', partitionId: 'p1' });
    const takesLowSlot = await acquire(slots, 'b', 'p0', lowered);
    const refusedAndSweeps = await acquire(slots, 'c', 'p0', {
      ...lowered,
      now: new Date('2026-06-01T03:00:00Z'),
      isHolderFinished: async (holder) => holder.partitionId === 'p3',
    });

    expect(refusedFull.acquired).toBe(false);
    expect(releasedHigh).toEqual([2]);
    expect(refusedWithFreeHighSlot).toMatchObject({ acquired: false });
    expect(highHolderAgain).toEqual({ acquired: true, slot: 3 });
    expect(takesLowSlot).toEqual({ acquired: true, slot: 1 });
    expect(refusedAndSweeps).toEqual({
      acquired: false,
      holders: [
        { domain: DOMAIN, slot: 0, runId: 'a', partitionId: 'p0', since: '2026-06-01T00:00:00.000Z' },
        { domain: DOMAIN, slot: 1, runId: 'b', partitionId: 'p0', since: '2026-06-01T00:00:00.000Z' },
      ],
      freed: [
        { slot: 3, previousRunId: 'a', previousPartitionId: 'p3', previousSince: '2026-06-01T00:00:00.000Z', at: '2026-06-01T03:00:00.000Z' },
      ],
    });
    const raised = await acquire(slots, 'c', 'p0', { max: 4 });
    expect(raised).toEqual({ acquired: true, slot: 2 });
  });
});
