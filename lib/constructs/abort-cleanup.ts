import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** The execution statuses after which a run's task must not be left running nor its lock held. */
export const ABORT_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

export interface AbortCleanupProps {
  /** Whose executions are watched. */
  readonly stateMachine: sfn.IStateMachine;
  /** The cleanup (lambdas/abort-run): cancels the run's task, releases its lock, marks it ABORTED. Idempotent. */
  readonly cleanup: lambda.IFunction;
  /**
   * Retries of the cleanup invocation.
   * @default 8
   */
  readonly retryAttempts?: number;
}

/**
 * Stopping an execution (console "Stop"), its timeout or an unrecorded failure must not orphan the
 * reindex: an EventBridge rule on "Step Functions Execution Status Change" of the ReindexRun state
 * machine with status ABORTED, TIMED_OUT or FAILED invokes the cleanup function (docs/design.md).
 * FAILED is included although RecordFailure normally did the work: the cleanup is idempotent and
 * covers a RecordFailure that itself failed.
 */
export class AbortCleanup extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: AbortCleanupProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description: 'safe-reindex: clean up a ReindexRun execution that was stopped, timed out or failed',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: [...ABORT_STATUSES] },
      },
      targets: [
        new targets.LambdaFunction(props.cleanup, {
          retryAttempts: props.retryAttempts ?? 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }
}
