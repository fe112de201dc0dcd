import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { putPendingApproval } from '../shared/ledger/approval-tokens';
import type { Ledger } from '../shared/ledger/ledger';

/** What MonthlyBackfill's WaitForApproval step passes (`lambda:invoke.waitForTaskToken`). */
export interface ApprovalRequest {
  readonly taskToken: string;
  readonly month: string;
  readonly sourceIndex: string;
  readonly targetIndex: string;
  readonly liveRunId: string;
  readonly backfillExecutionArn: string;
  readonly dryRun: {
    readonly runId: string;
    readonly sourceCount: number;
    readonly targetCount: number;
    readonly fingerprint: string;
    readonly approvedUntil: string;
  };
  /** Seconds the step waits: the pending approval lives as long. */
  readonly timeoutSeconds?: number;
}

export interface ApprovalDeps {
  readonly ledger: Ledger;
  readonly documentClient: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly topicArn: string;
  publish(topicArn: string, subject: string, message: string): Promise<void>;
  now(): Date;
}

/**
 * Manual approval between a month's dry run and its live run: store the task token where
 * `safe-reindex aws approve|reject <dry run id>` finds it, then tell the operators, with the dry run's
 * configuration header. The token itself is not mailed: it is a capability, kept in the ledger.
 */
export async function requestApproval(request: ApprovalRequest, deps: ApprovalDeps): Promise<{ notified: string }> {
  const dry = request.dryRun;
  await putPendingApproval(deps.documentClient, deps.tableName, dry.runId, request.taskToken, {
    executionArn: request.backfillExecutionArn,
    targetIndex: request.targetIndex,
    liveRunId: request.liveRunId,
    requestedAt: deps.now(),
    ttlHours: Math.max(24, Math.ceil((request.timeoutSeconds ?? 86_400) / 3600)),
  });
  const header = (await deps.ledger.getRun(dry.runId))?.header ?? [];
  const message = {
    summary:
      `Approve the live backfill of ${request.targetIndex} (month ${request.month}, source index ${request.sourceIndex})? ` +
      `Its dry run ${dry.runId} recorded the approval: source ${dry.sourceCount} documents, target ${dry.targetCount} ` +
      `documents already there, fingerprint ${dry.fingerprint}, valid until ${dry.approvedUntil}. Read the configuration ` +
      `header below (or safe-reindex aws report ${dry.runId}), then answer with safe-reindex aws approve ${dry.runId} ` +
      `or safe-reindex aws reject ${dry.runId} --reason TEXT.`,
    header,
    month: request.month,
    sourceIndex: request.sourceIndex,
    targetIndex: request.targetIndex,
    dryRun: dry,
    liveRunId: request.liveRunId,
    approve: `safe-reindex aws approve ${dry.runId}`,
    reject: `safe-reindex aws reject ${dry.runId} --reason TEXT`,
    backfillExecutionArn: request.backfillExecutionArn,
  };
  await deps.publish(deps.topicArn, `safe-reindex: approve the live backfill of ${request.targetIndex}?`, JSON.stringify(message, null, 2));
  return { notified: deps.topicArn };
}
