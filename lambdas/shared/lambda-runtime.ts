import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { Logger } from '@aws-lambda-powertools/logger';
import { credentialReference } from './canonical-request';
import type { RunConfig } from './config';
import { Ledger } from './ledger';
import { powertoolsRunMetrics } from './metrics';
import type { RunDeps } from './run-context';
import { createSearchClient } from './search-client';

/**
 * The Lambda side of every state: clients created once per container from the environment the CDK
 * construct sets (TARGET_ENDPOINT, LEDGER_TABLE_NAME, SOURCE_SECRET_ARNS, TARGET_SIGV4, REMOTE_EXTERNAL).
 */

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (the CDK construct sets it)`);
  return value;
}

const logger = new Logger({ serviceName: 'safe-reindex' });
let deps: Promise<RunDeps> | undefined;

/**
 * The source credentials from Secrets Manager, through Powertools Parameters (cached for a few
 * minutes per container, so a poll loop does not read the secret on every invocation).
 */
export async function sourceSecret(config: RunConfig): Promise<{ username: string; password: string } | undefined> {
  const arn = config.source.credentialsSecret;
  if (!arn) return undefined;
  const allowed = (process.env.SOURCE_SECRET_ARNS ?? '').split(',').filter(Boolean);
  if (!allowed.includes(arn)) throw new Error(`source.credentialsSecret ${arn} is not one of the secrets this deployment may read`);
  const parsed = (await getSecret<{ username?: string; password?: string }>(arn, { transform: 'json', maxAge: 300 })) ?? {};
  if (!parsed.username || !parsed.password) throw new Error(`secret ${arn} must be JSON with "username" and "password"`);
  return { username: parsed.username, password: parsed.password };
}

async function createDeps(): Promise<RunDeps> {
  const targetEndpoint = required('TARGET_ENDPOINT');
  const ledger = new Ledger({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    tableName: required('LEDGER_TABLE_NAME'),
  });
  const target = await createSearchClient({
    url: targetEndpoint,
    ...(process.env.TARGET_SIGV4 === 'false' ? {} : { sigv4Region: required('AWS_REGION') }),
    requestTimeoutMs: 60_000,
  });
  const sfn = new SFNClient({});
  return {
    ledger,
    target,
    targetEndpoint,
    remoteExternal: process.env.REMOTE_EXTERNAL === 'true',
    ...(process.env.MAX_TASKS_PER_DOMAIN ? { maxTasksPerDomain: Number(process.env.MAX_TASKS_PER_DOMAIN) } : {}),
    async sourceClient(config) {
      const auth = await sourceSecret(config);
      return createSearchClient({ url: config.source.url, ...(auth ? { auth } : {}) });
    },
    sourceCredentials: sourceSecret,
    credentialReference,
    async isHolderFinished(holder) {
      if (await ledger.isRunFinished(holder.runId)) return true;
      if (!holder.executionArn) return false;
      const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: holder.executionArn }));
      return execution.status !== 'RUNNING';
    },
    metrics: powertoolsRunMetrics(),
    log: {
      info: (message, fields) => logger.info(message, fields ?? {}),
      warn: (message, fields) => logger.warn(message, fields ?? {}),
    },
    now: () => new Date(),
  };
}

/** Wraps a state's logic as a Lambda handler; the logic gets the event as the ASL built it. */
export function lambdaHandler<E, R>(logic: (event: E, deps: RunDeps) => Promise<R>): (event: E) => Promise<R> {
  return async (event) => {
    deps ??= createDeps();
    return logic(event, await deps);
  };
}
