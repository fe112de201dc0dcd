import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { SafeReindexConfig } from './config';
import { SafeReindexPipeline } from './safe-reindex-pipeline';

export interface SafeReindexStackProps extends StackProps {
  /** The parsed deployment settings (lib/config.ts). */
  readonly config: SafeReindexConfig;
}

/**
 * The deployable stack: turns the typed configuration into resources (imported by id or ARN, never
 * looked up, so synth needs no AWS account) and wires one {@link SafeReindexPipeline}.
 */
export class SafeReindexStack extends Stack {
  readonly pipeline: SafeReindexPipeline;

  constructor(scope: Construct, id: string, props: SafeReindexStackProps) {
    super(scope, id, props);
    const { config } = props;

    const vpc = config.vpc
      ? ec2.Vpc.fromVpcAttributes(this, 'LambdaVpc', {
          vpcId: config.vpc.vpcId,
          // The subnets are selected explicitly below; Fn::GetAZs instead of a context look-up keeps synth offline.
          availabilityZones: Fn.getAzs(),
        })
      : undefined;
    const vpcSubnets: ec2.SubnetSelection | undefined = config.vpc
      ? { subnets: config.vpc.subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `LambdaSubnet${i}`, subnetId)) }
      : undefined;
    const securityGroups = config.vpc
      ? [ec2.SecurityGroup.fromSecurityGroupId(this, 'LambdaSecurityGroup', config.vpc.securityGroupId, { mutable: false })]
      : undefined;

    this.pipeline = new SafeReindexPipeline(this, 'Pipeline', {
      targetService: config.targetService,
      ...(config.targetDomainArn
        ? {
            targetDomain: opensearch.Domain.fromDomainAttributes(this, 'TargetDomain', {
              domainArn: config.targetDomainArn,
              domainEndpoint: config.targetDomainEndpoint,
            }),
          }
        : {}),
      targetEndpoint: config.targetDomainEndpoint,
      remoteExternal: config.remoteExternal,
      sourceSecrets: config.sourceSecretArns.map((arn, i) => secretsmanager.Secret.fromSecretCompleteArn(this, `SourceSecret${i}`, arn)),
      ...(vpc ? { vpc } : {}),
      ...(vpcSubnets ? { vpcSubnets } : {}),
      ...(securityGroups ? { securityGroups } : {}),
      ...(config.alarmTopicArn ? { alarmTopic: sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarmTopicArn) } : {}),
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      parityDriftTolerance: config.parityDriftTolerance,
      ...(config.schedule ? { monthlySchedule: { expression: config.schedule.expression, input: config.schedule.input } } : {}),
      maxTasksPerDomain: config.maxTasksPerDomain,
      logRetention: config.logRetentionDays as logs.RetentionDays,
    });

    new CfnOutput(this, 'ReindexRunStateMachineArn', {
      value: this.pipeline.reindexRun.stateMachineArn,
      description: 'Start a run here (console: paste the execution input of docs/design.md)',
    });
    new CfnOutput(this, 'MonthlyBackfillStateMachineArn', { value: this.pipeline.monthlyBackfill.stateMachineArn });
    new CfnOutput(this, 'LedgerTableName', { value: this.pipeline.ledger.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.pipeline.alarmTopic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.pipeline.monitoring.dashboard.dashboardName });
  }
}
