import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { TimeZone } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface MonthlyScheduleProps {
  /** MonthlyBackfill. */
  readonly stateMachine: sfn.IStateMachine;
  /** EventBridge Scheduler expression, e.g. `cron(0 3 2 * ? *)`; evaluated in UTC. */
  readonly expression: string;
  /** The MonthlyBackfill execution input. */
  readonly input: Readonly<Record<string, unknown>>;
  /**
   * @default true
   */
  readonly enabled?: boolean;
}

/**
 * EventBridge Scheduler schedule (UTC, docs/design.md "All dates and times are UTC") that starts
 * MonthlyBackfill with the configured input; its role may start that one state machine only.
 */
export class MonthlySchedule extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: MonthlyScheduleProps) {
    super(scope, id);
    if (!/^(cron|rate|at)\(.+\)$/.test(props.expression)) {
      throw new Error(`MonthlySchedule: expression ${JSON.stringify(props.expression)} is not cron(...), rate(...) or at(...)`);
    }
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'safe-reindex: start MonthlyBackfill',
      schedule: scheduler.ScheduleExpression.expression(props.expression, TimeZone.ETC_UTC),
      target: new schedulerTargets.StepFunctionsStartExecution(props.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(props.input),
        retryAttempts: 3,
      }),
      enabled: props.enabled ?? true,
    });
  }
}
