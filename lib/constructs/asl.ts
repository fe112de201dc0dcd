import { existsSync, readFileSync } from 'node:fs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { STATE_MACHINE_SERVICE_WILDCARDS, acknowledge, nagSpelling, type NagAcknowledgement } from './nag';

/** `${Name}` placeholders of an ASL file, sorted, each once. */
export function aslPlaceholders(aslPath: string): string[] {
  const text = readFileSync(aslPath, 'utf8');
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

/**
 * One definition substitution and the grant that makes it usable, kept together so that neither
 * exists without the other.
 */
export interface Substitution {
  /** The value put in place of `${key}`. */
  readonly value: string;
  /** Grants the state machine's role what the substituted resource needs. */
  grant(role: iam.IGrantable): void;
}

/**
 * The substitutions an ASL file asks for, taken from what the construct offers; throws early, naming
 * the file, the placeholders without a value and the ones that have one.
 */
export function substitutionsFor(
  owner: string,
  aslPath: string,
  offered: Readonly<Record<string, Substitution>>,
): Array<[string, Substitution]> {
  const wanted = aslPlaceholders(aslPath);
  const unknown = wanted.filter((key) => !(key in offered));
  if (unknown.length > 0) {
    throw new Error(
      `${owner}: ${aslPath} has placeholders without a value: ${unknown.map((k) => '${' + k + '}').join(', ')}; ` +
        `the ones this construct can fill are ${Object.keys(offered).sort().join(', ')}`,
    );
  }
  return wanted.map((key) => [key, offered[key]!]);
}

/** What {@link createAslStateMachine} builds a state machine from. */
export interface AslStateMachineProps {
  /** The construct's name, for error messages. */
  readonly owner: string;
  readonly definitionFile: string;
  /** Every substitution the construct can fill; only those the ASL names are used (and granted). */
  readonly offered: Readonly<Record<string, Substitution>>;
  /** The Lambda functions among `offered`: each one substituted gets its `:*` grant acknowledged. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  readonly logRetention?: logs.RetentionDays;
  /** Further cdk-nag acknowledgements on the state machine, given the substitution keys used. */
  readonly acknowledgements?: (substitutionKeys: readonly string[]) => readonly NagAcknowledgement[];
}

/**
 * A Standard state machine from an ASL file as written (it carries its own Comment, TimeoutSeconds,
 * Retry and Catch: `DefinitionBody.fromFile` adds none): each placeholder substituted together with its
 * grant, every event logged, X-Ray tracing on. Its children are `Logs` and `Resource` of `scope`.
 */
export function createAslStateMachine(
  scope: Construct,
  props: AslStateMachineProps,
): { stateMachine: sfn.StateMachine; substitutionKeys: readonly string[] } {
  if (!existsSync(props.definitionFile)) throw new Error(`${props.owner}: ASL file ${props.definitionFile} does not exist`);
  const substitutions = substitutionsFor(props.owner, props.definitionFile, props.offered);
  const logGroup = new logs.LogGroup(scope, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });
  const stateMachine = new sfn.StateMachine(scope, 'Resource', {
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile),
    definitionSubstitutions: Object.fromEntries(substitutions.map(([key, s]) => [key, s.value])),
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    tracingEnabled: true,
  });
  for (const [, substitution] of substitutions) substitution.grant(stateMachine);
  const substitutionKeys = substitutions.map(([key]) => key);
  acknowledge(stateMachine, [
    STATE_MACHINE_SERVICE_WILDCARDS,
    ...(props.acknowledgements?.(substitutionKeys) ?? []),
    ...Object.values(props.functions)
      .filter((fn) => substitutionKeys.some((key) => props.offered[key]?.value === fn.functionArn))
      .map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::${nagSpelling(scope, fn.functionArn)}:*]`,
        reason: 'grantInvoke also covers the function\'s versions and aliases (<function ARN>:*); still that one function.',
      })),
  ]);
  return { stateMachine, substitutionKeys };
}

/** The substitution of each function, by state name: `ValidateInput` fills `${ValidateInputFunctionArn}`. */
export function functionSubstitutions(functions: Readonly<Record<string, lambda.IFunction>>): Record<string, Substitution> {
  return Object.fromEntries(
    Object.entries(functions).map(([name, fn]) => [`${name}FunctionArn`, { value: fn.functionArn, grant: (role: iam.IGrantable) => fn.grantInvoke(role) }]),
  );
}
