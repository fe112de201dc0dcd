import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as planMonthsHandler } from '../../lambdas/plan-months/handler';
import { handler as requestApprovalHandler } from '../../lambdas/request-approval/handler';
import { LOCAL_ENV_CREDENTIALS } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { createRunDeps, lambdaHandler, runtime, type LambdaContext } from '../../lambdas/shared/runtime/lambda-runtime';
import type { LockHolder } from '../../lambdas/shared/ledger/ledger';

// As in a Lambda container with tracing switched off (what the local runner sets), started on demand
// (so the first invocation is a cold start). Read when the runtime module loads, so set before imports.
vi.hoisted(() => {
  process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs24.x';
  process.env.POWERTOOLS_TRACE_ENABLED = 'false';
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
});

const dynamo = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const secrets = mockClient(SecretsManagerClient);

const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:ReindexRun:calls-live';
const context = (awsRequestId: string): LambdaContext => ({
  functionName: 'SafeReindex-PreflightFunction',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:SafeReindex-PreflightFunction',
  memoryLimitInMB: '512',
  awsRequestId,
});

/** A run's configuration, with or without a secret, its source at `url`. */
const config = (secret: string | null, url = 'https://es7.internal:9200') =>
  parseRunConfig(
    { runId: 'calls-dry', source: { url, index: 'calls', credentialsSecret: secret }, target: { index: 'calls' } },
    { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com' },
  );

beforeEach(() => {
  dynamo.reset();
  sfn.reset();
  sns.reset();
  secrets.reset();
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('TARGET_ENDPOINT', 'http://127.0.0.1:9');
  vi.stubEnv('TARGET_SIGV4', 'false');
  vi.stubEnv('LEDGER_TABLE_NAME', 'safe-reindex-ledger');
  vi.stubEnv('SOURCE_SECRET_ARNS', [arn('es-source'), arn('es-source-2')].join(','));
  vi.stubEnv('SAFE_REINDEX_SOURCE_USERNAME', undefined);
  vi.stubEnv('SAFE_REINDEX_SOURCE_PASSWORD', undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('source credentials on the Lambda runtime', () => {
  let server: Server;
  let sourceUrl: string;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version: { number: '7.10.2' }, tagline: 'You Know, for Search' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sourceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen.length = 0;
  });

  it('takes the credentials from SAFE_REINDEX_SOURCE_USERNAME / _PASSWORD when the run names no secret, and refers to the variables', async () => {
    vi.stubEnv('SAFE_REINDEX_SOURCE_USERNAME', 'svc-backfill');
    vi.stubEnv('SAFE_REINDEX_SOURCE_PASSWORD', 'hunter2');
    const deps = await createRunDeps();

    const credentials = await deps.sourceCredentials(config(null));
    const reference = deps.credentialReference(config(null));

    expect(credentials).toEqual({ username: 'svc-backfill', password: 'hunter2' });
    expect(reference).toEqual(LOCAL_ENV_CREDENTIALS);
    expect(JSON.stringify(reference)).not.toContain('hunter2');
    expect(secrets.calls()).toHaveLength(0);
  });

  it('sends those credentials to the source as basic auth', async () => {
    vi.stubEnv('SAFE_REINDEX_SOURCE_USERNAME', 'svc-backfill');
    vi.stubEnv('SAFE_REINDEX_SOURCE_PASSWORD', 'hunter2');
    const deps = await createRunDeps();

    const client = await deps.sourceClient(config(null, sourceUrl));
    await client.info();

    expect(seen.at(-1)?.authorization).toBe(`Basic ${Buffer.from('svc-backfill:hunter2').toString('base64')}`);
  });

  it('reads the secret from Secrets Manager when the run names one, even with the variables set', async () => {
    vi.stubEnv('SAFE_REINDEX_SOURCE_USERNAME', 'svc-backfill');
    vi.stubEnv('SAFE_REINDEX_SOURCE_PASSWORD', 'hunter2');
    secrets.on(GetSecretValueCommand, { SecretId: arn('es-source') }).resolves({ SecretString: '{"username":"svc","password":"from-secret"}' });
    const deps = await createRunDeps();

    const credentials = await deps.sourceCredentials(config(arn('es-source')));
    const reference = deps.credentialReference(config(arn('es-source')));

    expect(credentials).toEqual({ username: 'svc', password: 'from-secret' });
    expect(reference).toEqual({
      username: `{{secret:${arn('es-source')}:username}}`,
      password: `{{secret:${arn('es-source')}:password}}`,
    });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('sends the secret to the source as basic auth when the run names one', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: arn('es-source-2') }).resolves({ SecretString: '{"username":"svc","password":"from-secret"}' });
    const deps = await createRunDeps();

    const client = await deps.sourceClient(config(arn('es-source-2'), sourceUrl));
    await client.info();

    expect(seen.at(-1)?.authorization).toBe(`Basic ${Buffer.from('svc:from-secret').toString('base64')}`);
  });

  it('reaches the source unauthenticated when the run names no secret and the variables are not both set', async () => {
    vi.stubEnv('SAFE_REINDEX_SOURCE_USERNAME', 'svc-backfill');
    const deps = await createRunDeps();

    const credentials = await deps.sourceCredentials(config(null));
    const reference = deps.credentialReference(config(null));
    const client = await deps.sourceClient(config(null, sourceUrl));
    await client.info();

    expect(credentials).toBeUndefined();
    expect(reference).toBeUndefined();
    expect(seen.at(-1)?.authorization).toBeUndefined();
    expect(secrets.calls()).toHaveLength(0);
  });
});

describe('isHolderFinished on the Lambda runtime (stale lock check)', () => {
  const holder: LockHolder = { targetIndex: 'calls', runId: 'calls-live', since: '2026-01-01T00:00:00Z', executionArn: EXECUTION_ARN };
  const runRecord = (status: string) => dynamo.on(GetCommand).resolves({ Item: { pk: 'RUN#calls-live', sk: 'RUN', runId: 'calls-live', status } });

  it('treats a holder whose execution Step Functions no longer knows (closed over 90 days ago) as finished', async () => {
    runRecord('RUNNING');
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${EXECUTION_ARN}'`, $metadata: {} }));
    const deps = await createRunDeps();

    await expect(deps.isHolderFinished(holder)).resolves.toBe(true);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: EXECUTION_ARN });
  });

  it('keeps a holder whose execution is still running', async () => {
    runRecord('RUNNING');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const deps = await createRunDeps();

    await expect(deps.isHolderFinished(holder)).resolves.toBe(false);
  });

  it('treats a holder whose execution stopped as finished', async () => {
    runRecord('RUNNING');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });
    const deps = await createRunDeps();

    await expect(deps.isHolderFinished(holder)).resolves.toBe(true);
  });

  it('treats a holder whose run record is terminal as finished without asking Step Functions', async () => {
    runRecord('SUCCEEDED');
    const deps = await createRunDeps();

    await expect(deps.isHolderFinished(holder)).resolves.toBe(true);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('fails the check on any other Step Functions error (the lock is not taken on a guess)', async () => {
    runRecord('RUNNING');
    sfn.on(DescribeExecutionCommand).rejects(
      new SFNServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not authorized', $metadata: {} }),
    );
    const deps = await createRunDeps();

    await expect(deps.isHolderFinished(holder)).rejects.toThrow('not authorized');
  });
});

describe('handlers on the Lambda runtime', () => {
  /** The JSON log lines the Powertools logger writes during `act`. */
  async function logLines(act: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await act();
    } finally {
      vi.mocked(process.stdout.write).mockRestore();
    }
    return written
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it("logs each invocation with its function name and request id, the container's first as the cold start", async () => {
    const handler = lambdaHandler(async (event: { say: string }, deps) => {
      deps.log.info(event.say, { runId: 'calls-dry' });
      return 'ok';
    });

    const first = await logLines(() => handler({ say: 'first' }, context('request-1')));
    const second = await logLines(() => handler({ say: 'second' }, context('request-2')));

    expect(first).toEqual([
      expect.objectContaining({
        message: 'first',
        runId: 'calls-dry',
        function_name: 'SafeReindex-PreflightFunction',
        function_request_id: 'request-1',
        cold_start: true,
      }),
    ]);
    expect(second).toEqual([expect.objectContaining({ message: 'second', function_request_id: 'request-2', cold_start: false })]);
  });

  it('leaves the SDK clients untraced when POWERTOOLS_TRACE_ENABLED is false', () => {
    const middleware = runtime.documentClient().middlewareStack.identify().join(' ');

    expect(middleware).not.toContain('XRaySDKInstrumentation');
  });

  it('plans months from the ledger through the runtime (PlanMonths)', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [] });

    const plan = await planMonthsHandler(
      {
        input: { indexTemplate: 'calls-{yyyy}-{MM}', months: { from: '2026-01', to: '2026-02' }, run: { source: { url: 'https://es7.internal:9200' } }, approval: 'auto' },
        executionName: 'nightly-1',
        startTime: '2026-03-02T03:00:00Z',
      } as Parameters<typeof planMonthsHandler>[0],
      context('request-3'),
    );

    expect(plan.names).toEqual(['2026-01', '2026-02']);
    expect(dynamo.commandCalls(QueryCommand).map((c) => c.args[0].input.TableName)).toEqual(['safe-reindex-ledger', 'safe-reindex-ledger']);
  });

  it('stores the approval token in the ledger and publishes to ALARM_TOPIC_ARN (RequestApproval)', async () => {
    vi.stubEnv('ALARM_TOPIC_ARN', 'arn:aws:sns:eu-west-1:123456789012:safe-reindex-alarms');
    dynamo.on(PutCommand).resolves({});
    dynamo.on(GetCommand).resolves({ Item: { pk: 'RUN#calls-2026-01-dry', sk: 'RUN', runId: 'calls-2026-01-dry', status: 'SUCCEEDED', header: ['mode: external'] } });
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });

    await requestApprovalHandler(
      {
        taskToken: 'token-1',
        month: '2026-01',
        sourceIndex: 'calls-2026-01',
        targetIndex: 'calls-2026-01',
        liveRunId: 'calls-2026-01-live',
        backfillExecutionArn: 'arn:aws:states:eu-west-1:123456789012:execution:MonthlyBackfill:nightly-1',
        dryRun: { runId: 'calls-2026-01-dry', sourceCount: 10, targetCount: 0, fingerprint: 'f1', approvedUntil: '2026-03-03T03:00:00Z' },
      },
      context('request-4'),
    );

    expect(dynamo.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({ TableName: 'safe-reindex-ledger', Item: { taskToken: 'token-1' } });
    const published = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(published?.TopicArn).toBe('arn:aws:sns:eu-west-1:123456789012:safe-reindex-alarms');
    expect(published?.Message).toContain('mode: external');
    expect(published?.Message).not.toContain('token-1');
  });
});
