import { existsSync } from 'node:fs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { substitutionsFor, type Substitution } from './asl';
import { STATE_MACHINE_SERVICE_WILDCARDS, acknowledge, nagSpelling } from './nag';
import { REINDEX_RUN_ASL } from './paths';

export interface ReindexRunStateMachineProps {
  /**
   * The state functions, by state name: `ValidateInput` fills `${ValidateInputFunctionArn}`.
   * Every `<State>FunctionArn` placeholder of the ASL needs one; functions the ASL does not name are
   * neither substituted nor granted.
   */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /**
   * The ASL definition.
   * @default the project's statemachines/reindex-run.asl.json
   */
  readonly definitionFile?: string;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * `ReindexRun` (DESIGN.md "The run"): the ASL file as written (it carries its own Comment,
 * TimeoutSeconds, Retry and Catch: `DefinitionBody.fromFile` adds none), each Lambda placeholder
 * substituted together with the invoke grant; every event logged, X-Ray tracing on.
 */
export class ReindexRunStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The substitution keys used, for tests and documentation. */
  readonly substitutionKeys: readonly string[];

  constructor(scope: Construct, id: string, props: ReindexRunStateMachineProps) {
    super(scope, id);
    const definitionFile = props.definitionFile ?? REINDEX_RUN_ASL;
    if (!existsSync(definitionFile)) throw new Error(`ReindexRunStateMachine: ASL file ${definitionFile} does not exist`);

    const offered: Record<string, Substitution> = {};
    for (const [name, fn] of Object.entries(props.functions)) {
      offered[`${name}FunctionArn`] = { value: fn.functionArn, grant: (role) => fn.grantInvoke(role) };
    }
    const substitutions = substitutionsFor('ReindexRunStateMachine', definitionFile, offered);

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
      ...Object.values(props.functions)
        .filter((fn) => this.substitutionKeys.some((key) => offered[key]?.value === fn.functionArn))
        .map((fn) => ({
          id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, fn.functionArn)}:*]`,
          reason: 'grantInvoke also covers the function\'s versions and aliases (<function ARN>:*); still that one function.',
        })),
    ]);
  }
}
