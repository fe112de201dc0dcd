import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, ConfigError, parseConfig } from '../../lib/config';
import { CDK_JSON_CONTEXT } from './support';

const minimal = {
  'safe-reindex:targetDomainEndpoint': 'https://vpc-calls-abc123.eu-west-1.es.amazonaws.com',
  'safe-reindex:targetDomainArn': 'arn:aws:es:eu-west-1:123456789012:domain/calls',
  'safe-reindex:sourceSecretArns': ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf'],
};

function problemsOf(context: Record<string, unknown>): string[] {
  try {
    parseConfig(context);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('accepts the example context of cdk.json (npm run synth uses it)', () => {
    const config = parseConfig(CDK_JSON_CONTEXT);

    expect(config).toMatchObject({
      stackName: 'SafeReindex',
      env: { account: '123456789012', region: 'eu-west-1' },
      targetService: 'aos',
      remoteExternal: true,
      maxTasksPerDomain: 4,
      parityDriftTolerance: 0.0002,
      schedule: { expression: 'cron(0 3 2 * ? *)' },
    });
  });

  it('documents every key that cdk.json sets', () => {
    const ours = Object.keys(CDK_JSON_CONTEXT).filter((k) => k.startsWith('safe-reindex:'));

    expect(ours.map((k) => k.slice('safe-reindex:'.length)).filter((k) => !(k in CONTEXT_KEYS))).toEqual([]);
  });

  it('fills the defaults: aos, external remote, 4 tasks per domain, tolerance 0.0002, a year of logs, no schedule, no VPC', () => {
    const config = parseConfig(minimal);

    expect(config).toEqual({
      stackName: 'SafeReindex',
      env: { account: '123456789012', region: 'eu-west-1' },
      targetService: 'aos',
      targetDomainEndpoint: 'https://vpc-calls-abc123.eu-west-1.es.amazonaws.com',
      targetDomainArn: 'arn:aws:es:eu-west-1:123456789012:domain/calls',
      remoteExternal: true,
      sourceSecretArns: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf'],
      parityDriftTolerance: 0.0002,
      maxTasksPerDomain: 4,
      logRetentionDays: 365,
    });
  });

  it('names every missing required key at once', () => {
    const problems = problemsOf({});

    expect(problems).toEqual([
      expect.stringMatching(/^safe-reindex:targetDomainEndpoint: missing/),
      expect.stringMatching(/^safe-reindex:targetDomainArn: missing/),
      expect.stringMatching(/^safe-reindex:sourceSecretArns: missing/),
    ]);
  });

  it('fails with a message that shows the bad value and what is allowed', () => {
    expect(() => parseConfig({ ...minimal, 'safe-reindex:targetDomainArn': 'arn:aws:es:eu-west-1:123456789012:domain/calls/*' })).toThrow(
      /safe-reindex:targetDomainArn: "arn:aws:es:eu-west-1:123456789012:domain\/calls\/\*" is not valid: arn:aws:es:<region>:<account>:domain\/<name>/,
    );
  });

  it.each([
    ['targetDomainEndpoint', 'http://vpc-calls.eu-west-1.es.amazonaws.com', /an https URL/],
    ['targetDomainEndpoint', 'https://user:pw@vpc-calls.eu-west-1.es.amazonaws.com', /an https URL without path, credentials/],
    ['targetDomainEndpoint', 'https://vpc-calls.us-east-1.es.amazonaws.com', /in the domain ARN's region eu-west-1/],
    ['targetService', 'elastic', /"aos" or "self-managed"/],
    ['sourceSecretArns', ['arn:aws:s3:::bucket'], /Secrets Manager secret ARNs/],
    ['alarmTopicArn', 'my-topic', /an SNS topic ARN/],
    ['alarmEmail', 'not-an-address', /an e-mail address/],
    ['parityDriftTolerance', 2, /a fraction from 0 to 0.5/],
    ['parityDriftTolerance', 'abc', /a fraction from 0 to 0.5/],
    ['maxTasksPerDomain', 0, /a whole number from 1 to 32/],
    ['maxTasksPerDomain', 2.5, /a whole number from 1 to 32/],
    ['logRetentionDays', 100, /one of 1, 3, 5/],
    ['scheduleExpression', '0 3 2 * *', /an EventBridge Scheduler expression/],
    ['scheduleExpression', 'cron(0 3 2 * *)', /an EventBridge Scheduler expression/],
    ['region', 'us-east-1', /the target domain's region eu-west-1/],
    ['remoteExternal', 'yes', /true or false/],
  ])('refuses %s = %j', (key, value, message) => {
    const problems = problemsOf({ ...minimal, [`safe-reindex:${key}`]: value });

    expect(problems).toEqual([expect.stringMatching(message)]);
    expect(problems[0]).toMatch(new RegExp(`^safe-reindex:${key}`));
  });

  it('refuses an unknown safe-reindex: key (a typo would otherwise be ignored)', () => {
    expect(problemsOf({ ...minimal, 'safe-reindex:maxTaskPerDomain': 8 })).toEqual([expect.stringMatching(/safe-reindex:maxTaskPerDomain: unknown key/)]);
  });

  it('ignores context keys that are not ours (CDK feature flags)', () => {
    expect(() => parseConfig({ ...minimal, '@aws-cdk/aws-lambda:recognizeLayerVersion': true })).not.toThrow();
  });

  it('reads values given on the command line as strings (-c key=value)', () => {
    const config = parseConfig({
      ...minimal,
      'safe-reindex:sourceSecretArns': 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-AbCdEf, arn:aws:secretsmanager:eu-west-1:123456789012:secret:b-AbCdEf',
      'safe-reindex:maxTasksPerDomain': '8',
      'safe-reindex:parityDriftTolerance': '0.001',
      'safe-reindex:remoteExternal': 'false',
      'safe-reindex:scheduleExpression': 'rate(30 days)',
      'safe-reindex:monthlyBackfillInput': '{"indexTemplate":"calls-{yyyy}-{MM}","months":"previous","run":{"source":{"url":"https://es7.internal:9200"}},"approval":"auto"}',
    });

    expect(config.sourceSecretArns).toHaveLength(2);
    expect(config.maxTasksPerDomain).toBe(8);
    expect(config.parityDriftTolerance).toBe(0.001);
    expect(config.remoteExternal).toBe(false);
    expect(config.schedule?.input).toMatchObject({ indexTemplate: 'calls-{yyyy}-{MM}' });
  });

  it('needs the MonthlyBackfill input with a schedule, and a JSON object as input', () => {
    expect(problemsOf({ ...minimal, 'safe-reindex:scheduleExpression': 'cron(0 3 2 * ? *)' })).toEqual([
      expect.stringMatching(/safe-reindex:monthlyBackfillInput: missing/),
    ]);
    expect(problemsOf({ ...minimal, 'safe-reindex:monthlyBackfillInput': '[1,2]' })).toEqual([
      expect.stringMatching(/safe-reindex:monthlyBackfillInput: .* a JSON object/),
    ]);
  });

  it('takes the VPC settings all together or not at all', () => {
    expect(problemsOf({ ...minimal, 'safe-reindex:vpcId': 'vpc-0123456789abcdef0' })).toEqual([expect.stringMatching(/give all three/)]);

    const config = parseConfig({
      ...minimal,
      'safe-reindex:vpcId': 'vpc-0123456789abcdef0',
      'safe-reindex:subnetIds': 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
      'safe-reindex:securityGroupId': 'sg-0123456789abcdef0',
    });
    expect(config.vpc).toEqual({
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      securityGroupId: 'sg-0123456789abcdef0',
    });
  });

  it('takes an alarm topic or an e-mail address, not both', () => {
    expect(
      problemsOf({ ...minimal, 'safe-reindex:alarmTopicArn': 'arn:aws:sns:eu-west-1:123456789012:oncall', 'safe-reindex:alarmEmail': 'a@example.com' }),
    ).toEqual([expect.stringMatching(/give one of them, not both/)]);
  });

  it('for a self-managed target: no domain ARN, no SigV4 external flag, environment-agnostic unless account and region are given', () => {
    const base = {
      'safe-reindex:targetService': 'self-managed',
      'safe-reindex:targetDomainEndpoint': 'https://opensearch.internal:9200',
      'safe-reindex:sourceSecretArns': [],
    };

    expect(parseConfig(base)).toMatchObject({ targetService: 'self-managed', remoteExternal: false });
    expect(parseConfig(base).env).toBeUndefined();
    expect(parseConfig({ ...base, 'safe-reindex:account': '123456789012', 'safe-reindex:region': 'eu-west-1' }).env).toEqual({ account: '123456789012', region: 'eu-west-1' });
    expect(problemsOf({ ...base, 'safe-reindex:targetDomainArn': minimal['safe-reindex:targetDomainArn'] })).toEqual([expect.stringMatching(/not used with targetService "self-managed"/)]);
    expect(problemsOf({ ...base, 'safe-reindex:remoteExternal': true })).toEqual([expect.stringMatching(/only Amazon OpenSearch Service knows source.remote.external/)]);
    expect(problemsOf({ ...base, 'safe-reindex:account': '123456789012' })).toEqual([expect.stringMatching(/give both or neither/)]);
  });

  it('takes a plain http endpoint for a self-managed target only', () => {
    const selfManaged = { 'safe-reindex:targetService': 'self-managed', 'safe-reindex:sourceSecretArns': [] };
    expect(parseConfig({ ...selfManaged, 'safe-reindex:targetDomainEndpoint': 'http://10.0.3.7:9200' }).targetDomainEndpoint).toBe('http://10.0.3.7:9200');
    expect(problemsOf({ ...selfManaged, 'safe-reindex:targetDomainEndpoint': 'ftp://10.0.3.7:9200' })).toEqual([
      expect.stringMatching(/targetDomainEndpoint.*an https \(or, for a self-managed cluster, http\) URL/),
    ]);
    expect(problemsOf({ ...minimal, 'safe-reindex:targetDomainEndpoint': 'http://vpc-calls.eu-west-1.es.amazonaws.com' })).toEqual([
      expect.stringMatching(/targetDomainEndpoint.*an https URL without path/),
    ]);
  });
});

describe('the example MonthlyBackfill input of cdk.json', () => {
  it('is an input the planner accepts: one month due, a dry run and a live run each with a valid ReindexRun input', async () => {
    const { planMonths } = await import('../../lambdas/plan-months/plan-months');
    const { ExecutionInputSchema } = await import('../../lambdas/shared/runtime/config');
    const config = parseConfig(CDK_JSON_CONTEXT);

    const plan = planMonths(config.schedule!.input, new Date('2026-06-02T03:00:00Z'), new Set(), 'scheduled-2026-06');

    expect(plan.months.map((m) => m.targetIndex)).toEqual(['calls-2026-05']);
    for (const month of plan.months) {
      expect(() => ExecutionInputSchema.parse(month.dry.input)).not.toThrow();
      expect(() => ExecutionInputSchema.parse(month.live.input)).not.toThrow();
    }
  });
});
