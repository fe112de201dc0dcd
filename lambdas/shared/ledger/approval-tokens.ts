/**
 * Pending manual approvals of MonthlyBackfill (between an index's dry run and its live run), kept in
 * the ledger table so that an operator can answer from a terminal:
 * `safe-reindex aws approve <run id>` / `safe-reindex aws reject <run id> [--reason TEXT]`.
 *
 * | item                               | pk                  | sk      |
 * |------------------------------------|---------------------|---------|
 * | pending approval of a run (TTL)    | `APPROVAL#<runId>`  | `TOKEN` |
 *
 * Contract with MonthlyBackfill: its approval step is a `.waitForTaskToken` task (a Step Functions
 * task token exists only inside such a task, as `$$.Task.Token`), e.g. `arn:aws:states:::lambda:invoke.waitForTaskToken`
 * with a small Lambda that calls {@link putPendingApproval} with the token, then publishes the SNS
 * notice naming the run id. `approve` sends `SendTaskSuccess` with {@link ApprovalOutput} as output;
 * `reject` sends `SendTaskFailure` with error {@link REJECTED_ERROR} and the reason as cause.
 *
 * The run id is the one the notice tells the operator to approve: by convention the dry run's run id
 * (the run whose receipts the person reviewed).
 */
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { assertNoSecrets, isConditionFailure } from './ledger';

/** Error of `SendTaskFailure` when a person rejects: MonthlyBackfill's approval step sees `Rejected`. */
export const REJECTED_ERROR = 'Rejected';
/** Sort key of a pending-approval item. */
export const APPROVAL_TOKEN_SORT_KEY = 'TOKEN';
/** Default lifetime of a pending-approval item (TTL `expiresAt`): 7 days. */
export const DEFAULT_APPROVAL_TTL_HOURS = 7 * 24;

export const approvalTokenKey = (runId: string) => ({ pk: `APPROVAL#${runId}`, sk: APPROVAL_TOKEN_SORT_KEY }) as const;

export type ApprovalDecision = 'APPROVED' | 'REJECTED';

export interface PendingApproval {
  /** The run the operator approves (by convention the dry run). */
  readonly runId: string;
  /** `$$.Task.Token` of the waiting step. */
  readonly taskToken: string;
  /** ISO time the step started waiting. */
  readonly requestedAt: string;
  /** The MonthlyBackfill execution that waits (`$$.Execution.Id`). */
  readonly executionArn?: string;
  readonly targetIndex?: string;
  /** The live run that an approval launches. */
  readonly liveRunId?: string;
  /** Epoch seconds (the table's TTL attribute). */
  readonly expiresAt?: number;
  /** Set once a person answered. */
  readonly decision?: ApprovalDecision;
  readonly decidedAt?: string;
  readonly decidedBy?: string;
  readonly reason?: string;
}

export interface PendingApprovalDetails {
  readonly executionArn?: string;
  readonly targetIndex?: string;
  readonly liveRunId?: string;
  /** @default now */
  readonly requestedAt?: Date;
  /** Lifetime of the item; give at least the approval step's TimeoutSeconds. @default {@link DEFAULT_APPROVAL_TTL_HOURS} */
  readonly ttlHours?: number;
}

/** What `approve` sends as the task's output (the approval step's result). */
export interface ApprovalOutput {
  readonly approved: true;
  readonly runId: string;
  readonly decidedBy: string;
  readonly decidedAt: string;
}

/** A stored item without its keys: the ledger reads back only what it wrote, so the item is what it was written as. */
function withoutKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}

/**
 * Records the token of a step waiting for a person. A newer token for the same run replaces an older
 * one (a retried step has a new token) and clears any earlier decision.
 */
export async function putPendingApproval(
  client: DynamoDBDocumentClient,
  tableName: string,
  runId: string,
  taskToken: string,
  details: PendingApprovalDetails = {},
): Promise<PendingApproval> {
  if (!runId) throw new Error('runId is required');
  if (!taskToken) throw new Error('taskToken is required');
  const requestedAt = (details.requestedAt ?? new Date()).toISOString();
  const ttlHours = details.ttlHours ?? DEFAULT_APPROVAL_TTL_HOURS;
  const item: PendingApproval = {
    runId,
    taskToken,
    requestedAt,
    expiresAt: Math.floor(Date.parse(requestedAt) / 1000 + ttlHours * 3600),
    ...(details.executionArn ? { executionArn: details.executionArn } : {}),
    ...(details.targetIndex ? { targetIndex: details.targetIndex } : {}),
    ...(details.liveRunId ? { liveRunId: details.liveRunId } : {}),
  };
  assertNoSecrets(item);
  await client.send(new PutCommand({ TableName: tableName, Item: { ...item, ...approvalTokenKey(runId) } }));
  return item;
}

/** The pending (or already answered) approval of a run, strongly consistent; undefined if none. */
export async function getPendingApproval(
  client: DynamoDBDocumentClient,
  tableName: string,
  runId: string,
): Promise<PendingApproval | undefined> {
  const { Item } = await client.send(
    new GetCommand({ TableName: tableName, Key: approvalTokenKey(runId), ConsistentRead: true }),
  );
  return Item ? withoutKeys(Item) : undefined;
}

/**
 * Claims the answer: records the decision only if the item still holds `taskToken` and has none yet
 * (two people answering at once: one wins). Returns whether this call recorded it.
 */
export async function claimApprovalDecision(
  client: DynamoDBDocumentClient,
  tableName: string,
  runId: string,
  taskToken: string,
  answer: { decision: ApprovalDecision; decidedBy: string; decidedAt: string; reason?: string },
): Promise<boolean> {
  const values: Record<string, unknown> = {
    ':token': taskToken,
    ':decision': answer.decision,
    ':by': answer.decidedBy,
    ':at': answer.decidedAt,
  };
  let update = 'SET #decision = :decision, #decidedBy = :by, #decidedAt = :at';
  const names: Record<string, string> = {
    '#decision': 'decision',
    '#decidedBy': 'decidedBy',
    '#decidedAt': 'decidedAt',
    '#token': 'taskToken',
  };
  if (answer.reason !== undefined) {
    names['#reason'] = 'reason';
    values[':reason'] = answer.reason;
    update += ', #reason = :reason';
  }
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: approvalTokenKey(runId),
        UpdateExpression: update,
        ConditionExpression: '#token = :token AND attribute_not_exists(#decision)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/** Undoes a claim whose Step Functions call did not go through (the answer can be given again). */
export async function releaseApprovalDecision(
  client: DynamoDBDocumentClient,
  tableName: string,
  runId: string,
  taskToken: string,
): Promise<void> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: approvalTokenKey(runId),
        UpdateExpression: 'REMOVE #decision, #decidedBy, #decidedAt, #reason',
        ConditionExpression: '#token = :token',
        ExpressionAttributeNames: {
          '#decision': 'decision',
          '#decidedBy': 'decidedBy',
          '#decidedAt': 'decidedAt',
          '#reason': 'reason',
          '#token': 'taskToken',
        },
        ExpressionAttributeValues: { ':token': taskToken },
      }),
    );
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
}
