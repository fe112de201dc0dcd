import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { CfnElement } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LEDGER_BY_TARGET_INDEX,
  LEDGER_GSI_PARTITION_KEY,
  LEDGER_GSI_SORT_KEY,
  LEDGER_PARTITION_KEY,
  LEDGER_SORT_KEY,
  LEDGER_TTL_ATTRIBUTE,
} from '../../lambdas/shared/ledger/ledger';
import { METRICS_NAMESPACE } from '../../lambdas/shared/runtime/metrics';
import { aslPlaceholders } from '../../lib/constructs/asl';
import { HANDLER_SETTINGS, type HandlerAccess } from '../../lib/constructs/handler-functions';
import { RUN_ALARMS } from '../../lib/constructs/monitoring';
import { LAMBDAS_DIR, MONTHLY_BACKFILL_ASL, REINDEX_RUN_ASL, handlerDirectories, pascalCase } from '../../lib/constructs/paths';
import { TARGET_HTTP_ACTIONS } from '../../lib/safe-reindex-pipeline';
import { allStatements, asArray, roleStatements, synthesise, type Synthesised } from './support';

type Json = Record<string, unknown>;

const DOMAIN_ARN = 'arn:aws:es:eu-west-1:123456789012:domain/calls-example';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf';

/** `Resource: *` is allowed only for actions AWS offers no resource-level permission for. */
const STAR_RESOURCE_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

let s: Synthesised;
let logicalId: (construct: { node: { defaultChild?: unknown } }) => string;
let runId: string;
let backfillId: string;
let fnIds: Record<string, string>;
let roleOf: (fnLogicalId: string) => string;

beforeAll(() => {
  s = synthesise();
  logicalId = (construct) => Stack.of(s.stack).getLogicalId(construct.node.defaultChild as CfnElement);
  runId = logicalId(s.stack.pipeline.reindexRun);
  backfillId = logicalId(s.stack.pipeline.monthlyBackfill);
  fnIds = Object.fromEntries(Object.entries(s.stack.pipeline.handlers.functions).map(([name, fn]) => [name, logicalId(fn)]));
  roleOf = (fnLogicalId) => {
    const fn = s.template.findResources('AWS::Lambda::Function')[fnLogicalId]!;
    return (((fn.Properties as Json).Role as Json)['Fn::GetAtt'] as string[])[0]!;
  };
});

afterAll(() => rmSync(s.app.outdir, { recursive: true, force: true }));

const stateMachineRole = (smLogicalId: string): string => {
  const sm = s.template.findResources('AWS::StepFunctions::StateMachine')[smLogicalId]!;
  return (((sm.Properties as Json).RoleArn as Json)['Fn::GetAtt'] as string[])[0]!;
};
const substitutions = (smLogicalId: string): Json =>
  (s.template.findResources('AWS::StepFunctions::StateMachine')[smLogicalId]!.Properties as Json).DefinitionSubstitutions as Json;
const grantsAction = (statements: Json[], action: string, resource: unknown): boolean =>
  statements.some(
    (st) =>
      st.Effect === 'Allow' &&
      asArray(st.Action as string | string[]).includes(action) &&
      asArray(st.Resource).some((r) => JSON.stringify(r) === JSON.stringify(resource)),
  );

describe('handler functions', () => {
  it('has one function per lambdas/<state>/handler.ts', () => {
    expect(Object.keys(fnIds).sort()).toEqual(handlerDirectories().map(pascalCase).sort());
  });

  it('runs every handler on the newest Node.js runtime, ARM64, X-Ray active, its own log group, Powertools settings in the environment', () => {
    for (const id of Object.values(fnIds)) {
      const props = s.template.findResources('AWS::Lambda::Function')[id]!.Properties as Json;
      expect(props, id).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
        Environment: {
          Variables: expect.objectContaining({
            POWERTOOLS_SERVICE_NAME: 'safe-reindex',
            POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
            TARGET_ENDPOINT: 'https://vpc-calls-example-abc123.eu-west-1.es.amazonaws.com',
            TARGET_SIGV4: 'true',
            REMOTE_EXTERNAL: 'true',
            SOURCE_SECRET_ARNS: SECRET_ARN,
            MAX_TASKS_PER_DOMAIN: '4',
            LEDGER_TABLE_NAME: { Ref: logicalId(s.stack.pipeline.ledger) },
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
      expect([256, 512]).toContain(props.MemorySize);
    }
  });

  it('gives PollTask the full 15 minutes (it long-polls) and every other handler at most that', () => {
    const timeouts = Object.fromEntries(
      Object.entries(fnIds).map(([name, id]) => [name, (s.template.findResources('AWS::Lambda::Function')[id]!.Properties as Json).Timeout]),
    );

    expect(timeouts.PollTask).toBe(900);
    expect(Object.values(timeouts).every((t) => typeof t === 'number' && t <= 900)).toBe(true);
  });

  it('sets a retention on every log group', () => {
    for (const [id, group] of Object.entries(s.template.findResources('AWS::Logs::LogGroup'))) {
      expect((group.Properties as Json | undefined)?.RetentionInDays, id).toBe(365);
    }
  });
});

describe('ReindexRun state machine', () => {
  it('has a substitution and an invoke grant for every placeholder of its ASL', () => {
    const placeholders = aslPlaceholders(REINDEX_RUN_ASL);
    const subs = substitutions(runId);
    const statements = roleStatements(s.template, stateMachineRole(runId));

    expect(Object.keys(subs).sort()).toEqual(placeholders);
    for (const key of placeholders) {
      const fnId = fnIds[key.replace(/FunctionArn$/, '')]!;
      expect(subs[key], key).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
      expect(grantsAction(statements, 'lambda:InvokeFunction', { 'Fn::GetAtt': [fnId, 'Arn'] }), `invoke grant for ${key}`).toBe(true);
    }
  });

  it('may invoke only the functions its ASL names', () => {
    const named = new Set(aslPlaceholders(REINDEX_RUN_ASL).map((k) => fnIds[k.replace(/FunctionArn$/, '')]));
    const invoked = roleStatements(s.template, stateMachineRole(runId))
      .filter((st) => asArray(st.Action as string | string[]).includes('lambda:InvokeFunction'))
      .flatMap((st) => asArray(st.Resource))
      .map((r) => JSON.stringify(r).match(/"([A-Za-z0-9]+)","Arn"/)?.[1]);

    expect(invoked.every((id) => named.has(id))).toBe(true);
  });

  it('logs ALL events to a log group, traces with X-Ray, is a standard workflow, reads its ASL from a file asset', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      DefinitionS3Location: Match.anyValue(),
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [Match.objectLike({ CloudWatchLogsLogGroup: Match.anyValue() })] },
      TracingConfiguration: { Enabled: true },
      DefinitionSubstitutions: Match.objectLike({ ValidateInputFunctionArn: Match.anyValue() }),
    });
  });
});

describe('MonthlyBackfill state machine', () => {
  it('has a substitution and a grant for every placeholder of its ASL', () => {
    const placeholders = aslPlaceholders(MONTHLY_BACKFILL_ASL);
    const subs = substitutions(backfillId);
    const statements = roleStatements(s.template, stateMachineRole(backfillId));

    expect(Object.keys(subs).sort()).toEqual(placeholders);
    expect(placeholders).toContain('PlanMonthsFunctionArn');
    for (const key of placeholders.filter((k) => k.endsWith('FunctionArn'))) {
      const fnId = fnIds[key.replace(/FunctionArn$/, '')]!;
      expect(subs[key], key).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
      expect(grantsAction(statements, 'lambda:InvokeFunction', { 'Fn::GetAtt': [fnId, 'Arn'] }), `invoke grant for ${key}`).toBe(true);
    }
    if ('ReindexRunStateMachineArn' in subs) {
      expect(subs.ReindexRunStateMachineArn).toEqual({ Ref: runId });
      expect(grantsAction(statements, 'states:StartExecution', { Ref: runId })).toBe(true);
    }
    if ('AlarmTopicArn' in subs) {
      expect(grantsAction(statements, 'sns:Publish', subs.AlarmTopicArn)).toBe(true);
    }
  });

  it('has what states:startExecution.sync:2 needs: describe and stop on the ReindexRun executions, the managed events rule', () => {
    const statements = roleStatements(s.template, stateMachineRole(backfillId));
    const executions = statements.find((st) => asArray(st.Action as string[]).includes('states:DescribeExecution'))!;
    const rule = statements.find((st) => asArray(st.Action as string[]).includes('events:PutTargets'))!;

    expect(asArray(executions.Action as string[]).sort()).toEqual(['states:DescribeExecution', 'states:StopExecution']);
    expect(JSON.stringify(executions.Resource)).toMatch(/:execution:/);
    expect(JSON.stringify(executions.Resource)).toContain(`"${runId}","Name"`);
    expect(asArray(rule.Action as string[]).sort()).toEqual(['events:DescribeRule', 'events:PutRule', 'events:PutTargets']);
    expect(JSON.stringify(rule.Resource)).toMatch(/^\{"Fn::Join":\["",\["arn:",\{"Ref":"AWS::Partition"\},":events:eu-west-1:123456789012:rule\/StepFunctionsGetEventsForStepFunctionsExecutionRule"\]\]\}$/);
  });

  it('is started by the monthly schedule (UTC) with the configured input', () => {
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 2 * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      Target: Match.objectLike({ Arn: { Ref: backfillId }, Input: JSON.stringify(s.config.schedule!.input) }),
    });
  });
});

describe('abort cleanup', () => {
  it('sends ReindexRun executions that end ABORTED, TIMED_OUT or FAILED to the abort-run function', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: runId }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnIds.AbortRun, 'Arn'] }, RetryPolicy: Match.anyValue() })],
    });
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnIds.AbortRun, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
  });
});

describe('ledger table', () => {
  it('has the keys, index and TTL of lambdas/shared/ledger/ledger.ts, on demand, with point-in-time recovery and encryption, retained', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: LEDGER_PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: LEDGER_SORT_KEY, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: LEDGER_PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_SORT_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_GSI_PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_GSI_SORT_KEY, AttributeType: 'S' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: LEDGER_BY_TARGET_INDEX,
            KeySchema: [
              { AttributeName: LEDGER_GSI_PARTITION_KEY, KeyType: 'HASH' },
              { AttributeName: LEDGER_GSI_SORT_KEY, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: LEDGER_TTL_ATTRIBUTE, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });
});

describe('differences bucket', () => {
  it('is encrypted, blocks every public access, refuses plain HTTP and is retained', () => {
    const id = logicalId(s.stack.pipeline.differences as unknown as { node: { defaultChild?: unknown } });
    const bucket = s.template.findResources('AWS::S3::Bucket')[id]!;
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    const policies = Object.values(s.template.findResources('AWS::S3::BucketPolicy')).filter(
      (p) => JSON.stringify((p.Properties as Json).Bucket) === JSON.stringify({ Ref: id }),
    );
    const statements = policies.flatMap((p) => ((p.Properties as Json).PolicyDocument as { Statement: Json[] }).Statement);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('is written by CheckParity only (DIFFERENCES_URL on its runs/ prefix), and no other function may touch it', () => {
    const id = logicalId(s.stack.pipeline.differences as unknown as { node: { defaultChild?: unknown } });
    const functions = s.template.findResources('AWS::Lambda::Function');
    for (const [name, fnId] of Object.entries(fnIds)) {
      const env = ((functions[fnId]!.Properties as Json).Environment as { Variables: Json }).Variables;
      const writesDifferences = roleStatements(s.template, roleOf(fnId)).some((st) => JSON.stringify(st.Resource ?? '').includes(id));
      if (name === 'CheckParity') {
        expect(env.DIFFERENCES_URL).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: id }, '/runs/']] });
        expect(grantsAction(roleStatements(s.template, roleOf(fnId)), 's3:PutObject', { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/runs/*']] })).toBe(true);
      } else {
        expect(env.DIFFERENCES_URL, name).toBeUndefined();
        expect(writesDifferences, name).toBe(false);
      }
    }
  });
});

describe('IAM', () => {
  it('names a resource in every statement; Resource * only for X-Ray and Step Functions log delivery', () => {
    const star = allStatements(s.template).filter(({ statement }) => asArray(statement.Resource).includes('*'));
    const actions = star.flatMap(({ statement }) => asArray(statement.Action as string | string[]));

    expect(star.length).toBeGreaterThan(0);
    expect(actions.filter((a) => !STAR_RESOURCE_ACTIONS.has(a))).toEqual([]);
    expect(allStatements(s.template).flatMap(({ statement }) => asArray(statement.Action as string | string[])).filter((a) => a.endsWith(':*') || a === '*')).toEqual([]);
  });

  it('lets the functions call the target domain with the five HTTP methods on the domain ARN and ARN/* only', () => {
    const es = allStatements(s.template).filter(({ statement }) => asArray(statement.Action as string[]).some((a) => a.startsWith('es:')));

    expect(es.length).toBeGreaterThan(0);
    for (const { statement } of es) {
      expect(asArray(statement.Action as string[]).sort()).toEqual([...TARGET_HTTP_ACTIONS].sort());
      expect(statement.Resource).toEqual([DOMAIN_ARN, `${DOMAIN_ARN}/*`]);
    }
  });

  it('lets the functions read the configured source secrets only, and only GetSecretValue', () => {
    const secrets = allStatements(s.template).filter(({ statement }) => asArray(statement.Action as string[]).some((a) => a.startsWith('secretsmanager:')));

    expect(secrets.length).toBeGreaterThan(0);
    for (const { statement } of secrets) {
      expect(statement.Action).toBe('secretsmanager:GetSecretValue');
      expect(asArray(statement.Resource)).toEqual([SECRET_ARN]);
    }
  });

  it('gives each function exactly the access its code uses (HANDLER_SETTINGS checked against deps.* in lambdas/<state>/)', () => {
    const uses = (dir: string, pattern: RegExp) =>
      readdirSync(join(LAMBDAS_DIR, dir))
        .filter((f) => f.endsWith('.ts'))
        .some((f) => pattern.test(readFileSync(join(LAMBDAS_DIR, dir, f), 'utf8')));
    // A state reaches the target itself (deps.target) or through a shared function that does.
    const sharedDir = join(LAMBDAS_DIR, 'shared');
    const targetHelpers = readdirSync(sharedDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      // Each exported function's text runs to the next top-level declaration.
      .flatMap((f) => readFileSync(join(sharedDir, f), 'utf8').split(/^(?=export |function |async function |const |interface |type )/m))
      .filter((chunk) => /deps\.target\b/.test(chunk))
      .flatMap((chunk) => [.../^export async function (\w+)\(\s*deps\b/.exec(chunk)?.slice(1) ?? []]);
    expect(targetHelpers.length).toBeGreaterThan(3);
    const usesTarget = new RegExp(`deps\\.target\\b|\\b(${targetHelpers.join('|')})\\(deps\\b`);
    for (const dir of handlerDirectories()) {
      const name = pascalCase(dir);
      const role = roleOf(fnIds[name]!);
      const statements = roleStatements(s.template, role);
      const granted = new Set<HandlerAccess>([
        ...(statements.some((st) => asArray(st.Action as string[]).some((a) => a.startsWith('es:'))) ? (['target'] as const) : []),
        ...(statements.some((st) => asArray(st.Action as string[]).includes('secretsmanager:GetSecretValue')) ? (['sourceSecrets'] as const) : []),
        ...(statements.some((st) => asArray(st.Action as string[]).includes('states:DescribeExecution')) ? (['runExecutions'] as const) : []),
        ...(statements.some((st) => asArray(st.Action as string[]).includes('sns:Publish')) ? (['alarmTopic'] as const) : []),
        ...(statements.some((st) => asArray(st.Action as string[]).some((a) => a.startsWith('s3:Put'))) ? (['differences'] as const) : []),
      ]);
      const used = new Set<HandlerAccess>([
        ...(uses(dir, usesTarget) ? (['target'] as const) : []),
        ...(uses(dir, /deps\.(sourceClient|sourceCredentials)\b/) ? (['sourceSecrets'] as const) : []),
        ...(uses(dir, /deps\.isHolderFinished\b/) ? (['runExecutions'] as const) : []),
        ...(uses(dir, /ALARM_TOPIC_ARN/) ? (['alarmTopic'] as const) : []),
        ...(uses(dir, /deps\.differences\b/) ? (['differences'] as const) : []),
      ]);

      expect([...granted].sort(), dir).toEqual([...used].sort());
      expect([...(HANDLER_SETTINGS[dir]?.access ?? [])].sort(), dir).toEqual([...used].sort());
      expect(
        grantsAction(statements, HANDLER_SETTINGS[dir]?.ledger === 'read' ? 'dynamodb:GetItem' : 'dynamodb:PutItem', {
          'Fn::GetAtt': [logicalId(s.stack.pipeline.ledger), 'Arn'],
        }),
        `${dir} ledger access`,
      ).toBe(true);
    }
  });

  it('lets the lock step describe ReindexRun executions (stale-lock check) and nothing else of Step Functions', () => {
    const statements = roleStatements(s.template, roleOf(fnIds.AcquireLock!));
    const states = statements.filter((st) => asArray(st.Action as string[]).some((a) => a.startsWith('states:')));

    expect(states).toHaveLength(1);
    expect(states[0]!.Action).toBe('states:DescribeExecution');
    expect(JSON.stringify(states[0]!.Resource)).toContain(`"${runId}","Name"`);
  });

  it('lets the approval request publish to the notification topic it is told about (ALARM_TOPIC_ARN)', () => {
    if (!fnIds.RequestApproval) return;
    const topicId = Object.keys(s.template.findResources('AWS::SNS::Topic'))[0]!;
    const props = s.template.findResources('AWS::Lambda::Function')[fnIds.RequestApproval]!.Properties as Json;

    expect(((props.Environment as Json).Variables as Json).ALARM_TOPIC_ARN).toEqual({ Ref: topicId });
    expect(grantsAction(roleStatements(s.template, roleOf(fnIds.RequestApproval)), 'sns:Publish', { Ref: topicId })).toBe(true);
  });

  it('gives the functions no AWS managed policy (their roles write to their own log group only)', () => {
    for (const id of Object.values(fnIds)) {
      const role = s.template.findResources('AWS::IAM::Role')[roleOf(id)]!.Properties as Json;
      expect(role.ManagedPolicyArns, id).toBeUndefined();
    }
  });
});

describe('alarms', () => {
  const alarms = () => Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties as Json);

  it.each(RUN_ALARMS.map((a) => [a.metricName, a] as const))('alarms on %s for any index (no TargetIndex dimension)', (metricName, spec) => {
    const found = alarms().filter((a) => a.MetricName === metricName);

    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'service', Value: 'safe-reindex' }],
      Threshold: spec.threshold ?? 0.0002,
      ComparisonOperator: spec.comparison,
      TreatMissingData: 'notBreaching',
      EvaluationPeriods: 1,
      AlarmActions: [expect.anything()],
    });
  });

  it('alarms on >= 1 for the counters and on > tolerance for parity drift', () => {
    const ops = Object.fromEntries(alarms().filter((a) => a.Namespace === METRICS_NAMESPACE).map((a) => [a.MetricName, [a.ComparisonOperator, a.Threshold]]));

    expect(ops).toEqual({
      CounterMismatch: ['GreaterThanOrEqualToThreshold', 1],
      Failures: ['GreaterThanOrEqualToThreshold', 1],
      SampleMissing: ['GreaterThanOrEqualToThreshold', 1],
      VerifiedDifferences: ['GreaterThanOrEqualToThreshold', 1],
      ForeignReindexCancelled: ['GreaterThanOrEqualToThreshold', 1],
      Stalled: ['GreaterThanOrEqualToThreshold', 1],
      ParityDrift: ['GreaterThanThreshold', 0.0002],
    });
  });

  it('alarms on failed and timed-out executions of both state machines', () => {
    for (const sm of [runId, backfillId]) {
      for (const metricName of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
        expect(
          alarms().filter(
            (a) =>
              a.Namespace === 'AWS/States' &&
              a.MetricName === metricName &&
              JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'StateMachineArn', Value: { Ref: sm } }]) &&
              a.TreatMissingData === 'notBreaching' &&
              a.ComparisonOperator === 'GreaterThanOrEqualToThreshold' &&
              a.Threshold === 1,
          ),
          `${sm} ${metricName}`,
        ).toHaveLength(1);
      }
    }
  });

  it('sends every alarm to the notification topic, which is KMS-encrypted and TLS-only', () => {
    const topics = s.template.findResources('AWS::SNS::Topic');
    const [topicId, topic] = Object.entries(topics)[0]!;

    expect(Object.keys(topics)).toHaveLength(1);
    expect((topic.Properties as Json).KmsMasterKeyId).toBeDefined();
    expect(alarms().every((a) => JSON.stringify(a.AlarmActions) === JSON.stringify([{ Ref: topicId }]))).toBe(true);
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'search-oncall@example.com', TopicArn: { Ref: topicId } });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('dashboard', () => {
  it('plots created / updated / version_conflicts per target index over time, and the alarm states', () => {
    const body = JSON.stringify(Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties);

    for (const metric of ['Created', 'Updated', 'VersionConflicts']) {
      expect(body).toContain(`SEARCH('{${METRICS_NAMESPACE},TargetIndex,service} MetricName=\\\\\\"${metric}\\\\\\"', 'Maximum', 300)`);
    }
    expect(body).toContain('\\"type\\":\\"alarm\\"');
  });

  /** The dashboard body's widgets, each token written as TOKEN, or as its logical id inside a string. */
  const widgets = (): Array<{ type: string; properties: Json }> => {
    const dashboard = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties as Json;
    const parts = ((dashboard.DashboardBody as Json)['Fn::Join'] as [string, unknown[]])[1];
    const text = parts.map((p) => (typeof p === 'string' ? p : `<<${JSON.stringify(p)}>>`)).join('');
    return (JSON.parse(text.replace(/"<<\{[^>]*\}>>"/g, '"TOKEN"').replace(/<<\{"Ref":"([^"]+)"\}>>/g, '$1')) as { widgets: Array<{ type: string; properties: Json }> }).widgets;
  };

  it('shows each run and each of its tasks (progress and breakdown) from the PollTask log group\'s poll lines', () => {
    const all = widgets();
    const logs = all.filter((w) => w.type === 'log');
    const logGroup = logicalId(s.stack.pipeline.handlers.fn('PollTask').logGroup as unknown as { node: { defaultChild?: unknown } });

    expect(logs.map((w) => w.properties.title)).toEqual([
      'Runs: progress and breakdown over all their tasks (latest poll)',
      'Reindex tasks: progress and breakdown of each (latest poll; a run without partitions has one, all)',
    ]);
    for (const w of logs) {
      expect(w.properties.view).toBe('table');
      expect(w.properties.query).toMatch(new RegExp(`^SOURCE '${logGroup}' \\| filter message = "poll"`));
    }
    const [runs, partitions] = logs.map((w) => String(w.properties.query));
    for (const field of ['run.percent', 'run.processed', 'run.total', 'run.created', 'run.updated', 'run.versionConflicts', 'run.done', 'run.running', 'run.waiting']) {
      expect(runs).toContain(`latest(${field})`);
    }
    expect(runs).toContain('by runId');
    for (const field of ['attempt', 'taskId', 'percent', 'processed', 'total', 'created', 'updated', 'versionConflicts', 'failures']) {
      expect(partitions).toContain(`latest(${field})`);
    }
    expect(partitions).toContain('by run_partition');
    // Right after the breakdown over time, which stays the main widget.
    expect(all.findIndex((w) => w.type === 'log')).toBe(all.findIndex((w) => w.properties.title === 'Backfill breakdown per index: created / updated / version_conflicts') + 1);
  });

  it('has no metric with a partition dimension: partitioned runs feed the per-index series', () => {
    const metrics = widgets().map((w) => JSON.stringify(w.properties.metrics ?? []));
    const alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).map((a) => JSON.stringify((a.Properties as Json).Dimensions ?? []));

    expect(metrics.length).toBeGreaterThan(0);
    expect([...metrics, ...alarms].filter((m) => /partition/i.test(m))).toEqual([]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks(s.app).validateScope(s.app);

    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    const acks = s.app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules').map((m) => m.data as Record<string, { reason?: string } | string>));
    const entries = acks.flatMap((a) => Object.entries(a));

    expect(entries.length).toBeGreaterThan(0);
    for (const [id, value] of entries) {
      const reason = typeof value === 'string' ? value : (value.reason ?? JSON.stringify(value));
      expect(reason.length, id).toBeGreaterThan(40);
    }
  });
});
