import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../lambdas/shared/runtime/metrics';
import { STATE_FUNCTIONS, type StateAccess } from '../../lambdas/states';
import { acknowledge } from './nag';
import { LAMBDAS_DIR, PROJECT_ROOT, handlerDirectories, pascalCase } from './paths';

/** The newest Node.js runtime aws-cdk-lib offers (cdk-nag AwsSolutions-L1 checks the same thing). */
export const HANDLER_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** What a handler reaches besides its log group and the ledger (which every handler reads and writes). */
export type HandlerAccess = StateAccess;

export interface HandlerSettings {
  /** @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default none */
  readonly access?: readonly HandlerAccess[];
  /** @default 'readWrite' */
  readonly ledger?: 'read' | 'readWrite';
}

/**
 * Per handler directory: its timeout, memory and the resources its logic touches (`deps.target`,
 * `deps.sourceClient` / `deps.sourceCredentials`, `deps.isHolderFinished`, `ALARM_TOPIC_ARN`), from the
 * state catalogue (lambdas/states.ts). test/infra checks it against the handlers' code, so a handler that
 * starts using a client fails the tests, not a run.
 */
export const HANDLER_SETTINGS: Readonly<Record<string, HandlerSettings>> = Object.fromEntries(
  STATE_FUNCTIONS.map((s) => [
    s.dir,
    {
      timeout: Duration.seconds(s.timeoutSeconds),
      ...(s.memoryMb === undefined ? {} : { memorySize: s.memoryMb }),
      ...(s.access === undefined ? {} : { access: s.access }),
      ...(s.ledger === undefined ? {} : { ledger: s.ledger }),
    },
  ]),
);

export interface HandlerFunctionsProps {
  /** Environment of every function (TARGET_ENDPOINT, LEDGER_TABLE_NAME, ...); Powertools settings are added. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Directory holding one `<state>/handler.ts` per state.
   * @default the project's `lambdas/`
   */
  readonly lambdasDir?: string;
  /**
   * VPC of the functions.
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of the functions (with `vpc`).
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the functions (with `vpc`).
   * @default - one created per function, all egress allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

/** Powertools for AWS Lambda settings; the service name is also the metrics' `service` dimension. */
export const POWERTOOLS_SERVICE_NAME = 'safe-reindex';

/**
 * One `NodejsFunction` per `lambdas/<state>/handler.ts`, bundled by the locally installed esbuild
 * (never Docker): newest Node.js runtime, ARM64, ESM, minified (names kept) with source maps, `@aws-sdk/*` from
 * the runtime, X-Ray active tracing, its own log group with a retention, its own role that may
 * write only to that log group. Resource grants are added by the caller.
 */
export class HandlerFunctions extends Construct {
  /** By state name in PascalCase (`ValidateInput`), the prefix of its `<State>FunctionArn` placeholder. */
  readonly functions: Readonly<Record<string, NodejsFunction>>;
  /** Each function's handler directory, by state name. */
  readonly directories: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: HandlerFunctionsProps) {
    super(scope, id);
    const lambdasDir = props.lambdasDir ?? LAMBDAS_DIR;
    const dirs = handlerDirectories(lambdasDir);
    if (dirs.length === 0) throw new Error(`HandlerFunctions: no <state>/handler.ts under ${lambdasDir}`);
    const functions: Record<string, NodejsFunction> = {};
    const directories: Record<string, string> = {};
    for (const dir of dirs) {
      const name = pascalCase(dir);
      const settings = HANDLER_SETTINGS[dir];
      if (!settings) throw new Error(`HandlerFunctions: lambdas/${dir}/ is not in the state catalogue (lambdas/states.ts)`);
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      });
      // Its own role, instead of AWSLambdaBasicExecutionRole (logs:* on every log group).
      const role = new iam.Role(this, `${name}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `safe-reindex ${dir} handler`,
      });
      logGroup.grantWrite(role);
      if (props.vpc) {
        // Given a role, the Function construct adds no VPC permissions itself: the ENI management Lambda documents.
        role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
      }
      const fn = new NodejsFunction(this, `${name}Function`, {
        entry: join(lambdasDir, dir, 'handler.ts'),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        runtime: HANDLER_RUNTIME,
        architecture: lambda.Architecture.ARM_64,
        memorySize: settings.memorySize ?? 256,
        timeout: settings.timeout ?? Duration.minutes(5),
        description: `safe-reindex ${dir}`,
        role,
        logGroup,
        tracing: lambda.Tracing.ACTIVE,
        environment: {
          ...props.environment,
          POWERTOOLS_SERVICE_NAME,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          // Stack traces through the bundled source maps.
          NODE_OPTIONS: '--enable-source-maps',
        },
        ...(props.vpc
          ? {
              vpc: props.vpc,
              ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
              ...(props.securityGroups ? { securityGroups: props.securityGroups } : {}),
            }
          : {}),
        bundling: {
          forceDockerBundling: false,
          format: OutputFormat.ESM,
          mainFields: ['module', 'main'],
          // Bundled CommonJS dependencies still call require(): give ESM one.
          banner: "import { createRequire as __safeReindexCreateRequire } from 'node:module'; const require = __safeReindexCreateRequire(import.meta.url);",
          minify: true,
          // Classes and functions keep their source names (a dependency may read one at run time, and
          // stack traces stay readable). Our error names do not rely on it: they are literals
          // (lambdas/shared/runtime/errors.ts), since Step Functions matches them.
          keepNames: true,
          sourceMap: true,
          sourceMapMode: SourceMapMode.DEFAULT,
          sourcesContent: false,
          externalModules: ['@aws-sdk/*'],
          tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
        },
      });
      acknowledge(role, [
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
        },
        ...(props.vpc
          ? [
              {
                id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
                reason: 'A function in a VPC needs to create and delete its network interfaces; ec2:CreateNetworkInterface supports no resource-level scoping, and this AWS managed policy is what Lambda documents.',
              },
            ]
          : []),
      ]);
      functions[name] = fn;
      directories[name] = dir;
    }
    this.functions = functions;
    this.directories = directories;
  }

  /** The function of a state, e.g. `fn('PollTask')`; throws naming the states that exist. */
  fn(name: string): NodejsFunction {
    const found = this.functions[name];
    if (!found) throw new Error(`HandlerFunctions: no function "${name}"; the functions are ${Object.keys(this.functions).join(', ')}`);
    return found;
  }
}
