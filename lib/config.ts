/**
 * The deployment settings: `cdk.json` context (or `cdk synth -c key=value`) parsed ONCE into a typed
 * object. Every key is namespaced `safe-reindex:`; each one is documented in `CONTEXT_KEYS` below and
 * in `lib/README.md`. A bad or missing value fails synth with a message that names the key, the
 * value and what is allowed; all problems are reported at once.
 */

/** Context key prefix: keeps our keys apart from CDK feature flags in the same `context` block. */
export const CONTEXT_PREFIX = 'safe-reindex:';

/** Every key this app reads, with what it means (the `lib/README.md` table is this list). */
export const CONTEXT_KEYS = {
  stackName: 'CloudFormation stack name. Default "SafeReindex".',
  targetService:
    '"aos" (Amazon OpenSearch Service: SigV4 on every target request, IAM on the domain, remote reindex with source.remote.external) or "self-managed" (no SigV4, no domain ARN). Default "aos".',
  targetDomainEndpoint:
    'https URL of the target OpenSearch endpoint, e.g. https://vpc-calls-abc123.eu-west-1.es.amazonaws.com (a "self-managed" target may be http). Required.',
  targetDomainArn:
    'ARN of the target domain, arn:aws:es:<region>:<account>:domain/<name>. Required for "aos": IAM is scoped to it and to <arn>/*; the stack is deployed to its account and region.',
  account: 'Account to deploy to. Default: the domain ARN\'s account ("aos"); for "self-managed" without it the stack is environment-agnostic.',
  region: 'Region to deploy to. Default: the domain ARN\'s region (SigV4 signs for the Lambdas\' region, so for "aos" it must equal it).',
  remoteExternal:
    'Add "external": true to source.remote in every _reindex request (Amazon OpenSearch Service needs it when the source is not an OpenSearch Service domain). Default: true for "aos", false otherwise; only "aos" may set it true.',
  vpcId: 'VPC of the Lambda functions (vpc-...). Optional; give it with subnetIds and securityGroupId, or none of the three.',
  subnetIds: 'Private subnets of the Lambda functions: a list, or a comma-separated string (subnet-...).',
  securityGroupId: 'Security group of the Lambda functions (sg-...); it must allow HTTPS out to the target and the source.',
  sourceSecretArns:
    'Secrets Manager secret ARNs (full, with the 6-character suffix) that runs may name as source.credentialsSecret; the only secrets the functions may read. A list or a comma-separated string; may be empty for an unauthenticated source.',
  alarmTopicArn: 'Existing SNS topic (arn:aws:sns:...) for alarm notifications. Optional; exclusive with alarmEmail.',
  alarmEmail: 'E-mail address subscribed to a topic created by the stack. Optional; exclusive with alarmTopicArn. Neither: a topic without subscription.',
  parityDriftTolerance: 'ParityDrift alarm threshold, a fraction of the source count (alarm when drift > it). Default 0.0002.',
  scheduleExpression:
    'EventBridge Scheduler expression (UTC) that starts MonthlyBackfill, e.g. "cron(0 3 2 * ? *)" (03:00 UTC on the 2nd of each month); null or absent: no schedule.',
  monthlyBackfillInput: 'JSON object (or a JSON string) given to MonthlyBackfill by the schedule. Required with scheduleExpression.',
  maxTasksPerDomain: 'At most this many reindex tasks write into the target domain at once (partitioned runs). Default 4, 1 to 32.',
  logRetentionDays: 'Retention of the functions\' and state machines\' log groups, in days (a CloudWatch Logs retention value). Default 365.',
} as const;

export type ContextKey = keyof typeof CONTEXT_KEYS;
export type TargetService = 'aos' | 'self-managed';

export interface LambdaVpcConfig {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupId: string;
}

export interface MonthlyScheduleConfig {
  /** EventBridge Scheduler expression, evaluated in UTC. */
  readonly expression: string;
  /** The MonthlyBackfill execution input. */
  readonly input: Readonly<Record<string, unknown>>;
}

export interface SafeReindexConfig {
  readonly stackName: string;
  /** Where the stack goes; undefined: environment-agnostic. */
  readonly env?: { readonly account: string; readonly region: string };
  readonly targetService: TargetService;
  readonly targetDomainEndpoint: string;
  /** Undefined only for a self-managed target. */
  readonly targetDomainArn?: string;
  readonly remoteExternal: boolean;
  readonly vpc?: LambdaVpcConfig;
  readonly sourceSecretArns: readonly string[];
  readonly alarmTopicArn?: string;
  readonly alarmEmail?: string;
  readonly parityDriftTolerance: number;
  readonly schedule?: MonthlyScheduleConfig;
  readonly maxTasksPerDomain: number;
  readonly logRetentionDays: number;
}

/** Synth fails with this: one line per bad or missing key. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `invalid safe-reindex configuration (cdk.json "context", or -c ${CONTEXT_PREFIX}<key>=<value>):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** CloudWatch Logs retention values (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const DOMAIN_ARN = /^arn:(aws[a-z-]*):es:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):domain\/([a-z][a-z0-9-]{2,27})$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SG_ID = /^sg-[0-9a-f]{8,17}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
// EventBridge Scheduler: cron has six fields, rate is "<n> <unit>", at is an ISO local date-time.
const SCHEDULE = /^(?:cron\((?:\S+ ){5}\S+\)|rate\(\d+ (?:minute|minutes|hour|hours|day|days)\)|at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\))$/;

const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value));

/**
 * Parses the app's context into the typed configuration.
 * @param context the CDK context (`app.node.tryGetContext` or a plain object; only `safe-reindex:` keys are read)
 * @throws ConfigError naming every bad or missing key
 */
export function parseConfig(context: Readonly<Record<string, unknown>>): SafeReindexConfig {
  const problems: string[] = [];
  const known = new Set(Object.keys(CONTEXT_KEYS).map((k) => CONTEXT_PREFIX + k));
  for (const key of Object.keys(context)) {
    if (key.startsWith(CONTEXT_PREFIX) && !known.has(key)) {
      problems.push(`${key}: unknown key; the keys are ${[...known].join(', ')}`);
    }
  }
  const raw = (key: ContextKey): unknown => {
    const value = context[CONTEXT_PREFIX + key];
    return value === '' ? undefined : value;
  };
  const bad = (key: ContextKey, value: unknown, allowed: string): undefined => {
    problems.push(`${CONTEXT_PREFIX}${key}: ${show(value)} is not valid: ${allowed}`);
    return undefined;
  };
  const missing = (key: ContextKey, why: string): undefined => {
    problems.push(`${CONTEXT_PREFIX}${key}: missing: ${why}`);
    return undefined;
  };
  const str = (key: ContextKey, pattern: RegExp, allowed: string): string | undefined => {
    const value = raw(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !pattern.test(value)) return bad(key, value, allowed);
    return value;
  };
  const list = (key: ContextKey, pattern: RegExp, allowed: string): string[] | undefined => {
    const value = raw(key);
    if (value === undefined || value === null) return undefined;
    const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
    if (!Array.isArray(items)) return bad(key, value, `a list (or comma-separated string) of ${allowed}`);
    const wrong = items.filter((item) => typeof item !== 'string' || !pattern.test(item));
    if (wrong.length > 0) return bad(key, wrong.length === 1 ? wrong[0] : wrong, allowed);
    return items as string[];
  };
  const num = (key: ContextKey, fallback: number, ok: (n: number) => boolean, allowed: string): number => {
    const value = raw(key);
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n) || !ok(n)) return bad(key, value, allowed) ?? fallback;
    return n;
  };
  const bool = (key: ContextKey): boolean | undefined => {
    const value = raw(key);
    if (value === undefined || value === null) return undefined;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    return bad(key, value, 'true or false');
  };

  const stackName = str('stackName', STACK_NAME, 'a CloudFormation stack name (letter first, letters, digits, -)') ?? 'SafeReindex';

  const serviceRaw = raw('targetService') ?? 'aos';
  const targetService: TargetService =
    serviceRaw === 'aos' || serviceRaw === 'self-managed' ? serviceRaw : (bad('targetService', serviceRaw, '"aos" or "self-managed"'), 'aos');

  const endpointRaw = raw('targetDomainEndpoint');
  let targetDomainEndpoint = '';
  if (endpointRaw === undefined || endpointRaw === null) {
    missing('targetDomainEndpoint', 'the https URL of the target OpenSearch endpoint');
  } else {
    let url: URL | undefined;
    try {
      url = typeof endpointRaw === 'string' ? new URL(endpointRaw) : undefined;
    } catch {
      url = undefined;
    }
    // A self-managed cluster may serve plain HTTP inside its network; an Amazon OpenSearch Service domain never does.
    const protocols = targetService === 'self-managed' ? ['https:', 'http:'] : ['https:'];
    if (!url || !protocols.includes(url.protocol) || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
      bad(
        'targetDomainEndpoint',
        endpointRaw,
        targetService === 'self-managed'
          ? 'an https (or, for a self-managed cluster, http) URL without path, credentials or query, e.g. https://opensearch.internal:9200'
          : 'an https URL without path, credentials or query, e.g. https://vpc-calls-abc123.eu-west-1.es.amazonaws.com',
      );
    } else {
      targetDomainEndpoint = `${url.protocol}//${url.host}`;
    }
  }

  const arnRaw = raw('targetDomainArn');
  let targetDomainArn: string | undefined;
  let arnParts: { region: string; account: string } | undefined;
  if (arnRaw === undefined || arnRaw === null) {
    if (targetService === 'aos') missing('targetDomainArn', 'arn:aws:es:<region>:<account>:domain/<name> of the target domain (IAM is scoped to it)');
  } else {
    const m = typeof arnRaw === 'string' ? DOMAIN_ARN.exec(arnRaw) : null;
    if (!m) {
      bad('targetDomainArn', arnRaw, 'arn:aws:es:<region>:<account>:domain/<name> (no trailing /*)');
    } else if (targetService === 'self-managed') {
      bad('targetDomainArn', arnRaw, 'not used with targetService "self-managed": remove it, or set targetService "aos"');
    } else {
      targetDomainArn = arnRaw as string;
      arnParts = { region: m[2]!, account: m[3]! };
    }
  }
  if (arnParts && targetDomainEndpoint) {
    const host = new URL(targetDomainEndpoint).host;
    if (host.endsWith('.es.amazonaws.com') && !host.endsWith(`.${arnParts.region}.es.amazonaws.com`)) {
      bad('targetDomainEndpoint', targetDomainEndpoint, `an endpoint in the domain ARN's region ${arnParts.region}`);
    }
  }

  const account = str('account', ACCOUNT, 'a 12-digit account id') ?? arnParts?.account;
  const region = str('region', REGION, 'a region such as eu-west-1') ?? arnParts?.region;
  if (arnParts && region && region !== arnParts.region) {
    bad('region', region, `the target domain's region ${arnParts.region} (the functions sign SigV4 for their own region)`);
  }
  if ((account === undefined) !== (region === undefined)) {
    problems.push(`${CONTEXT_PREFIX}account and ${CONTEXT_PREFIX}region: give both or neither`);
  }

  const remoteExternalRaw = bool('remoteExternal');
  if (remoteExternalRaw === true && targetService !== 'aos') {
    bad('remoteExternal', true, 'false with targetService "self-managed" (only Amazon OpenSearch Service knows source.remote.external)');
  }
  const remoteExternal = remoteExternalRaw ?? targetService === 'aos';

  const vpcId = str('vpcId', VPC_ID, 'a VPC id such as vpc-0123456789abcdef0');
  const subnetIds = list('subnetIds', SUBNET_ID, 'subnet ids such as subnet-0123456789abcdef0');
  const securityGroupId = str('securityGroupId', SG_ID, 'a security group id such as sg-0123456789abcdef0');
  let vpc: LambdaVpcConfig | undefined;
  const vpcGiven = [raw('vpcId'), raw('subnetIds'), raw('securityGroupId')].filter((v) => v !== undefined && v !== null).length;
  if (vpcGiven > 0 && vpcGiven < 3) {
    problems.push(`${CONTEXT_PREFIX}vpcId, ${CONTEXT_PREFIX}subnetIds and ${CONTEXT_PREFIX}securityGroupId: give all three (Lambdas in a VPC) or none`);
  } else if (vpcId && subnetIds && securityGroupId) {
    if (subnetIds.length === 0) bad('subnetIds', subnetIds, 'at least one subnet id');
    else vpc = { vpcId, subnetIds, securityGroupId };
  }

  const sourceSecretArns = list('sourceSecretArns', SECRET_ARN, 'Secrets Manager secret ARNs (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>)') ?? [];
  if (raw('sourceSecretArns') === undefined) {
    missing('sourceSecretArns', 'the secret ARNs runs may use as source credentials (an empty list [] if the source needs none)');
  }

  const alarmTopicArn = str('alarmTopicArn', TOPIC_ARN, 'an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)');
  const alarmEmail = str('alarmEmail', EMAIL, 'an e-mail address');
  if (alarmTopicArn && alarmEmail) {
    problems.push(`${CONTEXT_PREFIX}alarmTopicArn and ${CONTEXT_PREFIX}alarmEmail: give one of them, not both (subscribe the address to the existing topic yourself)`);
  }

  const parityDriftTolerance = num('parityDriftTolerance', 0.0002, (n) => n >= 0 && n < 0.5, 'a fraction from 0 to 0.5, e.g. 0.0002');
  const maxTasksPerDomain = num('maxTasksPerDomain', 4, (n) => Number.isInteger(n) && n >= 1 && n <= 32, 'a whole number from 1 to 32');
  const logRetentionDays = num('logRetentionDays', 365, (n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), `one of ${LOG_RETENTION_DAYS.join(', ')}`);

  const expression = str('scheduleExpression', SCHEDULE, 'an EventBridge Scheduler expression: cron(<6 fields>), rate(<n> <unit>) or at(yyyy-mm-ddThh:mm:ss); null for no schedule');
  let schedule: MonthlyScheduleConfig | undefined;
  const inputRaw = raw('monthlyBackfillInput');
  let input: Record<string, unknown> | undefined;
  if (inputRaw !== undefined && inputRaw !== null) {
    let parsed: unknown = inputRaw;
    if (typeof inputRaw === 'string') {
      try {
        parsed = JSON.parse(inputRaw);
      } catch {
        parsed = undefined;
      }
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) bad('monthlyBackfillInput', inputRaw, 'a JSON object (the MonthlyBackfill execution input)');
    else input = parsed as Record<string, unknown>;
  }
  if (expression) {
    if (input) schedule = { expression, input };
    else if (inputRaw === undefined || inputRaw === null) missing('monthlyBackfillInput', `the MonthlyBackfill input that ${CONTEXT_PREFIX}scheduleExpression starts it with`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    stackName,
    ...(account && region ? { env: { account, region } } : {}),
    targetService,
    targetDomainEndpoint,
    ...(targetDomainArn ? { targetDomainArn } : {}),
    remoteExternal,
    ...(vpc ? { vpc } : {}),
    sourceSecretArns,
    ...(alarmTopicArn ? { alarmTopicArn } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    parityDriftTolerance,
    ...(schedule ? { schedule } : {}),
    maxTasksPerDomain,
    logRetentionDays,
  };
}
