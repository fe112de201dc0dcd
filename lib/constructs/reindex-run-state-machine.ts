import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { createAslStateMachine, functionSubstitutions } from './asl';
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
 * `ReindexRun` (docs/design.md "The run"): the ASL file as written (it carries its own Comment,
 * TimeoutSeconds, Retry and Catch: `DefinitionBody.fromFile` adds none), each Lambda placeholder
 * substituted together with the invoke grant; every event logged, X-Ray tracing on.
 */
export class ReindexRunStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The substitution keys used, for tests and documentation. */
  readonly substitutionKeys: readonly string[];

  constructor(scope: Construct, id: string, props: ReindexRunStateMachineProps) {
    super(scope, id);
    ({ stateMachine: this.stateMachine, substitutionKeys: this.substitutionKeys } = createAslStateMachine(this, {
      owner: 'ReindexRunStateMachine',
      definitionFile: props.definitionFile ?? REINDEX_RUN_ASL,
      offered: functionSubstitutions(props.functions),
      functions: props.functions,
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
    }));
  }
}
