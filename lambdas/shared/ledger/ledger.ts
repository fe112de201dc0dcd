/**
 * The ledger: one DynamoDB table that records every run (docs/design.md "Ledger").
 *
 * | item                               | pk                     | sk                 |
 * |------------------------------------|------------------------|--------------------|
 * | run record                         | `RUN#<runId>`          | `META`             |
 * | counter snapshot, one per poll     | `RUN#<runId>`          | `POLL#<iso time>[#<partition>]` |
 * | live-run lock of a target index    | `LOCK#<target index>`  | `LOCK`             |
 * | dry-run approval (TTL `expiresAt`) | `DRYRUN#<fingerprint>` | `APPROVAL`         |
 *
 * Run records also carry `gsi1pk = TARGET#<target index>` and `gsi1sk = <ISO start time>#<runId>`, a
 * sparse global secondary index (`byTarget`) that answers "what happened to that window?" in one query.
 *
 * The document client is passed in (a module-level singleton in the handlers, a dynalite client
 * locally). Every write goes through {@link assertNoSecrets}: secrets never reach the ledger.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { AutoBatchSize } from '../planning/batch-size';
import type { CanonicalRequest } from '../planning/canonical-request';
import type { RunConfig } from '../runtime/config';
import type { Counters } from '../checks/counters';
import type { DayCount } from '../checks/coverage';
import type { ProbeResult } from '../checks/probe';
import type { RangeProgress, VerificationProgress } from '../checks/verify-ranges';
import { PARTITION_MAX_ATTEMPTS, type PartitionKey, type RecordedPlan, type SourceQuery } from '../planning/partitions';

// ---------------------------------------------------------------------------------------------------
// Table schema: shared with the CDK ledger construct, which creates the same table on AWS.

/** Partition key attribute (S). */
export const LEDGER_PARTITION_KEY = 'pk';
/** Sort key attribute (S). */
export const LEDGER_SORT_KEY = 'sk';
/** Global secondary index of runs by target index. */
export const LEDGER_BY_TARGET_INDEX = 'byTarget';
/** Partition key of {@link LEDGER_BY_TARGET_INDEX} (S): `TARGET#<target index>`. */
export const LEDGER_GSI_PARTITION_KEY = 'gsi1pk';
/** Sort key of {@link LEDGER_BY_TARGET_INDEX} (S): `<ISO start time>#<runId>`. */
export const LEDGER_GSI_SORT_KEY = 'gsi1sk';
/** TTL attribute (epoch seconds); only approvals carry it. */
export const LEDGER_TTL_ATTRIBUTE = 'expiresAt';
/** Billing mode of the table. */
export const LEDGER_BILLING_MODE = 'PAY_PER_REQUEST';

/** Key builders, exported for tests and for the CDK construct's documentation. */
export const ledgerKeys = {
  run: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'META' }),
  // Partitions of one run may poll in the same millisecond: their snapshots must not overwrite each other.
  poll: (runId: string, at: string, partitionId?: string) => ({ pk: `RUN#${runId}`, sk: partitionId ? `POLL#${at}#${partitionId}` : `POLL#${at}` }),
  lock: (targetIndex: string) => ({ pk: `LOCK#${targetIndex}`, sk: 'LOCK' }),
  approval: (fingerprint: string) => ({ pk: `DRYRUN#${fingerprint}`, sk: 'APPROVAL' }),
  partition: (runId: string, partitionId: string) => ({ pk: `RUN#${runId}`, sk: `PART#${partitionId}` }),
  byTarget: (targetIndex: string) => `TARGET#${targetIndex}`,
  byTargetSort: (startedAt: string, runId: string) => `${startedAt}#${runId}`,
} as const;

const KEY_ATTRIBUTES = [LEDGER_PARTITION_KEY, LEDGER_SORT_KEY, LEDGER_GSI_PARTITION_KEY, LEDGER_GSI_SORT_KEY];

// ---------------------------------------------------------------------------------------------------
// Errors. Names follow the project's convention (class `…Error`, `name` the class name, `cause` kept).
// Each class spells its name as a literal: in the minified bundles a class's own name is not its
// source name, and the name is what Lambda reports as `errorType` (test/unit/error-names.test.ts).

export class LedgerError extends Error {
  override readonly name: string = 'LedgerError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `createRun` with a run id that is already recorded; the caller maps it to `InvalidInput`. */
export class RunIdAlreadyUsedError extends LedgerError {
  override readonly name: string = 'RunIdAlreadyUsedError';

  constructor(readonly runId: string, options?: { cause?: unknown }) {
    super(`runId already used: ${runId}`, options);
  }
}

/** An update of a run that has no record. */
export class RunNotFoundError extends LedgerError {
  override readonly name: string = 'RunNotFoundError';

  constructor(readonly runId: string, options?: { cause?: unknown }) {
    super(`no ledger record for run ${runId}`, options);
  }
}

/** `updateRun` setting a status on a run whose status is already terminal (a finished run stays finished). */
export class RunAlreadyFinishedError extends LedgerError {
  override readonly name: string = 'RunAlreadyFinishedError';

  constructor(readonly runId: string, readonly status: RunStatus) {
    super(`run ${runId} is already finished with status ${status}`);
  }
}

/** A value that looks like a secret was about to be written. The message names the path, never the value. */
export class SecretInLedgerError extends LedgerError {
  override readonly name: string = 'SecretInLedgerError';

  constructor(readonly path: string) {
    super(`refusing to write a secret to the ledger at ${path}: store a secret reference instead`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Item shapes

export const RUN_STATUSES = ['VALIDATED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses that end a run. A dry run that recorded its approval ends `SUCCEEDED` (its record says `dryRun`). */
export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'ABORTED'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminalStatus(status: string | undefined): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status ?? '');
}

/** Plain JSON object (maps in DynamoDB). */
export type JsonObject = { [key: string]: unknown };

export interface LockTakeover {
  readonly previousRunId: string;
  /** When the previous holder took the lock (ISO). */
  readonly previousSince: string;
  readonly previousExecutionArn?: string;
  /** When the lock was taken over (ISO). */
  readonly at: string;
}

/** The run's configuration as stored: the normalised input (secrets by reference), its canonical request and the target endpoint. */
export type StoredConfig = RunConfig & { readonly canonicalRequest: CanonicalRequest; readonly targetEndpoint?: string };

/** The dry run a live run launches under, as CheckApproval copied it: what every launch of the run sends. */
export interface ApprovedBy {
  readonly runId: string;
  readonly approvedAt: string;
  readonly fingerprint: string;
  readonly canonicalRequest: CanonicalRequest;
}

/** The dry run's prediction: the sample's probe, or the exact one (`probe: "full"`, `mode` full) in the same shape. */
export type RecordedProbe = ProbeResult & { readonly mode?: 'full'; readonly at?: string; readonly ranges?: number; readonly invocations?: number };

/** The pre-flight's baselines: both clusters' counts and daily histograms. */
export interface Baselines {
  readonly sourceCount: number;
  readonly targetCount: number;
  readonly sourceDays?: readonly DayCount[];
  readonly targetDays?: readonly DayCount[];
  readonly sourceWithoutDate?: number;
  readonly sourceVersion?: string;
  readonly targetVersion?: string;
  readonly targetExists?: boolean;
  readonly at?: string;
}

/** One task of a run as ReconcileRun summed it onto the run record (from its partition item). */
export type PartitionSummary = Pick<PartitionItem, 'kind' | 'start' | 'end' | 'expected' | 'status' | 'attempts' | 'taskIds' | 'launchedAt' | 'counters' | 'stall'> & {
  readonly id: string;
  readonly errors?: PartitionItem['errors'];
};

/** The run's counters as reconciled: the sum of its tasks' results, their arithmetic and first failures. */
export type RunCounters = Counters & { readonly arithmetic?: string; readonly firstFailures?: readonly unknown[] };

/** The last stall a poll reported: no counter change on the task since `since`. */
export interface StallRecord {
  readonly at: string;
  readonly since: string;
  readonly processed: number;
  readonly total: number;
  readonly taskId: string;
  readonly partitionId?: string;
}

/** The run's partition concurrency as it stands: maxConcurrency, lowered by the target's rejections. */
export interface RunConcurrency {
  readonly current: number;
  readonly changes: ReadonlyArray<{ readonly at: string; readonly from: number; readonly to: number; readonly partitionId: string; readonly reason: string }>;
}

/** A run's rethrottles. */
export interface RunThrottle {
  readonly changes: ReadonlyArray<{ readonly at: string; readonly taskId: string; readonly partitionId: string | null; readonly from: number | null; readonly to: number; readonly reason: string }>;
}

/** A reindex into the target that was not the run's own: cancelled and recorded. */
export interface ForeignTask {
  readonly taskId: string;
  readonly opaqueId: string | null;
  readonly description: string;
  readonly cancelledAt: string;
}

/** `RUN#<runId> / META` without its keys. */
export interface RunRecord {
  readonly runId: string;
  readonly targetIndex: string;
  readonly dryRun: boolean;
  readonly status: RunStatus;
  /** Normalised config with secrets replaced by references. */
  readonly config: StoredConfig;
  readonly fingerprint: string;
  readonly requestHash: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly finishedAt?: string;
  readonly executionArn?: string;
  readonly baselines?: Baselines;
  readonly probe?: RecordedProbe | null;
  readonly counters?: RunCounters;
  readonly parity?: JsonObject;
  /** Full verification in progress: the counts and days found first, the ranges left, the classes so far. */
  readonly verification?: VerificationProgress;
  /** A dry run's exact prediction (`probe: "full"`) in progress: the ranges left, the classes so far. */
  readonly exactProbe?: RangeProgress;
  /** Error name without its `Error` suffix, as in the Fail state (`TargetNotEmpty`). */
  readonly error?: string;
  readonly cause?: string;
  readonly foreignTasks?: readonly ForeignTask[];
  readonly lockTakeover?: LockTakeover;
  /** The configuration header the pre-flight rendered, line by line. */
  readonly header?: readonly string[];
  /** The dry run whose approval a live run launched under. */
  readonly approvedBy?: ApprovedBy;
  /** Last stall reported by the poll loop. */
  readonly stall?: StallRecord;
  /** Partitioned runs: the plan (partitions with their expected counts, notes). */
  readonly plan?: RecordedPlan;
  /** `batchSize: "auto"`: the size the dry run resolved from its sample (a live run: its approval's). */
  readonly batch?: AutoBatchSize;
  /** Each task's partition: range, task id(s), status and counters, as ReconcileRun summed them. */
  readonly partitions?: readonly PartitionSummary[];
  /** Partitioned runs: the partition concurrency as lowered by the target's rejections, and each change. */
  readonly concurrency?: RunConcurrency;
  /** The reindex tasks rethrottled because the target rejected their writes, each change. */
  readonly throttle?: RunThrottle;
  /** The target's `index.gc_deletes` as the run found and raised it. */
  readonly tombstones?: TombstoneRetention;
}

/** What `createRun` takes: `updatedAt` defaults to `startedAt`, `status` to `VALIDATED`. */
export type NewRun = Omit<RunRecord, 'updatedAt' | 'status' | 'finishedAt'> & {
  readonly status?: RunStatus;
  readonly updatedAt?: string;
};

/** Attributes `updateRun` may change. A terminal status goes through `finishRun`; a task's id is recorded on its partition. */
export type RunPatch = Partial<
  Omit<RunRecord, 'runId' | 'targetIndex' | 'dryRun' | 'startedAt' | 'updatedAt' | 'finishedAt' | 'status'>
> & { readonly status?: Exclude<RunStatus, TerminalStatus> };

export const PARTITION_STATUSES = ['PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED'] as const;
export type PartitionStatus = (typeof PARTITION_STATUSES)[number];

/** `RUN#<runId> / PART#<pid>` without its keys: one task of the run's plan. */
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


/** Attributes `updatePartition` may change; `null` removes one. */
export type PartitionPatch = { readonly [K in keyof Omit<PartitionItem, 'runId' | 'partitionId' | 'updatedAt'>]?: PartitionItem[K] | null };

export interface FinishRun {
  readonly status: TerminalStatus;
  readonly error?: string;
  readonly cause?: string;
  readonly counters?: RunCounters;
  readonly parity?: JsonObject;
}

/** One counter snapshot; `at` (ISO, UTC) orders the series. */
export type PollSnapshot = { readonly at: string } & JsonObject;

/**
 * The target index's delete-tombstone retention (`index.gc_deletes`) as live runs left it: kept with
 * the lock, because the original value belongs to the index, not to a run (a run taking over a dead
 * run's lock inherits it, and restores the value from before the dead run).
 */
export interface TombstoneRetention {
  /** The concrete index the setting was read from. */
  readonly index: string;
  /** The index's own value before any run raised it; null when it set none (the server default). */
  readonly original: string | null;
  /** What a run set it to; absent while no run changed it. */
  readonly raisedTo?: string;
  /** When it was last recorded (ISO). */
  readonly at: string;
  /** The run that recorded it. */
  readonly runId: string;
}

export interface LockHolder {
  readonly targetIndex: string;
  readonly runId: string;
  /** When this holder took the lock (ISO). */
  readonly since: string;
  readonly executionArn?: string;
  readonly takeover?: LockTakeover;
  readonly tombstones?: TombstoneRetention;
}

export interface AcquireLock {
  readonly targetIndex: string;
  readonly runId: string;
  readonly executionArn?: string;
  readonly now: Date;
  /** Locally: the holder's run record is terminal ({@link Ledger.isRunFinished}); on AWS: its execution is no longer running. */
  readonly isHolderFinished: (holder: LockHolder) => Promise<boolean>;
}

export type AcquireLockResult =
  | { readonly acquired: true; readonly takeover?: LockTakeover }
  | { readonly acquired: false; readonly holder: LockHolder };

export interface Approval {
  readonly fingerprint: string;
  /** The dry run that recorded it. */
  readonly runId: string;
  readonly canonicalRequest: CanonicalRequest;
  readonly requestHash: string;
  readonly baselines: Baselines | Record<string, never>;
  readonly probe: RecordedProbe | Record<string, never> | null;
  /** Partitioned runs: the approved plan (the live run launches exactly these partitions). */
  readonly plan?: RecordedPlan;
  /** `batchSize: "auto"`: the size the dry run resolved; {@link Approval.canonicalRequest} sends it. */
  readonly batch?: AutoBatchSize;
  /**
   * The fingerprint the dry run's header showed when it resolved something the input leaves open (a
   * partition plan, an `"auto"` batch size) and that it covers; {@link Approval.fingerprint} is the lookup key.
   */
  readonly planFingerprint?: string;
  /** ISO time. */
  readonly approvedAt: string;
  /** Epoch seconds: DynamoDB deletes the item some time after (lazily). */
  readonly expiresAt: number;
}

export type NewApproval = Omit<Approval, 'expiresAt'> & { readonly maxAgeHours: number };

export type ApprovalLookup =
  | { readonly found: true; readonly approval: Approval }
  | { readonly found: false; readonly reason: 'none' | 'expired'; readonly approval?: Approval };

export interface LedgerOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Clock for `updatedAt` / `finishedAt`; @default `() => new Date()` */
  readonly clock?: () => Date;
  /** Items per Query page (polls, runs by target); @default 1000 (DynamoDB caps a page at 1 MB anyway) */
  readonly pageSize?: number;
}

// ---------------------------------------------------------------------------------------------------
// Secrets

/** Values under a secret-looking key must start with one of these (a reference, never the secret). */
export const SECRET_REFERENCE_PREFIXES = ['{{secret:', '{{env:', 'secret:', 'arn:aws:secretsmanager:'] as const;
const SECRET_KEY = /password|passwd|secret|authorization/i;

/**
 * Defensive check run on everything the ledger writes: any key whose name contains `password`,
 * `passwd`, `secret` or `authorization` (any case, at any depth) must hold a string starting with
 * `secret:` or `arn:aws:secretsmanager:` (a reference), `null` or nothing; otherwise throws
 * {@link SecretInLedgerError} naming the path (never the value). Objects under such keys are walked.
 * It is a last line of defence, not the redaction itself: callers pass redacted config.
 */
export function assertNoSecrets(value: unknown, path = '$'): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertNoSecrets(item, `${path}[${i}]`));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}.${key}`;
    if (SECRET_KEY.test(key) && child !== null && child !== undefined && typeof child !== 'object') {
      const isReference =
        typeof child === 'string' && SECRET_REFERENCE_PREFIXES.some((prefix) => child.startsWith(prefix));
      if (!isReference) throw new SecretInLedgerError(childPath);
    }
    assertNoSecrets(child, childPath);
  }
}

// ---------------------------------------------------------------------------------------------------
// Access layer

/** Whether a conditional write was refused because its condition failed (not an error of the table). */
export const isConditionFailure = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException || (err as Error | undefined)?.name === 'ConditionalCheckFailedException';

/** The pages of items a query matches, following `LastEvaluatedKey` (keys included). */
export async function* queryItemPages(client: DynamoDBDocumentClient, input: QueryCommandInput): AsyncGenerator<Record<string, unknown>[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    yield page.Items ?? [];
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/** Every item a query matches, across all its pages (keys included). */
export async function queryAllItems(client: DynamoDBDocumentClient, input: QueryCommandInput): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  for await (const page of queryItemPages(client, input)) all.push(...page);
  return all;
}

/** Drops `undefined` members (recursively in plain objects) so writes do not depend on the client's marshall options. */
function prune<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => prune(item)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) if (child !== undefined) out[key] = prune(child);
  return out as T;
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) if (!KEY_ATTRIBUTES.includes(key)) out[key] = value;
  return out as T;
}

function isoTime(value: string, what: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new LedgerError(`${what} is not a valid time: ${value}`);
  // One format for every sort key, so lexical order is time order.
  return time.toISOString();
}

/** Builds `SET a = :a, ...` with placeholders for every name (reserved words such as `status`). */
function setExpression(attributes: Record<string, unknown>, names: Record<string, string>, values: Record<string, unknown>) {
  const parts: string[] = [];
  let i = Object.keys(names).length;
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    const n = `#s${i}`;
    const v = `:s${i}`;
    i++;
    names[n] = key;
    values[v] = value;
    parts.push(`${n} = ${v}`);
  }
  return parts;
}

export class Ledger {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  private readonly clock: () => Date;
  private readonly pageSize: number;

  constructor(options: LedgerOptions) {
    if (!options.tableName) throw new LedgerError('tableName is required');
    this.client = options.client;
    this.tableName = options.tableName;
    this.clock = options.clock ?? (() => new Date());
    this.pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) {
      throw new LedgerError(`pageSize must be a positive integer, got ${String(options.pageSize)}`);
    }
  }

  // --- runs -----------------------------------------------------------------------------------------

  /** Writes `RUN#<runId> / META`; throws {@link RunIdAlreadyUsedError} if the run id is already recorded. */
  async createRun(run: NewRun): Promise<RunRecord> {
    const startedAt = isoTime(run.startedAt, 'startedAt');
    const record = prune({
      ...run,
      status: run.status ?? 'VALIDATED',
      startedAt,
      updatedAt: run.updatedAt ? isoTime(run.updatedAt, 'updatedAt') : startedAt,
    }) as RunRecord;
    assertNoSecrets(record);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...record,
            ...ledgerKeys.run(run.runId),
            [LEDGER_GSI_PARTITION_KEY]: ledgerKeys.byTarget(run.targetIndex),
            [LEDGER_GSI_SORT_KEY]: ledgerKeys.byTargetSort(startedAt, run.runId),
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new RunIdAlreadyUsedError(run.runId, { cause: err });
      throw err;
    }
    return record;
  }

  /** The run record (strongly consistent read), or undefined. */
  async getRun(runId: string): Promise<RunRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.run(runId), ConsistentRead: true }),
    );
    return Item ? stripKeys<RunRecord>(Item) : undefined;
  }

  /**
   * Sets the given attributes (others untouched; `undefined` ones skipped) and `updatedAt`.
   * Throws {@link RunNotFoundError} without a record, and {@link RunAlreadyFinishedError} when the patch
   * sets a status on a run that is already terminal (a late `RUNNING` never resurrects an aborted run).
   */
  async updateRun(runId: string, patch: RunPatch): Promise<RunRecord> {
    if (patch.status !== undefined && isTerminalStatus(patch.status)) {
      throw new LedgerError(`updateRun cannot set the terminal status ${patch.status}: use finishRun`);
    }
    const attributes = prune({ ...patch, updatedAt: this.clock().toISOString() }) as Record<string, unknown>;
    for (const key of [...KEY_ATTRIBUTES, 'runId', 'targetIndex', 'dryRun', 'startedAt', 'finishedAt']) {
      if (key in attributes && key !== 'updatedAt') throw new LedgerError(`updateRun cannot change ${key}`);
    }
    assertNoSecrets(attributes);
    const names: Record<string, string> = { '#pk': LEDGER_PARTITION_KEY };
    const values: Record<string, unknown> = {};
    let condition = 'attribute_exists(#pk)';
    if (patch.status !== undefined) {
      names['#status'] = 'status';
      TERMINAL_STATUSES.forEach((status, i) => (values[`:t${i}`] = status));
      condition += ` AND NOT #status IN (${TERMINAL_STATUSES.map((_, i) => `:t${i}`).join(', ')})`;
    }
    const sets = setExpression(attributes, names, values);
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.run(runId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripKeys<RunRecord>(Attributes ?? {});
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const current = await this.getRun(runId);
      if (!current) throw new RunNotFoundError(runId, { cause: err });
      throw new RunAlreadyFinishedError(runId, current.status);
    }
  }

  /** Appends a foreign reindex task (cancelled, recorded, alarmed on) to the run's `foreignTasks`. */
  async addForeignTask(runId: string, task: JsonObject): Promise<void> {
    const item = prune(task);
    assertNoSecrets(item);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.run(runId),
          UpdateExpression: 'SET #ft = list_append(if_not_exists(#ft, :empty), :task), #updatedAt = :now',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#ft': 'foreignTasks', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':empty': [], ':task': [item], ':now': this.clock().toISOString() },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new RunNotFoundError(runId, { cause: err });
      throw err;
    }
  }

  /**
   * Ends the run: status, `finishedAt`, and the given error / cause / counters / parity. Idempotent: once
   * a run has a terminal status, later finishes (same or other status, e.g. the abort rule racing the
   * failure path) change nothing. Returns the status kept and whether this call set it.
   */
  async finishRun(runId: string, finish: FinishRun): Promise<{ status: TerminalStatus; changed: boolean }> {
    if (!isTerminalStatus(finish.status)) throw new LedgerError(`finishRun needs a terminal status, got ${finish.status}`);
    const now = this.clock().toISOString();
    const attributes = prune({
      status: finish.status,
      error: finish.error,
      cause: finish.cause,
      counters: finish.counters,
      parity: finish.parity,
      finishedAt: now,
      updatedAt: now,
    }) as Record<string, unknown>;
    assertNoSecrets(attributes);
    const names: Record<string, string> = { '#pk': LEDGER_PARTITION_KEY, '#st': 'status' };
    const values: Record<string, unknown> = {};
    TERMINAL_STATUSES.forEach((status, i) => (values[`:t${i}`] = status));
    const sets = setExpression(attributes, names, values);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.run(runId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(#pk) AND NOT #st IN (${TERMINAL_STATUSES.map((_, i) => `:t${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return { status: finish.status, changed: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const current = await this.getRun(runId);
      if (!current) throw new RunNotFoundError(runId, { cause: err });
      if (!isTerminalStatus(current.status)) throw new LedgerError(`finish of run ${runId} refused`, { cause: err });
      return { status: current.status, changed: false };
    }
  }

  /** True when the run's record has a terminal status (local `isHolderFinished`). A run without a record is not finished. */
  async isRunFinished(runId: string): Promise<boolean> {
    return isTerminalStatus((await this.getRun(runId))?.status);
  }

  // --- polls ----------------------------------------------------------------------------------------

  /**
   * Writes one counter snapshot at `RUN#<runId> / POLL#<at>` (`POLL#<at>#<partitionId>` for a partition's).
   * Kept as long as the run record (no TTL).
   */
  async appendPoll(runId: string, snapshot: PollSnapshot): Promise<void> {
    const at = isoTime(snapshot.at, 'snapshot.at');
    const item = prune({ ...snapshot, at, runId });
    assertNoSecrets(item);
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...item, ...ledgerKeys.poll(runId, at, typeof snapshot.partitionId === 'string' ? snapshot.partitionId : undefined) } }),
    );
  }

  /**
   * The run's snapshots in time order, one page at a time; with `afterAt` (ISO) only those strictly
   * after it, read from there on (following a run re-reads only what is new).
   */
  async *pollPages(runId: string, afterAt?: string): AsyncGenerator<PollSnapshot[]> {
    const pages = this.queryPages<PollSnapshot>({
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lo AND :hi',
      ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#sk': LEDGER_SORT_KEY },
      ExpressionAttributeValues: { ':pk': ledgerKeys.run(runId).pk, ':lo': afterAt ? `POLL#${afterAt}` : 'POLL#', ':hi': 'POLL#\uffff' },
      ScanIndexForward: true,
      ConsistentRead: true,
    });
    for await (const page of pages) {
      const newer = afterAt === undefined ? page : page.filter((snapshot) => snapshot.at > afterAt);
      if (newer.length > 0) yield newer;
    }
  }

  /** The run's newest snapshot, if any. */
  async lastPoll(runId: string): Promise<PollSnapshot | undefined> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :poll)',
        ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#sk': LEDGER_SORT_KEY },
        ExpressionAttributeValues: { ':pk': ledgerKeys.run(runId).pk, ':poll': 'POLL#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = page.Items?.[0];
    return item ? stripKeys<PollSnapshot>(item) : undefined;
  }

  /** All of the run's snapshots in time order, or those strictly after `afterAt` (paginated internally; thousands for a 48-hour run). */
  async listPolls(runId: string, afterAt?: string): Promise<PollSnapshot[]> {
    const all: PollSnapshot[] = [];
    for await (const page of this.pollPages(runId, afterAt)) all.push(...page);
    return all;
  }

  // --- lock -----------------------------------------------------------------------------------------

  /** The current holder of a target index's live-run lock, if any. */
  async getLock(targetIndex: string): Promise<LockHolder | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.lock(targetIndex), ConsistentRead: true }),
    );
    return Item ? stripKeys<LockHolder>(Item) : undefined;
  }

  /**
   * One live run per target index. Takes the lock if free; re-acquiring by the holder is idempotent (a
   * new `executionArn`, a hand-over to a fresh execution, is written so the lock follows the live
   * execution). A lock held by another run is taken over only when `isHolderFinished(holder)`, with a
   * write conditional on that holder still holding it (two racing take-overs: one wins). A takeover is
   * stored on the lock item and on the new holder's run record when one exists.
   */
  async acquireLock(request: AcquireLock): Promise<AcquireLockResult> {
    const { targetIndex, runId, executionArn } = request;
    const since = request.now.toISOString();
    const fresh: LockHolder = prune({ targetIndex, runId, since, executionArn });
    assertNoSecrets(fresh);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...fresh, ...ledgerKeys.lock(targetIndex) },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY },
          }),
        );
        return { acquired: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      const holder = await this.getLock(targetIndex);
      if (!holder) continue; // released in between: try again
      if (holder.runId === runId) {
        if (executionArn !== undefined && executionArn !== holder.executionArn) {
          const moved = await this.conditionalLockWrite(
            targetIndex,
            { ...holder, executionArn },
            holder.runId,
          );
          if (!moved) continue;
        }
        return { acquired: true };
      }
      if (!(await request.isHolderFinished(holder))) return { acquired: false, holder };
      const takeover: LockTakeover = prune({
        previousRunId: holder.runId,
        previousSince: holder.since,
        previousExecutionArn: holder.executionArn,
        at: since,
      });
      const inherited = holder.tombstones ? { tombstones: holder.tombstones } : {};
      if (!(await this.conditionalLockWrite(targetIndex, { ...fresh, takeover, ...inherited }, holder.runId))) continue;
      await this.recordTakeover(runId, takeover);
      return { acquired: true, takeover };
    }
    const holder = await this.getLock(targetIndex);
    if (holder && holder.runId !== runId) return { acquired: false, holder };
    throw new LedgerError(`lock on ${targetIndex} kept changing hands; try again`);
  }

  /** Records the index's tombstone retention on the lock, only while `runId` holds it (false otherwise). */
  async setLockTombstones(targetIndex: string, runId: string, tombstones: TombstoneRetention): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.lock(targetIndex),
          UpdateExpression: 'SET #t = :t',
          ConditionExpression: '#runId = :runId',
          ExpressionAttributeNames: { '#t': 'tombstones', '#runId': 'runId' },
          ExpressionAttributeValues: { ':t': prune(tombstones), ':runId': runId },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Deletes the lock only if `runId` holds it. Idempotent: no error when absent or held by another run. */
  async releaseLock(targetIndex: string, runId: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: ledgerKeys.lock(targetIndex),
          ConditionExpression: '#runId = :runId',
          ExpressionAttributeNames: { '#runId': 'runId' },
          ExpressionAttributeValues: { ':runId': runId },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  private async conditionalLockWrite(targetIndex: string, item: LockHolder, expectedRunId: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...prune(item), ...ledgerKeys.lock(targetIndex) },
          ConditionExpression: '#runId = :expected',
          ExpressionAttributeNames: { '#runId': 'runId' },
          ExpressionAttributeValues: { ':expected': expectedRunId },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  private async recordTakeover(runId: string, takeover: LockTakeover): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.run(runId),
          UpdateExpression: 'SET #lt = :lt, #updatedAt = :now',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#lt': 'lockTakeover', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':lt': takeover, ':now': this.clock().toISOString() },
        }),
      );
    } catch (err) {
      // No run record yet: the takeover stays on the lock item; the caller may record it with updateRun.
      if (!isConditionFailure(err)) throw err;
    }
  }

  // --- approvals ------------------------------------------------------------------------------------

  /**
   * Records a dry run's approval with `expiresAt` = approvedAt + maxAgeHours (epoch seconds). A newer
   * dry run replaces it; an older one arriving late (a retry) does not. Returns whether it was stored.
   */
  async putApproval(approval: NewApproval): Promise<{ stored: boolean; approval: Approval }> {
    const { maxAgeHours, ...rest } = approval;
    if (!(maxAgeHours > 0)) throw new LedgerError(`maxAgeHours must be positive, got ${maxAgeHours}`);
    const approvedAt = isoTime(approval.approvedAt, 'approvedAt');
    const item: Approval = prune({
      ...rest,
      approvedAt,
      expiresAt: Math.floor(Date.parse(approvedAt) / 1000 + maxAgeHours * 3600),
    });
    assertNoSecrets(item);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...item, ...ledgerKeys.approval(approval.fingerprint) },
          ConditionExpression: 'attribute_not_exists(#pk) OR #approvedAt <= :approvedAt',
          ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#approvedAt': 'approvedAt' },
          ExpressionAttributeValues: { ':approvedAt': approvedAt },
        }),
      );
      return { stored: true, approval: item };
    } catch (err) {
      if (isConditionFailure(err)) return { stored: false, approval: item };
      throw err;
    }
  }

  /**
   * The approval for a fingerprint if it is younger than `maxAgeHours` at `now`. DynamoDB's TTL deletion
   * is lazy (up to days), so the age is checked here; an expired item is returned with `reason: 'expired'`.
   */
  async getApproval(fingerprint: string, now: Date, maxAgeHours: number): Promise<ApprovalLookup> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.approval(fingerprint), ConsistentRead: true }),
    );
    if (!Item) return { found: false, reason: 'none' };
    const approval = stripKeys<Approval>(Item);
    const ageMs = now.getTime() - Date.parse(approval.approvedAt);
    if (!(ageMs < maxAgeHours * 3_600_000)) return { found: false, reason: 'expired', approval };
    return { found: true, approval };
  }

  // --- history --------------------------------------------------------------------------------------

  /**
   * Every run recorded for a target index, newest first (by start time). Reads the `byTarget` index,
   * which is eventually consistent on DynamoDB: a run created a moment ago may be missing.
   */
  /** Writes the plan's partition items (PENDING) unless they exist (a retried CheckApproval keeps them). */
  async putPartitions(runId: string, partitions: ReadonlyArray<PartitionKey & { expected: number; maxAttempts?: number }>, now: Date): Promise<void> {
    for (const p of partitions) {
      const item: PartitionItem = prune({
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
      });
      assertNoSecrets(item);
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...item, ...ledgerKeys.partition(runId, p.id) },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY },
          }),
        );
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    }
  }

  async getPartition(runId: string, partitionId: string): Promise<PartitionItem> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: ledgerKeys.partition(runId, partitionId), ConsistentRead: true }));
    if (!Item) throw new Error(`run ${runId} has no partition ${partitionId} in the ledger`);
    return stripKeys<PartitionItem>(Item);
  }

  /** Every partition item of a run, in partition id order (a run without partitions: its one task, `all`). */
  async listPartitions(runId: string): Promise<PartitionItem[]> {
    const items = await queryAllItems(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :part)',
      ExpressionAttributeNames: { '#pk': LEDGER_PARTITION_KEY, '#sk': LEDGER_SORT_KEY },
      ExpressionAttributeValues: { ':pk': `RUN#${runId}`, ':part': 'PART#' },
      ConsistentRead: true,
    });
    return items.map((item) => stripKeys<PartitionItem>(item)).sort((a, b) => (a.partitionId < b.partitionId ? -1 : 1));
  }

  /** Sets the given attributes of a partition item (and `updatedAt`); `null` removes one. */
  async updatePartition(runId: string, partitionId: string, patch: PartitionPatch, now: Date): Promise<void> {
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
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: ledgerKeys.partition(runId, partitionId),
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
  async recordPartitionTask(
    runId: string,
    partitionId: string,
    launch: { taskId: string; taskIds: readonly string[]; attempts: number; launchedAt: string; sentRequestHash?: string },
    now: Date,
  ): Promise<{ taskId: string; recorded: boolean }> {
    const attributes = prune({ ...launch, status: 'RUNNING', updatedAt: now.toISOString() }) as Record<string, unknown>;
    assertNoSecrets(attributes);
    const names: Record<string, string> = { '#pk': LEDGER_PARTITION_KEY, '#task': 'taskId' };
    const values: Record<string, unknown> = {};
    const sets = setExpression(attributes, names, values);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.partition(runId, partitionId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#task)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return { taskId: launch.taskId, recorded: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const current = await this.getPartition(runId, partitionId);
      if (!current.taskId) throw new LedgerError(`partition ${partitionId} of run ${runId}: task id neither recorded nor present`, { cause: err });
      return { taskId: current.taskId, recorded: false };
    }
  }

  async runsByTarget(targetIndex: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    const runs: RunRecord[] = [];
    for await (const page of this.queryPages<RunRecord>({
      TableName: this.tableName,
      IndexName: LEDGER_BY_TARGET_INDEX,
      KeyConditionExpression: '#gpk = :gpk',
      ExpressionAttributeNames: { '#gpk': LEDGER_GSI_PARTITION_KEY },
      ExpressionAttributeValues: { ':gpk': ledgerKeys.byTarget(targetIndex) },
      ScanIndexForward: false,
    })) {
      for (const run of page) {
        runs.push(run);
        if (options.limit !== undefined && runs.length >= options.limit) return runs;
      }
    }
    return runs;
  }

  private async *queryPages<T>(input: QueryCommandInput): AsyncGenerator<T[]> {
    for await (const page of queryItemPages(this.client, { ...input, Limit: this.pageSize })) {
      if (page.length > 0) yield page.map((item) => stripKeys<T>(item));
    }
  }
}

/** Factory form of `new Ledger(options)`. */
export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
}
