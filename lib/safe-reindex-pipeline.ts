import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AbortCleanup } from './constructs/abort-cleanup';
import { HANDLER_SETTINGS, HandlerFunctions, type HandlerAccess } from './constructs/handler-functions';
import { DifferencesBucket } from './constructs/differences-bucket';
import { LedgerTable } from './constructs/ledger-table';
import { Monitoring, NotificationTopic } from './constructs/monitoring';
import { MonthlyBackfillStateMachine } from './constructs/monthly-backfill-state-machine';
import { MonthlySchedule } from './constructs/monthly-schedule';
import { acknowledge, nagSpelling } from './constructs/nag';
import { ReindexRunStateMachine } from './constructs/reindex-run-state-machine';

/** The only OpenSearch HTTP actions the functions use, on the target domain and its paths. */
export const TARGET_HTTP_ACTIONS = ['es:ESHttpGet', 'es:ESHttpHead', 'es:ESHttpPost', 'es:ESHttpPut', 'es:ESHttpDelete'] as const;

/** Where the target is: an Amazon OpenSearch Service domain, or a self-managed OpenSearch. */
export type TargetService = 'aos' | 'self-managed';

export interface MonthlyScheduleOptions {
  /** EventBridge Scheduler expression, evaluated in UTC, e.g. `cron(0 3 2 * ? *)`. */
  readonly expression: string;
  /** The MonthlyBackfill execution input (lambdas/plan-months documents it). */
  readonly input: Readonly<Record<string, unknown>>;
}

export interface SafeReindexPipelineProps {
  /**
   * Amazon OpenSearch Service (SigV4 on every target request, IAM scoped to the domain, remote reindex
   * with `source.remote.external`) or a self-managed OpenSearch (no SigV4, no domain IAM).
   * @default 'aos'
   */
  readonly targetService?: TargetService;
  /**
   * The target domain (e.g. `Domain.fromDomainAttributes`); required for `'aos'`. Its ARN and `ARN/*`
   * are the only resources of the functions' `es:ESHttp*` permissions.
   * @default - none; required for 'aos'
   */
  readonly targetDomain?: opensearch.IDomain;
  /**
   * The target endpoint the functions call, `https://host[:port]`.
   * @default - `https://` + the domain's endpoint; required for 'self-managed'
   */
  readonly targetEndpoint?: string;
  /**
   * Add `"external": true` to `source.remote` of every `_reindex` request: Amazon OpenSearch Service needs
   * it when the source is not an OpenSearch Service domain (a self-managed Elasticsearch 7.10).
   * @default - true for 'aos', false for 'self-managed'
   */
  readonly remoteExternal?: boolean;
  /**
   * The secrets runs may name as `source.credentialsSecret`; the only secrets the functions may read.
   * @default - none (an unauthenticated source)
   */
  readonly sourceSecrets?: readonly secretsmanager.ISecret[];
  /**
   * VPC of the functions (the target domain and the source must be reachable from it).
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of the functions.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the functions.
   * @default - one per function, all egress allowed
   */
  readonly securityGroups?: readonly ec2.ISecurityGroup[];
  /**
   * Topic for alarm notifications and manual-approval requests.
   * @default - a topic created here, encrypted with its own KMS key
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Subscribed to the created topic (not used with `alarmTopic`).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * ParityDrift alarm threshold, a fraction of the source count.
   * @default 0.0002
   */
  readonly parityDriftTolerance?: number;
  /**
   * Start MonthlyBackfill on a schedule.
   * @default - no schedule (start it by hand)
   */
  readonly monthlySchedule?: MonthlyScheduleOptions;
  /**
   * At most this many reindex tasks write into the target domain at once (partitioned runs); passed
   * to the functions as MAX_TASKS_PER_DOMAIN.
   * @default 4
   */
  readonly maxTasksPerDomain?: number;
  /**
   * Retention of every log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the ledger (the runs' receipts) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly ledgerRemovalPolicy?: RemovalPolicy;
}

/**
 * The safe-reindex pipeline, ready to drop into a CDK app: the ledger, one Lambda function per state,
 * the `ReindexRun` and `MonthlyBackfill` state machines, the abort cleanup, alarms and a dashboard, and
 * optionally the monthly schedule. IAM is scoped to named resources: the target domain, the listed
 * secrets, the ledger, the ReindexRun executions.
 *
 * @example
 * new SafeReindexPipeline(this, 'Backfill', {
 *   targetDomain: opensearch.Domain.fromDomainAttributes(this, 'Target', {
 *     domainArn: 'arn:aws:es:eu-west-1:123456789012:domain/calls',
 *     domainEndpoint: 'https://vpc-calls-abc123.eu-west-1.es.amazonaws.com',
 *   }),
 *   sourceSecrets: [secretsmanager.Secret.fromSecretCompleteArn(this, 'Es7', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf')],
 *   alarmEmail: 'search-oncall@example.com',
 * });
 */
export class SafeReindexPipeline extends Construct {
  readonly ledger: dynamodb.ITable;
  /** Full verification's lists of differing ids, per run. */
  readonly differences: s3.IBucket;
  readonly handlers: HandlerFunctions;
  readonly reindexRun: sfn.StateMachine;
  readonly monthlyBackfill: sfn.StateMachine;
  readonly alarmTopic: sns.ITopic;
  readonly monitoring: Monitoring;
  readonly abortCleanup: AbortCleanup;
  readonly schedule?: MonthlySchedule;

  constructor(scope: Construct, id: string, props: SafeReindexPipelineProps) {
    super(scope, id);
    const targetService = props.targetService ?? 'aos';
    if (targetService !== 'aos' && targetService !== 'self-managed') {
      throw new Error(`SafeReindexPipeline: targetService ${JSON.stringify(targetService)} is not one of "aos", "self-managed"`);
    }
    if (targetService === 'aos' && !props.targetDomain) {
      throw new Error('SafeReindexPipeline: targetService "aos" needs targetDomain (e.g. opensearch.Domain.fromDomainAttributes): IAM is scoped to it');
    }
    if (targetService === 'self-managed' && props.targetDomain) {
      throw new Error('SafeReindexPipeline: targetDomain is an Amazon OpenSearch Service domain; with targetService "self-managed" give targetEndpoint only');
    }
    if (props.remoteExternal && targetService !== 'aos') {
      throw new Error('SafeReindexPipeline: remoteExternal true needs targetService "aos" (only Amazon OpenSearch Service knows source.remote.external)');
    }
    const targetEndpoint = props.targetEndpoint ?? (props.targetDomain ? withScheme(props.targetDomain.domainEndpoint) : undefined);
    if (!targetEndpoint) throw new Error('SafeReindexPipeline: targetService "self-managed" needs targetEndpoint (https://host:port)');
    if (!/^https?:\/\//.test(targetEndpoint) && !targetEndpoint.startsWith('${Token')) {
      throw new Error(`SafeReindexPipeline: targetEndpoint ${JSON.stringify(targetEndpoint)} is not an http(s) URL`);
    }
    const maxTasksPerDomain = props.maxTasksPerDomain ?? 4;
    if (!Number.isInteger(maxTasksPerDomain) || maxTasksPerDomain < 1) {
      throw new Error(`SafeReindexPipeline: maxTasksPerDomain ${maxTasksPerDomain} is not a whole number >= 1`);
    }
    const tolerance = props.parityDriftTolerance ?? 0.0002;
    if (!(tolerance >= 0 && tolerance < 0.5)) throw new Error(`SafeReindexPipeline: parityDriftTolerance ${tolerance} is not a fraction from 0 to 0.5`);
    if (props.alarmTopic && props.alarmEmail) {
      throw new Error('SafeReindexPipeline: give alarmTopic or alarmEmail, not both (subscribe the address to your topic yourself)');
    }
    const remoteExternal = props.remoteExternal ?? targetService === 'aos';
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const sourceSecrets = props.sourceSecrets ?? [];

    this.ledger = new LedgerTable(this, 'Ledger', {
      ...(props.ledgerRemovalPolicy ? { removalPolicy: props.ledgerRemovalPolicy } : {}),
    }).table;

    const differences = new DifferencesBucket(this, 'Differences', {
      ...(props.ledgerRemovalPolicy ? { removalPolicy: props.ledgerRemovalPolicy } : {}),
    });
    this.differences = differences.bucket;

    this.handlers = new HandlerFunctions(this, 'Handlers', {
      environment: {
        TARGET_ENDPOINT: targetEndpoint,
        TARGET_SIGV4: targetService === 'aos' ? 'true' : 'false',
        LEDGER_TABLE_NAME: this.ledger.tableName,
        SOURCE_SECRET_ARNS: sourceSecrets.map((s) => s.secretArn).join(','),
        REMOTE_EXTERNAL: remoteExternal ? 'true' : 'false',
        MAX_TASKS_PER_DOMAIN: String(maxTasksPerDomain),
      },
      logRetention,
      ...(props.vpc ? { vpc: props.vpc } : {}),
      ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
      ...(props.securityGroups ? { securityGroups: [...props.securityGroups] } : {}),
    });

    const run = new ReindexRunStateMachine(this, 'ReindexRun', { functions: this.handlers.functions, logRetention });
    this.reindexRun = run.stateMachine;
    const runExecutionsArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.reindexRun.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    if (props.alarmTopic) {
      this.alarmTopic = props.alarmTopic;
    } else {
      this.alarmTopic = new NotificationTopic(this, 'Notifications', { ...(props.alarmEmail ? { email: props.alarmEmail } : {}) }).topic;
    }

    // What each function may reach: the table in HANDLER_SETTINGS, checked against the code by test/infra.
    const domainArn = props.targetDomain?.domainArn;
    for (const [name, fn] of Object.entries(this.handlers.functions)) {
      const dir = this.handlers.directories[name]!;
      const access = new Set<HandlerAccess>(HANDLER_SETTINGS[dir]?.access ?? []);
      const role = fn.role!;
      const acks: Array<{ id: string; reason: string }> = [];
      if (HANDLER_SETTINGS[dir]?.ledger === 'read') this.ledger.grantReadData(fn);
      else this.ledger.grantReadWriteData(fn);
      acks.push({
        id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, this.ledger.tableArn)}/index/*]`,
        reason: 'The ledger\'s own indexes (byTarget: runs by target index), added by grantReadData / grantReadWriteData; no other table.',
      });
      if (access.has('target') && domainArn) {
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: [...TARGET_HTTP_ACTIONS], resources: [domainArn, `${domainArn}/*`] }));
        acks.push({
          id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, `${domainArn}/*`)}]`,
          reason: 'OpenSearch HTTP APIs are authorised per request path (<domain ARN>/<index>/_doc/..., /_tasks/..., /_reindex): the target domain\'s paths, that one domain only.',
        });
      }
      if (access.has('sourceSecrets') && sourceSecrets.length > 0) {
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: sourceSecrets.map((s) => s.secretArn) }));
      }
      if (access.has('runExecutions')) {
        // A separate policy: the state machine depends on the function, so the function's own
        // (default) policy cannot name the state machine without a dependency cycle.
        const policy = new iam.Policy(this, `${name}RunExecutionsPolicy`, {
          roles: [role],
          statements: [new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [runExecutionsArn] })],
        });
        acknowledge(policy, [
          {
            id: `AwsSolutions-IAM5[Resource::${nagSpelling(this, runExecutionsArn)}]`,
            reason: 'Stale-lock check: is the lock holder\'s execution still running? Execution names are only known at run time; scoped to the ReindexRun state machine\'s executions.',
          },
        ]);
      }
      if (access.has('differences')) {
        fn.addEnvironment('DIFFERENCES_URL', differences.url);
        differences.bucket.grantReadWrite(fn, 'runs/*');
        acks.push(
          { id: 'AwsSolutions-IAM5[Action::s3:GetObject*]', reason: 'grantReadWrite on the differences bucket\'s runs/ prefix only.' },
          { id: 'AwsSolutions-IAM5[Action::s3:GetBucket*]', reason: 'grantReadWrite on the differences bucket only.' },
          { id: 'AwsSolutions-IAM5[Action::s3:List*]', reason: 'grantReadWrite on the differences bucket only.' },
          { id: 'AwsSolutions-IAM5[Action::s3:DeleteObject*]', reason: 'grantReadWrite on the differences bucket\'s runs/ prefix only.' },
          { id: 'AwsSolutions-IAM5[Action::s3:Abort*]', reason: 'grantReadWrite on the differences bucket\'s runs/ prefix only.' },
          { id: `AwsSolutions-IAM5[Resource::<${nagSpelling(this, differences.bucket.bucketArn).replace(/^<|>$/g, '')}>/runs/*]`, reason: 'The runs/ prefix of the stack\'s own differences bucket: one object per range of differing ids, names known at run time.' },
        );
      }
      if (access.has('alarmTopic')) {
        fn.addEnvironment('ALARM_TOPIC_ARN', this.alarmTopic.topicArn);
        this.alarmTopic.grantPublish(fn);
        acks.push({
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason: 'Publishing to the KMS-encrypted notification topic (grantPublish): kms:GenerateDataKey* on that topic\'s key only.',
        });
      }
      acknowledge(role, acks);
    }

    this.monthlyBackfill = new MonthlyBackfillStateMachine(this, 'MonthlyBackfill', {
      functions: this.handlers.functions,
      reindexRun: this.reindexRun,
      reindexRunExecutionsArn: runExecutionsArn,
      approvalTopic: this.alarmTopic,
      logRetention,
    }).stateMachine;

    this.abortCleanup = new AbortCleanup(this, 'AbortCleanup', { stateMachine: this.reindexRun, cleanup: this.handlers.fn('AbortRun') });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      alarmTopic: this.alarmTopic,
      stateMachines: { ReindexRun: this.reindexRun, MonthlyBackfill: this.monthlyBackfill },
      parityDriftTolerance: tolerance,
      pollLogGroup: this.handlers.fn('PollTask').logGroup,
    });

    if (props.monthlySchedule) {
      this.schedule = new MonthlySchedule(this, 'MonthlySchedule', {
        stateMachine: this.monthlyBackfill,
        expression: props.monthlySchedule.expression,
        input: props.monthlySchedule.input,
      });
    }
  }
}

function withScheme(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`;
}
