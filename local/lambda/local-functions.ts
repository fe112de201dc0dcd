import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MetricName, RunLog, RunMetrics } from '../../lambdas/shared/runtime/run-context';
import { TARGET_INDEX_DIMENSION } from '../../lambdas/shared/runtime/metrics';
import { LOCAL_ACCOUNT, LOCAL_REGION, localStateMachineArn, type AssemblyFunction, type CloudAssembly, type TemplateValue } from './cloud-assembly';
import { invokeFunction, type LocalFunction, type OutputSink } from './lambda-service';

/**
 * The environment a bundled function runs with locally: the template's variables with the stack's
 * resources resolved to local ones, the local endpoints in place of AWS's (through the SDK's standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, so the code is the same), and what the Lambda runtime sets.
 */

/** What `${AlarmTopicArn}` and ALARM_TOPIC_ARN stand for locally. */
export const LOCAL_ALARM_TOPIC_ARN = `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:safe-reindex-alarms`;

export interface LocalEndpoints {
  /** The target cluster, called unsigned (a self-managed OpenSearch, not an Amazon OpenSearch Service domain). */
  readonly targetUrl: string;
  /** DynamoDB API (dynalite), which also answers Step Functions' DescribeExecution for local executions. */
  readonly ledgerEndpoint: string;
  readonly tableName: string;
  /** SNS API for the alarm topic (the local approval-request receiver). @default none */
  readonly snsEndpoint?: string;
  /** MAX_TASKS_PER_DOMAIN instead of the template's. @default the template's */
  readonly maxTasksPerDomain?: number;
  /** Where SAFE_REINDEX_SOURCE_USERNAME / _PASSWORD come from (the local stand-in for the source secret). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The folder standing for the differences bucket (DIFFERENCES_URL becomes its file:// URL): each run's
   * differing ids land in `<folder>/<run id>/differences/`, beside the receipts. @default runs/ in the working directory
   */
  readonly differencesDirectory?: string;
  /** VERIFY_INVOCATION_SECONDS: seconds after which one CheckParity invocation starts no new range. @default the handler's */
  readonly verifyInvocationSeconds?: number;
  /** VERIFY_RANGE_DOCS: documents above which a verification range is halved or sliced. @default the handler's */
  readonly verifyRangeDocs?: number;
}

function resolveValue(assembly: CloudAssembly, name: string, value: TemplateValue, endpoints: LocalEndpoints): string {
  if (typeof value !== 'object') return String(value);
  // s3://<the differences bucket>/runs/: a local folder instead, the runs folder the receipts go to.
  if (name === 'DIFFERENCES_URL') return pathToFileURL(`${resolve(endpoints.differencesDirectory ?? 'runs')}/`).href;
  const ref = value['Ref'];
  if (typeof ref === 'string') {
    switch (assembly.resourceTypes[ref]) {
      case 'AWS::DynamoDB::Table':
        return endpoints.tableName;
      case 'AWS::SNS::Topic':
        return LOCAL_ALARM_TOPIC_ARN;
      case 'AWS::StepFunctions::StateMachine':
        return Object.values(assembly.stateMachines).find((s) => s.logicalId === ref)?.arn ?? localStateMachineArn(ref);
    }
  }
  throw new Error(`environment variable ${name} = ${JSON.stringify(value)} has no local value`);
}

export function localFunctionEnvironment(assembly: CloudAssembly, fn: AssemblyFunction, endpoints: LocalEndpoints): Record<string, string> {
  const fromTemplate = Object.fromEntries(
    Object.entries(fn.environment).map(([name, value]) => [name, resolveValue(assembly, name, value, endpoints)]),
  );
  const sourceEnv = endpoints.env ?? process.env;
  const { SAFE_REINDEX_SOURCE_USERNAME: username, SAFE_REINDEX_SOURCE_PASSWORD: password } = sourceEnv;
  const credentials: Record<string, string> =
    username && password ? { SAFE_REINDEX_SOURCE_USERNAME: username, SAFE_REINDEX_SOURCE_PASSWORD: password } : {};
  return {
    // What the Lambda Node.js runtime sets.
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.logicalId}`,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    LAMBDA_TASK_ROOT: dirname(fn.entry),
    _HANDLER: `index.${fn.exportName}`,
    TZ: ':UTC',
    ...fromTemplate,
    // Local endpoints in place of AWS's.
    TARGET_ENDPOINT: endpoints.targetUrl,
    TARGET_SIGV4: 'false',
    REMOTE_EXTERNAL: 'false',
    ...(endpoints.maxTasksPerDomain === undefined ? {} : { MAX_TASKS_PER_DOMAIN: String(endpoints.maxTasksPerDomain) }),
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.ledgerEndpoint,
    AWS_ENDPOINT_URL_SFN: endpoints.ledgerEndpoint,
    ...(endpoints.snsEndpoint ? { AWS_ENDPOINT_URL_SNS: endpoints.snsEndpoint } : {}),
    ...(endpoints.verifyInvocationSeconds === undefined ? {} : { VERIFY_INVOCATION_SECONDS: String(endpoints.verifyInvocationSeconds) }),
    ...(endpoints.verifyRangeDocs === undefined ? {} : { VERIFY_RANGE_DOCS: String(endpoints.verifyRangeDocs) }),
    // No X-Ray daemon here.
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...credentials,
  };
}

export interface FunctionOutputSinks {
  readonly log?: RunLog;
  readonly metrics?: RunMetrics;
  /** Every line as written (stdout and stderr), e.g. to keep a run's function logs in a file. */
  readonly raw?: (functionName: string, line: string) => void;
}

const LOG_ENVELOPE = new Set(['level', 'message', 'timestamp', 'service', 'sampling_rate', 'xray_trace_id']);

/**
 * Reads what a function writes as CloudWatch would receive it: Powertools log lines go to `log`
 * (INFO as info, WARN and ERROR as warn), EMF metric lines to `metrics` (the values with the target
 * index dimension: each is also written once without it, for alarms).
 */
export function outputSink(functionName: string, sinks: FunctionOutputSinks): OutputSink {
  return (line) => {
    sinks.raw?.(functionName, line);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const emf = (parsed['_aws'] as { CloudWatchMetrics?: Array<{ Metrics: Array<{ Name: string }>; Dimensions: string[][] }> } | undefined)
      ?.CloudWatchMetrics;
    if (emf) {
      const targetIndex = parsed[TARGET_INDEX_DIMENSION];
      if (typeof targetIndex !== 'string' || !sinks.metrics) return;
      const values: Partial<Record<MetricName, number>> = {};
      for (const directive of emf) {
        if (!directive.Dimensions.some((d) => d.includes(TARGET_INDEX_DIMENSION))) continue;
        for (const { Name } of directive.Metrics) values[Name as MetricName] = Number(parsed[Name]);
      }
      if (Object.keys(values).length > 0) sinks.metrics.emit(targetIndex, values);
      return;
    }
    const level = parsed['level'];
    if (typeof level !== 'string' || typeof parsed['message'] !== 'string' || !sinks.log) return;
    const fields = Object.fromEntries(Object.entries(parsed).filter(([key]) => !LOG_ENVELOPE.has(key)));
    if (level === 'WARN' || level === 'ERROR' || level === 'CRITICAL') sinks.log.warn(parsed['message'], fields);
    else if (level === 'INFO') sinks.log.info(parsed['message'], fields);
  };
}

/**
 * Every function of the assembly as a local Lambda: `(event) => result` by function name (its logical
 * id, which the substituted ASL's ARNs end with), invoking its bundle with its local environment.
 */
export function localFunctions(
  assembly: CloudAssembly,
  endpoints: LocalEndpoints,
  sinks: FunctionOutputSinks = {},
): Record<string, (event: unknown) => Promise<unknown>> {
  return Object.fromEntries(
    Object.values(assembly.functions).map((definition) => {
      const fn: LocalFunction = { definition, environment: localFunctionEnvironment(assembly, definition, endpoints) };
      const sink = outputSink(definition.logicalId, sinks);
      return [definition.logicalId, (event: unknown) => invokeFunction(fn, event, sink)];
    }),
  );
}
