import type { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { LOCAL_ENV_CREDENTIALS, credentialReference, type CredentialReference } from '../planning/canonical-request';
import type { RunConfig } from './config';
import { differencesAt } from '../checks/differences';
import { Ledger, type LockHolder } from '../ledger/ledger';
import { powertoolsRunMetrics } from './metrics';
import type { RunDeps } from './run-context';
import { createSearchClient } from '../cluster/search-client';

/**
 * The Lambda side of every state, the one place that creates its clients: the DynamoDB document
 * client and the ledger, the Step Functions, SNS and Secrets Manager clients, the target's search
 * client, the Powertools logger and tracer. Each client is created on first use and kept for the
 * container's life, from the environment the CDK construct sets (TARGET_ENDPOINT, LEDGER_TABLE_NAME,
 * SOURCE_SECRET_ARNS, TARGET_SIGV4, REMOTE_EXTERNAL, MAX_TASKS_PER_DOMAIN, ALARM_TOPIC_ARN, DIFFERENCES_URL).
 *
 * The Step Functions, S3 and SNS clients are imported on first use: few functions need them, and each
 * SDK package a function loads adds to every cold start.
 *
 * Every AWS SDK client goes through the tracer: on AWS (active tracing) each call is a subsegment of
 * the invocation's trace; with POWERTOOLS_TRACE_ENABLED=false, or outside Lambda, the tracer leaves
 * the clients untouched.
 */

const SERVICE_NAME = 'safe-reindex';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/** What the Lambda runtime passes a handler besides the event; the logger reads these fields. */
export interface LambdaContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
}

export type LambdaHandler<E, R> = (event: E, context: LambdaContext) => Promise<R>;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (the CDK construct sets it)`);
  return value;
}

/** `create` on the first call, its value on every later one (a failed creation is tried again). */
function once<T>(create: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: create() }).value;
}

/** {@link once} for a creation that loads its module first (a failed load is tried again). */
function onceLoaded<T>(create: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () =>
    (made ??= create().catch((err: unknown) => {
      made = undefined;
      throw err;
    }));
}

const dynamoDbDocumentClient = once(() =>
  DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), { marshallOptions: { removeUndefinedValues: true } }),
);
const s3Client = onceLoaded(async () => tracer.captureAWSv3Client(new (await import('@aws-sdk/client-s3')).S3Client({})));
const stepFunctionsClient = onceLoaded(async () => tracer.captureAWSv3Client(new (await import('@aws-sdk/client-sfn')).SFNClient({})));
const snsClient = onceLoaded(async () => tracer.captureAWSv3Client(new (await import('@aws-sdk/client-sns')).SNSClient({})));
/** Powertools Parameters caches each secret for a few minutes, per container: a poll loop does not read it on every invocation. */
const secretsProvider = once(() => new SecretsProvider({ awsSdkV3Client: tracer.captureAWSv3Client(new SecretsManagerClient({})) }));
const ledger = once(() => new Ledger({ client: dynamoDbDocumentClient(), tableName: required('LEDGER_TABLE_NAME') }));

/** The clients a handler that is not a run state (PlanMonths, RequestApproval) builds its dependencies from. */
export interface LambdaRuntime {
  readonly ledger: () => Ledger;
  readonly ledgerTableName: () => string;
  readonly documentClient: () => DynamoDBDocumentClient;
  readonly sns: () => Promise<SNSClient>;
  /** An environment variable the CDK construct sets; throws naming it when it is missing. */
  readonly env: (name: string) => string;
}

export const runtime: LambdaRuntime = {
  ledger,
  ledgerTableName: () => required('LEDGER_TABLE_NAME'),
  documentClient: dynamoDbDocumentClient,
  sns: snsClient,
  env: required,
};

// --- source credentials ---------------------------------------------------------------------------

type SourceCredentials = { username: string; password: string };

/**
 * The source credentials from Secrets Manager, through Powertools Parameters (cached for a few
 * minutes per container, so a poll loop does not read the secret on every invocation).
 */
export async function sourceSecret(config: RunConfig): Promise<SourceCredentials | undefined> {
  const arn = config.source.credentialsSecret;
  if (!arn) return undefined;
  const allowed = (process.env.SOURCE_SECRET_ARNS ?? '').split(',').filter(Boolean);
  if (!allowed.includes(arn)) throw new Error(`source.credentialsSecret ${arn} is not one of the secrets this deployment may read`);
  const parsed = ((await secretsProvider().get(arn, { transform: 'json', maxAge: 300 })) ?? {}) as { username?: string; password?: string };
  if (!parsed.username || !parsed.password) throw new Error(`secret ${arn} must be JSON with "username" and "password"`);
  return { username: parsed.username, password: parsed.password };
}

/**
 * For a run that names no secret, the credentials in SAFE_REINDEX_SOURCE_USERNAME and
 * SAFE_REINDEX_SOURCE_PASSWORD (both set, or none): what docs/design.md has a local run use instead of a
 * secret, so a bundled handler run locally behaves as the in-process runner does. The CDK construct
 * never sets them, so on AWS a run without a secret reaches its source unauthenticated.
 */
export function environmentCredentials(config: RunConfig, env: NodeJS.ProcessEnv = process.env): SourceCredentials | undefined {
  if (config.source.credentialsSecret) return undefined;
  const username = env.SAFE_REINDEX_SOURCE_USERNAME;
  const password = env.SAFE_REINDEX_SOURCE_PASSWORD;
  return username && password ? { username, password } : undefined;
}

/** The run's secret when it names one (Secrets Manager), else the environment's credentials, else none. */
export async function sourceCredentials(config: RunConfig, env: NodeJS.ProcessEnv = process.env): Promise<SourceCredentials | undefined> {
  return config.source.credentialsSecret ? sourceSecret(config) : environmentCredentials(config, env);
}

/** The references standing for {@link sourceCredentials}' answer in everything stored or hashed. */
export function sourceCredentialReference(config: RunConfig, env: NodeJS.ProcessEnv = process.env): CredentialReference | undefined {
  if (config.source.credentialsSecret) return credentialReference(config);
  return environmentCredentials(config, env) ? LOCAL_ENV_CREDENTIALS : undefined;
}

// --- lock holders ---------------------------------------------------------------------------------

/**
 * Whether a lock holder has finished: its run record is terminal, or its execution is no longer
 * running. Step Functions forgets an execution 90 days after it closed (DescribeExecution answers
 * ExecutionDoesNotExist): such a holder is not running either.
 */
export async function isHolderFinished(holder: LockHolder, clients: { ledger: Ledger; sfn: () => Promise<SFNClient> }): Promise<boolean> {
  if (await clients.ledger.isRunFinished(holder.runId)) return true;
  if (!holder.executionArn) return false;
  const { DescribeExecutionCommand, ExecutionDoesNotExist } = await import('@aws-sdk/client-sfn');
  try {
    const execution = await (await clients.sfn()).send(new DescribeExecutionCommand({ executionArn: holder.executionArn }));
    return execution.status !== 'RUNNING';
  } catch (err) {
    if (err instanceof ExecutionDoesNotExist || (err as Error | undefined)?.name === 'ExecutionDoesNotExist') return true;
    throw err;
  }
}

// --- handlers -------------------------------------------------------------------------------------

/** A run state's dependencies, from this container's clients (a new target client on each call: {@link lambdaHandler} keeps one). */
export async function createRunDeps(): Promise<RunDeps> {
  const targetEndpoint = required('TARGET_ENDPOINT');
  const runLedger = ledger();
  const target = await createSearchClient({
    url: targetEndpoint,
    ...(process.env.TARGET_SIGV4 === 'false' ? {} : { sigv4Region: required('AWS_REGION') }),
    requestTimeoutMs: 60_000,
  });
  return {
    ledger: runLedger,
    target,
    targetEndpoint,
    remoteExternal: process.env.REMOTE_EXTERNAL === 'true',
    ...(process.env.MAX_TASKS_PER_DOMAIN ? { maxTasksPerDomain: Number(process.env.MAX_TASKS_PER_DOMAIN) } : {}),
    async sourceClient(config) {
      const auth = await sourceCredentials(config);
      return createSearchClient({ url: config.source.url, ...(auth ? { auth } : {}) });
    },
    sourceCredentials: (config) => sourceCredentials(config),
    credentialReference: (config) => sourceCredentialReference(config),
    isHolderFinished: (holder) => isHolderFinished(holder, { ledger: runLedger, sfn: stepFunctionsClient }),
    metrics: powertoolsRunMetrics(),
    log: {
      info: (message, fields) => logger.info(message, fields ?? {}),
      warn: (message, fields) => logger.warn(message, fields ?? {}),
    },
    now: () => new Date(),
    ...(process.env.DIFFERENCES_URL ? { differences: differencesAt(process.env.DIFFERENCES_URL, s3Client) } : {}),
    ...(process.env.VERIFY_INVOCATION_SECONDS ? { verifyInvocationSeconds: Number(process.env.VERIFY_INVOCATION_SECONDS) } : {}),
    ...(process.env.VERIFY_RANGE_DOCS ? { verifyRangeDocs: Number(process.env.VERIFY_RANGE_DOCS) } : {}),
  };
}

/**
 * Wraps a handler's body as a Lambda handler: each invocation's context goes to the logger first, so
 * every log line carries the function name, request id and cold start.
 */
export function lambdaFunction<E, R>(body: (event: E, runtime: LambdaRuntime) => Promise<R>): LambdaHandler<E, R> {
  return async (event, context) => {
    // The Lambda runtime always passes one; a caller that invokes the handler by hand may not.
    if (context) logger.addContext(context);
    return body(event, runtime);
  };
}

let runDeps: Promise<RunDeps> | undefined;

/** Wraps a state's logic as a Lambda handler; the logic gets the event as the ASL built it. */
export function lambdaHandler<E, R>(logic: (event: E, deps: RunDeps) => Promise<R>): LambdaHandler<E, R> {
  return lambdaFunction(async (event) => {
    runDeps ??= createRunDeps().catch((err: unknown) => {
      runDeps = undefined;
      throw err;
    });
    return logic(event, await runDeps);
  });
}
