/**
 * Task slots: the counting semaphore that caps the reindex tasks writing into one target domain at once,
 * across all runs, runs without partitions included (docs/design.md "Partitioned runs").
 *
 * One ledger item per slot, in the ledger table:
 *
 * | item                      | pk                    | sk          |
 * |---------------------------|-----------------------|-------------|
 * | slot `n` of a target domain | `SLOTS#<domain key>` | `SLOT#<n>` |
 *
 * The domain key is the normalised target endpoint ({@link taskSlotDomainKey}). Slots are numbered
 * `0 … max-1` and a free slot is an absent item (or an item without `holder`). Taking one is a
 * conditional write (`attribute_not_exists(holder) OR holder is me`), so with fixed slot numbers the
 * limit is exact under any race: two acquirers can never both hold slot `n`, and there are only `max`
 * numbers to take. The item holds `holder = { runId, partitionId, executionArn?, since }` and, after a
 * reclaim, `reclaim` (who held it before).
 *
 * `max` (`maxTasksPerDomain`) is a deployment setting and may change between deployments: slots with
 * `n >= max` are never acquired, but their holders keep them until they release them (or are reclaimed
 * as finished), so after lowering `max` the domain drains down to the new limit instead of having tasks
 * cut off.
 *
 * A holder is identified by `runId` + `partitionId` (a run without partitions uses its one partition, `all`).
 * Releases go by that identity, never by slot number: whatever slot a holder ended up with, its release
 * frees it.
 *
 * This module takes the document client and the table name directly (a `Ledger` instance fits
 * {@link TaskSlotsOptions}), so the ledger class itself needs no change.
 */
import {
  DeleteCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { normaliseEndpoint } from '../planning/canonical-request';
import { LEDGER_PARTITION_KEY, LEDGER_SORT_KEY, LedgerError, assertNoSecrets, isConditionFailure, queryAllItems } from './ledger';

/** Default of the `maxTasksPerDomain` deployment setting. */
export const DEFAULT_MAX_TASKS_PER_DOMAIN = 4;
/** Upper bound accepted for `max` (one query page reads every slot item with room to spare). */
export const MAX_TASK_SLOTS = 256;

const SLOTS_PREFIX = 'SLOTS#';
const SLOT_PREFIX = 'SLOT#';

/** Key builders of the slot items; `domainKey` is {@link taskSlotDomainKey}'s result. */
export const taskSlotKeys = {
  partition: (domainKey: string) => `${SLOTS_PREFIX}${domainKey}`,
  slot: (domainKey: string, n: number) => ({ pk: `${SLOTS_PREFIX}${domainKey}`, sk: `${SLOT_PREFIX}${n}` }),
} as const;

export class TaskSlotError extends LedgerError {
  override readonly name: string = 'TaskSlotError';
}

/**
 * The domain key of a target endpoint: `https://Vpc-Calls.eu-west-1.es.amazonaws.com:443/` and
 * `https://vpc-calls.eu-west-1.es.amazonaws.com` share their slots. Only http(s) URLs are accepted.
 */
export function taskSlotDomainKey(domain: string): string {
  let url: URL;
  try {
    url = new URL(domain);
  } catch (err) {
    throw new TaskSlotError(`task slot domain must be the target endpoint URL, got ${JSON.stringify(domain)}`, { cause: err });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TaskSlotError(`task slot domain must be an http(s) endpoint, got ${JSON.stringify(domain)}`);
  }
  return normaliseEndpoint(`${url.protocol}//${url.host}${url.pathname}`);
}

// ---------------------------------------------------------------------------------------------------
// Shapes

/** Who holds a slot, as stored on the slot item (`holder`). */
export interface TaskSlotHolderIdentity {
  readonly runId: string;
  readonly partitionId: string;
  readonly executionArn?: string;
  /** When this holder took the slot (ISO). */
  readonly since: string;
}

/** A held slot, as read back: the holder plus where. */
export interface TaskSlotHolder extends TaskSlotHolderIdentity {
  /** The domain key ({@link taskSlotDomainKey}). */
  readonly domain: string;
  readonly slot: number;
  /** Present when this holder took the slot over from a finished one. */
  readonly reclaim?: TaskSlotReclaim;
}

/** A slot taken from (or freed of) a finished holder: the caller records it (run record, log line). */
export interface TaskSlotReclaim {
  readonly slot: number;
  readonly previousRunId: string;
  readonly previousPartitionId: string;
  readonly previousSince: string;
  readonly previousExecutionArn?: string;
  /** When it was reclaimed (ISO). */
  readonly at: string;
}

export interface AcquireTaskSlot {
  /** Target endpoint (normalised into the domain key). */
  readonly domain: string;
  /** `maxTasksPerDomain`: slots `0 … max-1` may be taken. */
  readonly max: number;
  readonly runId: string;
  readonly partitionId: string;
  readonly executionArn?: string;
  readonly now: Date;
  /** As for the lock: locally the holder's run record is terminal; on AWS its execution is no longer running. */
  readonly isHolderFinished: (holder: TaskSlotHolder) => Promise<boolean>;
}

export type AcquireTaskSlotResult =
  | {
      readonly acquired: true;
      readonly slot: number;
      /** The finished holder this acquire took the slot from. */
      readonly reclaimed?: TaskSlotReclaim;
    }
  | {
      readonly acquired: false;
      /** Every holder of the domain's slots (any slot number), by slot. */
      readonly holders: readonly TaskSlotHolder[];
      /** Slots at or above `max` whose finished holders this call freed. */
      readonly freed?: readonly TaskSlotReclaim[];
    };

export interface ReleaseTaskSlot {
  readonly domain: string;
  readonly runId: string;
  readonly partitionId: string;
  /** When given, a slot held under another execution (a newer attempt of the same partition) is kept. */
  readonly executionArn?: string;
}

export interface ReleaseAllTaskSlots {
  readonly domain: string;
  readonly runId: string;
}

export interface ReclaimFinishedTaskSlots {
  readonly domain: string;
  readonly now: Date;
  readonly isHolderFinished: (holder: TaskSlotHolder) => Promise<boolean>;
}

/** What the slots need of the ledger; a `Ledger` instance satisfies it. */
export interface TaskSlotsOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

// ---------------------------------------------------------------------------------------------------
// Helpers


/** Drops `undefined` members so writes do not depend on the client's marshall options. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function requireId(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new TaskSlotError(`${what} must be a non-empty string`);
}

function requireMax(max: number): void {
  if (!Number.isInteger(max) || max < 1 || max > MAX_TASK_SLOTS) {
    throw new TaskSlotError(`max tasks per domain must be an integer from 1 to ${MAX_TASK_SLOTS}, got ${String(max)}`);
  }
}

const sameHolder = (holder: TaskSlotHolderIdentity, runId: string, partitionId: string): boolean =>
  holder.runId === runId && holder.partitionId === partitionId;

// ---------------------------------------------------------------------------------------------------
// The semaphore

export class TaskSlots {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;

  constructor(options: TaskSlotsOptions) {
    if (!options.tableName) throw new TaskSlotError('tableName is required');
    this.client = options.client;
    this.tableName = options.tableName;
  }

  /** Every held slot of the domain (any slot number, including those at or above the current max), by slot. */
  async taskSlotHolders(domain: string): Promise<TaskSlotHolder[]> {
    return this.readSlots(taskSlotDomainKey(domain));
  }

  /**
   * Takes a slot for `runId` + `partitionId`. Idempotent: a holder that already holds a slot (any
   * number) gets that slot back (with `executionArn` updated when a new one is given). Otherwise slots
   * `0 … max-1` are tried in order: a free one is taken; one whose holder `isHolderFinished` is
   * reclaimed with a write conditional on that very holder (two racing reclaims: one wins) and the
   * reclaim is returned. With no slot to take, returns the holders; on that path, finished holders of
   * slots at or above `max` are freed (`freed`) so that stale holders do not linger after `max` was
   * lowered. Two concurrent acquires by the same holder end up holding one slot.
   */
  async acquireTaskSlot(request: AcquireTaskSlot): Promise<AcquireTaskSlotResult> {
    const { max, runId, partitionId, executionArn } = request;
    requireMax(max);
    requireId(runId, 'runId');
    requireId(partitionId, 'partitionId');
    const domain = taskSlotDomainKey(request.domain);
    if (Number.isNaN(request.now.getTime())) throw new TaskSlotError('now is not a valid time');
    const at = request.now.toISOString();
    const fresh: TaskSlotHolderIdentity = defined({ runId, partitionId, executionArn, since: at });
    assertNoSecrets(fresh);

    for (let round = 0; round < 5; round++) {
      const slots = await this.readSlots(domain);
      const mine = slots.filter((held) => sameHolder(held, runId, partitionId));
      if (mine.length > 0) {
        const kept = await this.keepOne(domain, mine, runId, partitionId);
        if (kept === undefined) continue; // released in between: start over
        if (executionArn !== undefined && executionArn !== kept.executionArn) {
          if (!(await this.moveExecution(domain, kept.slot, runId, partitionId, executionArn))) continue;
        }
        return { acquired: true, slot: kept.slot };
      }

      const bySlot = new Map(slots.map((held) => [held.slot, held]));
      const finished = new Map<TaskSlotHolder, boolean>();
      const isFinished = async (held: TaskSlotHolder): Promise<boolean> => {
        let known = finished.get(held);
        if (known === undefined) finished.set(held, (known = await request.isHolderFinished(held)));
        return known;
      };
      let contended = false;
      for (let n = 0; n < max; n++) {
        const held = bySlot.get(n);
        if (held === undefined) {
          if (await this.takeFree(domain, n, fresh)) return this.settle(domain, n, runId, partitionId);
          contended = true;
          continue;
        }
        if (!(await isFinished(held))) continue;
        const reclaimed = reclaimOf(held, at);
        if (await this.takeFrom(domain, n, held, fresh, reclaimed)) {
          return { ...(await this.settle(domain, n, runId, partitionId)), reclaimed };
        }
        contended = true;
      }
      if (contended) continue; // some slot changed hands while we tried: look again

      const freed: TaskSlotReclaim[] = [];
      for (const held of slots) {
        if (held.slot < max || !(await isFinished(held))) continue;
        if (await this.deleteIfHeldBy(domain, held.slot, held.runId, held.partitionId, held.since)) {
          freed.push(reclaimOf(held, at));
        }
      }
      const holders = freed.length > 0 ? await this.readSlots(domain) : slots;
      return freed.length > 0 ? { acquired: false, holders, freed } : { acquired: false, holders };
    }

    const slots = await this.readSlots(domain);
    const mine = slots.find((held) => sameHolder(held, runId, partitionId));
    if (mine) return { acquired: true, slot: mine.slot };
    if (slots.filter((held) => held.slot < max).length >= max) return { acquired: false, holders: slots };
    throw new TaskSlotError(`task slots of ${domain} kept changing hands; try again`);
  }

  /**
   * Frees the slot(s) held by `runId` + `partitionId` (any slot number). Idempotent, no error when none
   * is held; a slot held by anyone else is never touched. Returns the slots freed.
   */
  async releaseTaskSlot(request: ReleaseTaskSlot): Promise<number[]> {
    requireId(request.runId, 'runId');
    requireId(request.partitionId, 'partitionId');
    const domain = taskSlotDomainKey(request.domain);
    const released: number[] = [];
    for (const held of await this.readSlots(domain)) {
      if (!sameHolder(held, request.runId, request.partitionId)) continue;
      if (request.executionArn !== undefined && held.executionArn !== undefined && held.executionArn !== request.executionArn) continue;
      if (await this.deleteIfHeldBy(domain, held.slot, held.runId, held.partitionId, held.since)) released.push(held.slot);
    }
    return released;
  }

  /** Frees every slot of the domain held by any partition of `runId` (failure and abort paths). Returns the slots freed. */
  async releaseAllTaskSlots(request: ReleaseAllTaskSlots): Promise<number[]> {
    requireId(request.runId, 'runId');
    const domain = taskSlotDomainKey(request.domain);
    const released: number[] = [];
    for (const held of await this.readSlots(domain)) {
      if (held.runId !== request.runId) continue;
      if (await this.deleteIfHeldBy(domain, held.slot, held.runId, held.partitionId, held.since)) released.push(held.slot);
    }
    return released;
  }

  /**
   * Frees every slot (any number) whose holder `isHolderFinished`, each with a delete conditional on that
   * holder, and returns the reclaims (a sweeper's or an operator's tool; acquires reclaim on their own).
   */
  async reclaimFinishedTaskSlots(request: ReclaimFinishedTaskSlots): Promise<TaskSlotReclaim[]> {
    const domain = taskSlotDomainKey(request.domain);
    const at = request.now.toISOString();
    const freed: TaskSlotReclaim[] = [];
    for (const held of await this.readSlots(domain)) {
      if (!(await request.isHolderFinished(held))) continue;
      if (await this.deleteIfHeldBy(domain, held.slot, held.runId, held.partitionId, held.since)) freed.push(reclaimOf(held, at));
    }
    return freed;
  }

  // --- internals ------------------------------------------------------------------------------------

  private async readSlots(domain: string): Promise<TaskSlotHolder[]> {
    const items = await queryAllItems(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :slot)',
      ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#sk': LEDGER_SORT_KEY },
      ExpressionAttributeValues: { ':pk': taskSlotKeys.partition(domain), ':slot': SLOT_PREFIX },
      ConsistentRead: true,
    });
    return items.flatMap((item) => toHolder(domain, item) ?? []).sort((a, b) => a.slot - b.slot);
  }

  private slotItem(domain: string, n: number, holder: TaskSlotHolderIdentity, reclaim?: TaskSlotReclaim) {
    const item = defined({ domain, slot: n, holder: defined({ ...holder }), reclaim });
    assertNoSecrets(item);
    return { ...item, ...taskSlotKeys.slot(domain, n) };
  }

  /** Put on a free slot (or one this holder already has, a concurrent acquire of its own). */
  private async takeFree(domain: string, n: number, holder: TaskSlotHolderIdentity): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: this.slotItem(domain, n, holder),
        ConditionExpression: 'attribute_not_exists(#h) OR (#h.#r = :r AND #h.#p = :p)',
        ExpressionAttributeNames: { '#h': 'holder', '#r': 'runId', '#p': 'partitionId' },
        ExpressionAttributeValues: { ':r': holder.runId, ':p': holder.partitionId },
      }),
    );
  }

  /** Put on a slot still held by exactly `previous` (same identity, same `since`). */
  private async takeFrom(
    domain: string,
    n: number,
    previous: TaskSlotHolder,
    holder: TaskSlotHolderIdentity,
    reclaim: TaskSlotReclaim,
  ): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: this.slotItem(domain, n, holder, reclaim),
        ConditionExpression: '#h.#r = :r AND #h.#p = :p AND #h.#s = :s',
        ExpressionAttributeNames: { '#h': 'holder', '#r': 'runId', '#p': 'partitionId', '#s': 'since' },
        ExpressionAttributeValues: { ':r': previous.runId, ':p': previous.partitionId, ':s': previous.since },
      }),
    );
  }

  private async deleteIfHeldBy(domain: string, n: number, runId: string, partitionId: string, since: string): Promise<boolean> {
    return this.conditional(
      new DeleteCommand({
        TableName: this.tableName,
        Key: taskSlotKeys.slot(domain, n),
        ConditionExpression: '#h.#r = :r AND #h.#p = :p AND #h.#s = :s',
        ExpressionAttributeNames: { '#h': 'holder', '#r': 'runId', '#p': 'partitionId', '#s': 'since' },
        ExpressionAttributeValues: { ':r': runId, ':p': partitionId, ':s': since },
      }),
    );
  }

  private async moveExecution(domain: string, n: number, runId: string, partitionId: string, executionArn: string): Promise<boolean> {
    assertNoSecrets({ executionArn });
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: taskSlotKeys.slot(domain, n),
        UpdateExpression: 'SET #h.#e = :e',
        ConditionExpression: '#h.#r = :r AND #h.#p = :p',
        ExpressionAttributeNames: { '#h': 'holder', '#r': 'runId', '#p': 'partitionId', '#e': 'executionArn' },
        ExpressionAttributeValues: { ':r': runId, ':p': partitionId, ':e': executionArn },
      }),
    );
  }

  /**
   * After taking slot `n`: if a concurrent acquire of the same holder took another slot too, both
   * calls keep the lowest and free the rest, so one holder never holds two slots.
   */
  private async settle(domain: string, n: number, runId: string, partitionId: string): Promise<{ acquired: true; slot: number }> {
    const mine = (await this.readSlots(domain)).filter((held) => sameHolder(held, runId, partitionId));
    const kept = await this.keepOne(domain, mine, runId, partitionId);
    return { acquired: true, slot: kept?.slot ?? n };
  }

  /** Keeps the lowest of the holder's slots and frees the others; undefined if none remains. */
  private async keepOne(
    domain: string,
    mine: readonly TaskSlotHolder[],
    runId: string,
    partitionId: string,
  ): Promise<TaskSlotHolder | undefined> {
    const [kept, ...extra] = [...mine].sort((a, b) => a.slot - b.slot);
    for (const held of extra) await this.deleteIfHeldBy(domain, held.slot, runId, partitionId, held.since);
    return kept;
  }

  /** Sends a conditional write: true if it was applied, false if its condition failed. */
  private async conditional(command: PutCommand | DeleteCommand | UpdateCommand): Promise<boolean> {
    try {
      if (command instanceof PutCommand) await this.client.send(command);
      else if (command instanceof DeleteCommand) await this.client.send(command);
      else await this.client.send(command);
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}

function reclaimOf(held: TaskSlotHolder, at: string): TaskSlotReclaim {
  return defined({
    slot: held.slot,
    previousRunId: held.runId,
    previousPartitionId: held.partitionId,
    previousSince: held.since,
    previousExecutionArn: held.executionArn,
    at,
  });
}

function toHolder(domain: string, item: Record<string, unknown>): TaskSlotHolder | undefined {
  const holder = item.holder as Partial<TaskSlotHolderIdentity> | undefined;
  const sk = item[LEDGER_SORT_KEY];
  if (!holder || typeof holder.runId !== 'string' || typeof holder.partitionId !== 'string') return undefined;
  if (typeof sk !== 'string' || !sk.startsWith(SLOT_PREFIX)) return undefined;
  const slot = Number(sk.slice(SLOT_PREFIX.length));
  if (!Number.isInteger(slot) || slot < 0) return undefined;
  return defined({
    domain,
    slot,
    runId: holder.runId,
    partitionId: holder.partitionId,
    executionArn: holder.executionArn,
    since: holder.since ?? '',
    reclaim: item.reclaim as TaskSlotReclaim | undefined,
  });
}

/** Factory form of `new TaskSlots(options)`; `createTaskSlots(ledger)` works with a `Ledger`. */
export function createTaskSlots(options: TaskSlotsOptions): TaskSlots {
  return new TaskSlots(options);
}
