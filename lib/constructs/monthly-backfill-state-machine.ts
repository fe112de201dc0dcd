import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { createAslStateMachine, functionSubstitutions, type Substitution } from './asl';
import { nagSpelling } from './nag';
import { MONTHLY_BACKFILL_ASL } from './paths';

/** The EventBridge managed rule through which Step Functions learns that a child execution ended. */
export const SYNC_EVENTS_RULE_NAME = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

export interface MonthlyBackfillStateMachineProps {
  /**
   * The functions it may call, by state name: `PlanMonths` fills `${PlanMonthsFunctionArn}`. Functions
   * the ASL does not name are neither substituted nor granted.
   */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The state machine it runs for each month (`states:startExecution.sync:2`): fills `${ReindexRunStateMachineArn}`. */
  readonly reindexRun: sfn.IStateMachine;
  /**
   * ARN pattern of the ReindexRun executions (`arn:...:execution:<name>:*`), which it describes and stops.
   */
  readonly reindexRunExecutionsArn: string;
  /** Where a manual approval is announced: fills `${AlarmTopicArn}` if the ASL publishes itself. */
  readonly approvalTopic: sns.ITopic;
  /**
   * The ASL definition.
   * @default the project's statemachines/monthly-backfill.asl.json
   */
  readonly definitionFile?: string;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * `MonthlyBackfill` (docs/design.md): plans the monthly indices due and, for each in order, runs ReindexRun
 * as a dry run then live (optionally waiting for a person's approval in between). Each placeholder is
 * substituted together with the permission it needs; logging ALL, X-Ray tracing on.
 */
export class MonthlyBackfillStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly substitutionKeys: readonly string[];

  constructor(scope: Construct, id: string, props: MonthlyBackfillStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const syncRuleArn = stack.formatArn({ service: 'events', resource: 'rule', resourceName: SYNC_EVENTS_RULE_NAME });

    const offered: Record<string, Substitution> = {
      ...functionSubstitutions(props.functions),
      ReindexRunStateMachineArn: {
        value: props.reindexRun.stateMachineArn,
        // states:startExecution.sync:2 — start, then follow the child through the managed rule.
        grant: (role) => {
          props.reindexRun.grantStartExecution(role);
          iam.Grant.addToPrincipal({
            grantee: role,
            actions: ['states:DescribeExecution', 'states:StopExecution'],
            resourceArns: [props.reindexRunExecutionsArn],
          });
          iam.Grant.addToPrincipal({
            grantee: role,
            actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
            resourceArns: [syncRuleArn],
          });
        },
      },
      AlarmTopicArn: { value: props.approvalTopic.topicArn, grant: (role) => props.approvalTopic.grantPublish(role) },
    };
    ({ stateMachine: this.stateMachine, substitutionKeys: this.substitutionKeys } = createAslStateMachine(this, {
      owner: 'MonthlyBackfillStateMachine',
      definitionFile: props.definitionFile ?? MONTHLY_BACKFILL_ASL,
      offered,
      functions: props.functions,
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
      acknowledgements: (keys) => [
        {
          id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, props.reindexRunExecutionsArn)}]`,
          reason: 'states:startExecution.sync:2 describes and stops the ReindexRun executions it starts, whose names are only known at run time: scoped to that one state machine\'s executions.',
        },
        ...(keys.includes('AlarmTopicArn')
          ? [
              {
                id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
                reason: 'Publishing to the KMS-encrypted notification topic (grantPublish): kms:GenerateDataKey* on that topic\'s key only.',
              },
            ]
          : []),
      ],
    }));
  }
}
