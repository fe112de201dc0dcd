import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app';
import { CONTEXT_KEYS } from '../../lib/config';
import { localStackContext } from '../../local/localstack/deploy';
import { synthesise } from './support';

// Other deployments than cdk.json's example: each synthesised once, checked, and run through cdk-nag.

const nagFindings = (s: Pick<ReturnType<typeof synthesise>, 'app'>) =>
  new AwsSolutionsChecks(s.app).validateScope(s.app).violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);

describe('functions in a VPC', () => {
  const s = synthesise({
    'safe-reindex:vpcId': 'vpc-0123456789abcdef0',
    'safe-reindex:subnetIds': ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
    'safe-reindex:securityGroupId': 'sg-0123456789abcdef0',
  });

  it('puts every handler in the configured subnets with the configured security group', () => {
    const fns = Object.values(s.template.findResources('AWS::Lambda::Function'));

    expect(fns.length).toBeGreaterThan(10);
    for (const fn of fns) {
      expect(fn.Properties.VpcConfig).toEqual({
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      });
    }
  });

  it('lets each handler manage its network interfaces (AWSLambdaVPCAccessExecutionRole, the only managed policy)', () => {
    const fns = Object.values(s.template.findResources('AWS::Lambda::Function'));
    const roles = s.template.findResources('AWS::IAM::Role');

    for (const fn of fns) {
      const role = roles[(fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!]!;
      expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toMatch(/^\[\{"Fn::Join":\["",\["arn:",\{"Ref":"AWS::Partition"\},":iam::aws:policy\/service-role\/AWSLambdaVPCAccessExecutionRole"\]\]\}\]$/);
    }
  });

  it('needs no AZ look-up (synth stays offline) and passes cdk-nag with the VPC access policy acknowledged', () => {
    expect(s.app.synth().manifest.missing ?? []).toEqual([]);
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('an existing alarm topic, no schedule', () => {
  const s = synthesise({
    'safe-reindex:alarmEmail': null,
    'safe-reindex:alarmTopicArn': 'arn:aws:sns:eu-west-1:123456789012:search-oncall',
    'safe-reindex:scheduleExpression': null,
  });

  it('sends the alarms to that topic and creates neither a topic nor a schedule', () => {
    s.template.resourceCountIs('AWS::SNS::Topic', 0);
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:search-oncall'] });
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('a self-managed OpenSearch target', () => {
  const s = synthesise({
    'safe-reindex:targetService': 'self-managed',
    'safe-reindex:targetDomainArn': null,
    'safe-reindex:targetDomainEndpoint': 'https://opensearch.internal:9200',
    'safe-reindex:account': '123456789012',
    'safe-reindex:region': 'eu-west-1',
  });

  it('signs nothing, sends no external flag and grants no es: action', () => {
    s.template.allResourcesProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_SIGV4: 'false', REMOTE_EXTERNAL: 'false', TARGET_ENDPOINT: 'https://opensearch.internal:9200' }) },
    });
    expect(JSON.stringify(s.template.findResources('AWS::IAM::Policy'))).not.toContain('es:ESHttp');
    expect(nagFindings(s)).toEqual([]);
  });

  const agnostic = synthesise({
    'safe-reindex:targetService': 'self-managed',
    'safe-reindex:targetDomainArn': null,
    'safe-reindex:targetDomainEndpoint': 'https://opensearch.internal:9200',
  });

  it('is environment-agnostic without account and region', () => {
    expect(Stack.of(agnostic.stack).account).toMatch(/^\$\{Token/);
    expect(nagFindings(agnostic)).toEqual([]);
  });
});

describe('the LocalStack deployment (npm run localstack)', () => {
  const secret = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:safe-reindex/source-AbCdEf';
  const context = localStackContext({ targetUrl: 'http://10.213.0.1:9201', sourceSecretArns: [secret] });
  // As deployToLocalStack synthesises it: this context alone, not merged into cdk.json's.
  const outdir = mkdtempSync(join(tmpdir(), 'safe-reindex-cdk-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));
  const built = createApp(context, { bundle: false, cfnValidation: false, outdir });
  const s = { ...built, template: Template.fromStack(built.stack) };

  it('is configured by documented context keys only: no LocalStack switch in the product', () => {
    expect(Object.keys(context).filter((key) => !(key.replace(/^safe-reindex:/, '') in CONTEXT_KEYS))).toEqual([]);
  });

  it('calls the plain-http self-managed target unsigned and may read the source secret, cdk-nag clean', () => {
    s.template.allResourcesProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_SIGV4: 'false', REMOTE_EXTERNAL: 'false', TARGET_ENDPOINT: 'http://10.213.0.1:9201' }) },
    });
    expect(JSON.stringify(s.template.findResources('AWS::IAM::Policy'))).toContain(secret);
    expect(Stack.of(s.stack).account).toBe('000000000000');
    expect(nagFindings(s)).toEqual([]);
  });
});

describe('a bad configuration', () => {
  it('fails synth with a message naming the key and the value', () => {
    expect(() => synthesise({ 'safe-reindex:targetDomainArn': 'calls' })).toThrow(/safe-reindex:targetDomainArn: "calls" is not valid/);
  });
});
