import { existsSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { substitutionsFor, type Substitution } from './asl';
import { STATE_MACHINE_SERVICE_WILDCARDS, acknowledge, nagSpelling } from './nag';
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
 * `MonthlyBackfill` (DESIGN.md): plans the monthly indices due and, for each in order, runs ReindexRun
 * as a dry run then live (optionally waiting for a person's approval in between). Each placeholder is
 * substituted together with the permission it needs; logging ALL, X-Ray tracing on.
 */
export class MonthlyBackfillStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly substitutionKeys: readonly string[];

  constructor(scope: Construct, id: string, props: MonthlyBackfillStateMachineProps) {
    super(scope, id);
    const definitionFile = props.definitionFile ?? MONTHLY_BACKFILL_ASL;
    if (!existsSync(definitionFile)) throw new Error(`MonthlyBackfillStateMachine: ASL file ${definitionFile} does not exist`);
    const stack = Stack.of(this);
    const syncRuleArn = stack.formatArn({ service: 'events', resource: 'rule', resourceName: SYNC_EVENTS_RULE_NAME });

    const offered: Record<string, Substitution> = {};
    for (const [name, fn] of Object.entries(props.functions)) {
      offered[`${name}FunctionArn`] = { value: fn.functionArn, grant: (role) => fn.grantInvoke(role) };
    }
    Object.assign(offered, {
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
    } satisfies Record<string, Substitution>);
    const substitutions = substitutionsFor('MonthlyBackfillStateMachine', definitionFile, offered);

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(definitionFile),
      definitionSubstitutions: Object.fromEntries(substitutions.map(([key, s]) => [key, s.value])),
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    for (const [, substitution] of substitutions) substitution.grant(this.stateMachine);
    this.substitutionKeys = substitutions.map(([key]) => key);

    acknowledge(this.stateMachine, [
      STATE_MACHINE_SERVICE_WILDCARDS,
      {
        id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, props.reindexRunExecutionsArn)}]`,
        reason: 'states:startExecution.sync:2 describes and stops the ReindexRun executions it starts, whose names are only known at run time: scoped to that one state machine\'s executions.',
      },
      ...(this.substitutionKeys.includes('AlarmTopicArn')
        ? [
            {
              id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
              reason: 'Publishing to the KMS-encrypted notification topic (grantPublish): kms:GenerateDataKey* on that topic\'s key only.',
            },
          ]
        : []),
      ...Object.values(props.functions)
        .filter((fn) => this.substitutionKeys.some((key) => offered[key]?.value === fn.functionArn))
        .map((fn) => ({
          id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, fn.functionArn)}:*]`,
          reason: 'grantInvoke also covers the function\'s versions and aliases (<function ARN>:*); still that one function.',
        })),
    ]);
  }
}
