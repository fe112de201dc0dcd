/**
 * Partitioned runs: what the run states share. The per-partition ledger items
 * (`RUN#<runId> / PART#<pid>`), the request of one partition, its X-Opaque-Id run tag, and the
 * run-level slot key (the same `TaskSlots` semaphore, keyed on a per-run path of the target endpoint).
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { requestHash, stableJson, type CanonicalRequest } from './canonical-request';
import { ZERO_COUNTERS, type Counters } from './counters';
import { LEDGER_PARTITION_KEY, LEDGER_SORT_KEY, assertNoSecrets, isConditionFailure, queryAllItems, type Ledger } from './ledger';
import type { PartitionKey, PartitionsRequest, SourceQuery } from './partitions';

export const PARTITION_STATUSES = ['PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED'] as const;
export type PartitionStatus = (typeof PARTITION_STATUSES)[number];

/** Attempts of one partition (first run included) before it is left FAILED and the run fails. */
export const PARTITION_MAX_ATTEMPTS = 3;

/**
 * The one partition of a run without `partitions`: every document of its scope, the approved request
 * unchanged, tagged with the run id alone (`X-Opaque-Id: <runId>/<hash>`). It gets one attempt: a lost
 * or failed whole-index task ends the run with its own error, and the operator decides the rerun.
 */
export const WHOLE_INDEX_PARTITION_ID = 'all';
export const WHOLE_INDEX_MAX_ATTEMPTS = 1;

/** `RUN#<runId> / PART#<pid>` without its keys. */
export interface PartitionItem {
  readonly runId: string;
  readonly partitionId: string;
  readonly kind: PartitionKey['kind'];
  readonly start?: string;
  readonly end?: string;
  readonly query: SourceQuery | null;
  /** Documents the live pre-flight expects in this partition (shown, never fingerprinted). */
  readonly expected: number;
  readonly status: PartitionStatus;
  readonly attempts: number;
  /** Attempts before it is left FAILED: {@link PARTITION_MAX_ATTEMPTS}, or 1 for the whole-index partition. */
  readonly maxAttempts?: number;
  /** The task of the current attempt. */
  readonly taskId?: string;
  /** Every task launched for this partition, in order. */
  readonly taskIds: readonly string[];
  readonly launchedAt?: string;
  readonly sentRequestHash?: string;
  readonly counters?: Counters & { readonly arithmetic?: string };
  /** The first failures the finished task reported (as reconciled). */
  readonly firstFailures?: readonly unknown[];
  /** The highest `retries.bulk` seen on this partition's task (the target rejecting writes). */
  readonly retriesBulk?: number;
  /** The last stall PollPartition reported on this partition's task (no counter change for `guards.stallMinutes`). */
  readonly stall?: { readonly at: string; readonly since: string; readonly processed: number; readonly total: number; readonly taskId: string };
  readonly errors: ReadonlyArray<{ readonly attempt: number; readonly error: string; readonly cause: string; readonly taskId?: string }>;
  readonly updatedAt: string;
}

export const partitionKeys = {
  item: (runId: string, partitionId: string) => ({ pk: `RUN#${runId}`, sk: `PART#${partitionId}` }),
};

/** The hash a partitioned run's fingerprint covers: the base request plus the partitions spec. */
export function partitionedRequestHash(base: CanonicalRequest, spec: PartitionsRequest): string {
  return createHash('sha256').update(stableJson({ request: requestHash(base), partitions: spec })).digest('hex');
}

/**
 * A partitioned run's fingerprint: the request fingerprint (base request, partitions spec, target) plus
 * each partition's id, bounds and query, so that a dry run approves the concrete plan. Counts are not in it.
 */
export function planFingerprint(requestFingerprint: string, plan: ReadonlyArray<PartitionKey & { readonly expected?: number }>): string {
  const keys = plan.map(({ expected: _expected, ...key }) => key);
  return createHash('sha256').update(stableJson({ fingerprint: requestFingerprint, partitions: keys })).digest('hex');
}

/** One partition's request: the approved canonical request with `source.query` = the partition's query. */
export function partitionRequest(approved: CanonicalRequest, query: SourceQuery | null): CanonicalRequest {
  const { query: _old, ...source } = approved.body.source;
  return { ...approved, body: { ...approved.body, source: query === null ? source : { ...source, query } } };
}

/** The run id a partition's task carries in `X-Opaque-Id` (`<runId>.<pid>/<hash>`, the whole index `<runId>/<hash>`; run ids allow '.'). */
export function partitionTag(runId: string, partitionId: string): string {
  return partitionId === WHOLE_INDEX_PARTITION_ID ? runId : `${runId}.${partitionId}`;
}

/** Whether an `X-Opaque-Id` run tag is one of this run's tasks (the whole index, or one of its partitions). */
export function isRunTag(runId: string, tag: string | undefined): boolean {
  return tag === runId || (tag !== undefined && tag.startsWith(`${runId}.`) && /^p\d+$/.test(tag.slice(runId.length + 1)));
}

/** The run-level slots of a run: the target endpoint with a per-run path (its own domain key). */
export function runSlotDomain(targetEndpoint: string, runId: string): string {
  const url = new URL(targetEndpoint);
  return `${url.protocol}//${url.host}/_safe-reindex-run/${runId}`;
}

export function sumCounters(all: ReadonlyArray<Counters | undefined>): Counters {
  return all.reduce<Counters>(
    (sum, c) =>
      c === undefined
        ? sum
        : {
            total: sum.total + c.total,
            created: sum.created + c.created,
            updated: sum.updated + c.updated,
            deleted: sum.deleted + c.deleted,
            noops: sum.noops + c.noops,
            versionConflicts: sum.versionConflicts + c.versionConflicts,
            failures: sum.failures + c.failures,
          },
    ZERO_COUNTERS,
  );
}

type Item = Record<string, unknown>;

function strip(item: Item): PartitionItem {
  const { [LEDGER_PARTITION_KEY]: _pk, [LEDGER_SORT_KEY]: _sk, ...rest } = item;
  return rest as unknown as PartitionItem;
}

/** Writes the plan's partition items (PENDING) unless they exist (a retried CheckApproval keeps them). */
export async function putPartitions(
  ledger: Ledger,
  runId: string,
  partitions: ReadonlyArray<PartitionKey & { expected: number; maxAttempts?: number }>,
  now: Date,
): Promise<void> {
  for (const p of partitions) {
    const item: PartitionItem = JSON.parse(
      JSON.stringify({
        runId,
        partitionId: p.id,
        kind: p.kind,
        start: p.start,
        end: p.end,
        query: p.query,
        expected: p.expected,
        status: 'PENDING',
        attempts: 0,
        maxAttempts: p.maxAttempts ?? PARTITION_MAX_ATTEMPTS,
        taskIds: [],
        errors: [],
        updatedAt: now.toISOString(),
      }),
    ) as PartitionItem;
    assertNoSecrets(item);
    try {
      await ledger.client.send(
        new PutCommand({
          TableName: ledger.tableName,
          Item: { ...item, ...partitionKeys.item(runId, p.id) },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY },
        }),
      );
    } catch (err) {
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
  }
}

export async function getPartition(ledger: Ledger, runId: string, partitionId: string): Promise<PartitionItem> {
  const { Item } = await ledger.client.send(
    new GetCommand({ TableName: ledger.tableName, Key: partitionKeys.item(runId, partitionId), ConsistentRead: true }),
  );
  if (!Item) throw new Error(`run ${runId} has no partition ${partitionId} in the ledger`);
  return strip(Item);
}

/** Every partition item of a run, in partition id order. */
export async function listPartitions(ledger: Ledger, runId: string): Promise<PartitionItem[]> {
  const items = await queryAllItems(ledger.client, {
    TableName: ledger.tableName,
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :part)',
    ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#sk': LEDGER_SORT_KEY },
    ExpressionAttributeValues: { ':pk': `RUN#${runId}`, ':part': 'PART#' },
    ConsistentRead: true,
  });
  return items.map((item) => strip(item)).sort((a, b) => (a.partitionId < b.partitionId ? -1 : 1));
}

/** Sets the given attributes of a partition item (and `updatedAt`); `null` removes one. */
export async function updatePartition(
  ledger: Ledger,
  runId: string,
  partitionId: string,
  patch: Partial<Record<keyof PartitionItem, unknown>>,
  now: Date,
): Promise<void> {
  const attributes = JSON.parse(JSON.stringify({ ...patch, updatedAt: now.toISOString() })) as Record<string, unknown>;
  assertNoSecrets(attributes);
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  const removes: string[] = [];
  Object.entries(attributes).forEach(([key, value], i) => {
    names[`#a${i}`] = key;
    if (value === null) removes.push(`#a${i}`);
    else {
      values[`:a${i}`] = value;
      sets.push(`#a${i} = :a${i}`);
    }
  });
  await ledger.client.send(
    new UpdateCommand({
      TableName: ledger.tableName,
      Key: partitionKeys.item(runId, partitionId),
      UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    }),
  );
}

/**
 * Records the task of a partition's attempt unless one is recorded already (a retried launch, or a
 * second launch racing this one): the task that stays recorded is returned, and a caller whose own task
 * lost the race cancels it.
 */
export async function recordPartitionTask(
  ledger: Ledger,
  runId: string,
  partitionId: string,
  launch: { taskId: string; taskIds: readonly string[]; attempts: number; launchedAt: string; sentRequestHash?: string },
  now: Date,
): Promise<{ taskId: string; recorded: boolean }> {
  const { taskId, ...rest } = launch;
  const attributes = JSON.parse(JSON.stringify({ taskId, ...rest, status: 'RUNNING', updatedAt: now.toISOString() })) as Record<string, unknown>;
  assertNoSecrets(attributes);
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(attributes).map(([key, value], i) => {
    names[`#a${i}`] = key;
    values[`:a${i}`] = value;
    return `#a${i} = :a${i}`;
  });
  try {
    await ledger.client.send(
      new UpdateCommand({
        TableName: ledger.tableName,
        Key: partitionKeys.item(runId, partitionId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#task)',
        ExpressionAttributeNames: { ...names, '#pk': LEDGER_PARTITION_KEY, '#task': 'taskId' },
        ExpressionAttributeValues: values,
      }),
    );
    return { taskId, recorded: true };
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const current = await getPartition(ledger, runId, partitionId);
    if (!current.taskId) throw new Error(`partition ${partitionId} of run ${runId}: task id neither recorded nor present`, { cause: err });
    return { taskId: current.taskId, recorded: false };
  }
}
