// A namespace import lets esbuild drop what the schemas do not use (zod's other locales: some 360 KB of each bundle).
import * as z from 'zod';
import { InvalidInputError } from './errors';

/**
 * The execution input an operator pastes in the console (docs/design.md, "Execution input"). Unknown fields
 * are refused, except one that Step Functions defines: `AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID`, the
 * execution ARN of a parent that started this run (MonthlyBackfill's `startExecution.sync:2` passes
 * `$$.Execution.Id`), which links the two executions in the console. It is checked to be an execution
 * ARN, kept on the run record, and is no part of the canonical request or the fingerprint: a run started
 * by hand and the same run started by a backfill send the same request and share one approval.
 */

export const MODES = ['merge', 'create-only', 'overwrite'] as const;
export type Mode = (typeof MODES)[number];

export const PARITY_MODES = ['full', 'sample'] as const;
export type ParityMode = (typeof PARITY_MODES)[number];

const RUN_ID = /^[a-z0-9][a-z0-9._-]{0,79}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const FIELD_NAME = /^[A-Za-z0-9_@][A-Za-z0-9_.@-]*$/;
/** A Step Functions execution ARN (standard `execution:`, or `express:` with its run id). */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:(execution|express):[^:\s]+:[^:\s]+(:[^:\s]+)?$/;

/**
 * Why a name cannot be one concrete index, or undefined when it can. The target (and the source,
 * whose counts and samples must mean one index) must name exactly one index: no wildcard, `_all`,
 * comma list or date math, lower case only (OpenSearch refuses upper case in index names).
 */
export function indexNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name === '_all') return 'must name one index, not _all';
  if (/[*?]/.test(name)) return 'must name one index: wildcards (* ?) are refused';
  if (name.includes(',')) return 'must name one index: comma lists are refused';
  if (name.startsWith('<') || /[{}]/.test(name)) return 'must name one index: date math is refused';
  if (name !== name.toLowerCase()) return 'must be lower case';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/^[-_+]/.test(name)) return 'must not start with -, _ or +';
  if (/[\\/"<>| #:]/.test(name)) return 'must not contain \\ / " < > | space # or :';
  if (Buffer.byteLength(name) > 255) return 'must be at most 255 bytes';
  return undefined;
}

/**
 * `checks` (a metadata key of ours, beside `description`) says in words what a refinement refuses:
 * JSON Schema, and so docs/execution-input.md, cannot see a refinement.
 */
const indexName = z
  .string()
  .superRefine((name, ctx) => {
    const problem = indexNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    checks:
      'one concrete index: not empty, no wildcard (`*` `?`), `_all`, comma list or date math; lower case; ' +
      'not `.` or `..`; not starting with `-` `_` `+`; none of `\\` `/` `"` `<` `>` `|` space `#` `:`; at most 255 bytes',
  });

const sourceUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL such as https://es7.internal:9200' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must use http or https, not ${url.protocol.replace(':', '')}` });
  }
  if (url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'must not carry credentials: name a secret in source.credentialsSecret' });
  }
  if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'must not carry a query string or fragment' });
}).meta({ checks: 'an `http` or `https` URL without credentials, query string or fragment' });

/** A day: the worked example's month takes five hours as one task; a longer task extends it as it runs. */
export const DEFAULT_TOMBSTONE_RETENTION = '24h';

export const ExecutionInputSchema = z.strictObject({
  runId: z
    .string()
    .regex(RUN_ID, 'must match ^[a-z0-9][a-z0-9._-]{0,79}$ (lower case, digits, . _ -)')
    .describe(
      'Names the run: its ledger record, its receipts and its reindex tasks (`X-Opaque-Id: <run id>/<hash>`). ' +
        'Not part of the fingerprint, so a dry run and the live run it approves each have their own. Best also the execution name.',
    ),
  source: z
    .strictObject({
      url: sourceUrl.describe('The source cluster as the target reaches it for remote reindex (`source.remote.host` of the request, trailing slashes dropped).'),
      index: indexName.describe('The source index: exactly one, so that its counts and samples mean one index.'),
      credentialsSecret: z
        .string()
        .regex(SECRET_ARN, 'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)')
        .nullable()
        .default(null)
        .describe(
          'The Secrets Manager secret holding the source credentials, JSON `{"username": "...", "password": "..."}`; only this reference ' +
            'reaches the header, the ledger, logs and execution history. `null`: on AWS the source is reached without credentials; ' +
            'locally with `SAFE_REINDEX_SOURCE_USERNAME` / `SAFE_REINDEX_SOURCE_PASSWORD` when both are set.',
        ),
      query: z
        .record(z.string(), z.unknown())
        .refine((q) => Object.keys(q).length === 1, 'must be one query clause such as {"range": {...}}, or null')
        .meta({ checks: 'exactly one query clause (one key)' })
        .nullable()
        .default(null)
        .describe(
          'One query clause, such as `{"range": {...}}`, that limits the run to part of the index: the reindex\'s `source.query`, ' +
            'kept inside every partition\'s filter, and the scope of parity and verification on both clusters. `null`: every document.',
        ),
    })
    .describe('The Elasticsearch 7 cluster and the one index to copy from.'),
  target: z
    .strictObject({ index: indexName.describe('The target index: exactly one.') })
    .describe('The OpenSearch index to write into. The target endpoint is not part of the input: it is fixed at deploy time (IAM scope), a flag locally.'),
  mode: z
    .enum(MODES)
    .default('merge')
    .describe(
      'How the reindex writes. `merge`: `version_type: external`, `conflicts: proceed`, so a source document wins only where its version ' +
        'is strictly greater. `create-only`: `op_type: create`, `conflicts: proceed`, never touching an existing target document. ' +
        '`overwrite`: internal versioning, only on an empty target (else `TargetNotEmpty`).',
    ),
  dryRun: z
    .boolean()
    .default(true)
    .describe(
      '`true`: pre-flight, header and approval; nothing is launched (the default, so a forgotten flag never launches anything). ' +
        '`false`: the live run, which launches only under an approval of the same fingerprint younger than `guards.dryRunMaxAgeHours` ' +
        '(else `DryRunRequired`). Not part of the fingerprint.',
    ),
  dateField: z
    .string()
    .regex(FIELD_NAME, 'must be a field name such as timestamp')
    .nullable()
    .default(null)
    .describe(
      'The documents\' date field: the per-day (UTC) histograms of the header and of parity, the ranges of full verification and of ' +
        'partitions. `null`: no histogram, and verification reads one range of everything.',
    ),
  batchSize: z
    .union([z.number().int('must be a whole number').min(1).max(10_000), z.literal('auto')], {
      error: 'must be a whole number from 1 to 10,000, or "auto"',
    })
    .default(1000)
    .describe(
      'Documents per scroll batch of the remote reindex (`source.size` of the request). `"auto"`: the dry run measures 100 sampled ' +
        'source documents and picks the size whose batches carry about 16 MiB, within a quarter of the target\'s 100 MiB buffer for a ' +
        'remote response, half of its indexing-pressure limit shared by the run\'s concurrent tasks, and 10,000; the header shows the ' +
        'figure and why, the approval holds it (the fingerprint covers it), and the live run sends exactly it.',
    ),
  requestsPerSecond: z
    .number()
    .positive('must be positive, or null for unthrottled')
    .nullable()
    .default(null)
    .describe('Throttle of each reindex task (`requests_per_second`). `null`: unthrottled.'),
  parity: z
    .strictObject({
      mode: z
        .enum(PARITY_MODES)
        .default('full')
        .describe(
          '`full`: every document of the run\'s scope compared by id and version on both clusters, both ways. `sample`: counts, days and ' +
            '`parity.sampleSize` ids looked up each way. `sample` is part of the fingerprint: ' +
            'a sample-mode live run needs a sample-mode dry run.',
        ),
      countTolerance: z
        .number()
        .min(0)
        .max(0.5)
        .default(0.0002)
        .describe(
          'Relative difference allowed, as a fraction (0.0002 = 0.02%): between source and target counts (the index and each day) in ' +
            'parity, and between a task\'s `total` and the source baseline (a partition\'s expected count) when it is checked and reconciled.',
        ),
      sampleSize: z
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(65)
        .describe(
          'Target documents the pre-flight samples to check the versioning contract and, with `probe: "sample"`, to predict the ' +
            'counters (0: neither); with `parity.mode: "sample"`, the ids looked up each way.',
        ),
      concurrency: z
        .number()
        .int('must be a whole number')
        .min(1)
        .max(16)
        .default(4)
        .describe('Full verification: ranges verified at once (each reads both clusters a page at a time).'),
    })
    .default({ mode: 'full', countTolerance: 0.0002, sampleSize: 65, concurrency: 4 })
    .describe('The check after the reindex, and the whole of a `verifyOnly` run.'),
  verifyOnly: z
    .boolean()
    .default(false)
    .describe(
      'Verify the index pair without a reindex: full verification (or the sample) of what is there now. It writes nothing to either ' +
        'cluster, so it takes no lock and needs no dry run.',
    ),
  probe: z
    .enum(['sample', 'full'])
    .default('sample')
    .describe(
      'The dry run\'s prediction: `sample` extrapolates `parity.sampleSize` target documents with a 95% interval; `full` compares ' +
        'every document of the scope on both clusters, as full verification does, and predicts exactly as of the dry run. ' +
        'A live run does not probe in full. Not part of the fingerprint.',
    ),
  guards: z
    .strictObject({
      dryRunMaxAgeHours: z
        .number()
        .positive()
        .max(720)
        .default(24)
        .describe('A live run launches only under an approval younger than this many hours (else `DryRunRequired`).'),
      stallMinutes: z
        .number()
        .int()
        .min(1)
        .max(1440)
        .default(15)
        .describe('No counter change on a task for this long is a stall, reported once per stall (the `Stalled` metric). It also caps the wait between two polls.'),
      allowBrokenVersioning: z
        .boolean()
        .default(false)
        .describe(
          'Run even when the sampled target documents carry versions far below the source\'s for the same ids (internal versioning on ' +
            'the dual-write path), which otherwise fails `VersioningContractBroken`: the source then wins.',
        ),
      tombstoneRetention: z
        .string()
        .regex(/^\d+(m|h|d)$/, 'must be a duration in minutes, hours or days, such as "24h"')
        .refine((v) => { const ms = durationMs(v) ?? 0; return ms >= 60_000 && ms <= 30 * 86_400_000; }, 'must be from 1m to 30d')
        .meta({ checks: 'from `1m` to `30d`' })
        .default(DEFAULT_TOMBSTONE_RETENTION)
        .describe(
          'How long the target keeps delete tombstones during a live run (`index.gc_deletes`, raised only when shorter, restored when ' +
            'the run ends; a task running longer than half of it extends it).',
        ),
      acceptResurrectedDeletes: z
        .boolean()
        .default(false)
        .describe(
          'Run even where the target refuses to raise `index.gc_deletes` (else `TombstoneRetentionUnavailable`): deletes made during ' +
            'the run may come back, and parity is the backstop.',
        ),
    })
    .default({
      dryRunMaxAgeHours: 24,
      stallMinutes: 15,
      allowBrokenVersioning: false,
      tombstoneRetention: DEFAULT_TOMBSTONE_RETENTION,
      acceptResurrectedDeletes: false,
    })
    .describe('The rails\' limits and the risks a run may be told to accept.'),
  partitions: z
    .union([z.number().int('must be a whole number').min(1).max(32, 'must be at most 32'), z.literal('auto')], {
      error: 'must be a whole number from 1 to 32, or "auto"',
    })
    .optional()
    .describe(
      'Absent or `1`: one remote reindex task. A number: that many `dateField` ranges `[start, end)` of about equal counts, plus one ' +
        'partition for the documents without the field, each its own task. `"auto"`: ranges of about 2,000,000 documents planned from ' +
        'the source\'s daily histogram (one task when the index fits one, or without a `dateField`). The plan is part of the fingerprint.',
    ),
  maxConcurrency: z
    .number()
    .int('must be a whole number')
    .min(1)
    .max(256)
    .optional()
    .describe('Partitioned runs: most partition tasks of this run at once, at most the deployment\'s `maxTasksPerDomain`. Absent: 1.'),
  approvedFingerprint: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be the 64-hex-digit fingerprint a dry run printed')
    .optional()
    .describe(
      'Live runs: the fingerprint the dry run printed (and a person read). The run launches only if the approval still holds exactly ' +
        'that, so a later dry run that re-planned the partitions is not launched unread. Not part of the canonical request.',
    ),
  AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: z
    .string()
    .regex(EXECUTION_ARN, 'must be the execution ARN of the parent execution (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)')
    .optional()
    .describe(
      'Set by a parent execution that starts this run (MonthlyBackfill), not by an operator: its execution ARN, which links the two ' +
        'executions in the Step Functions console. Kept on the run record; not part of the canonical request or the fingerprint.',
    ),
});

export type RunConfig = z.output<typeof ExecutionInputSchema>;

/** Where the run writes: fixed at deploy time on AWS (IAM scope), a flag locally. */
export interface TargetContext {
  /** Target domain endpoint, e.g. https://search-calls.eu-west-1.es.amazonaws.com */
  readonly endpoint: string;
  /** The deployment's cap on reindex tasks writing into the target domain at once (MAX_TASKS_PER_DOMAIN). */
  readonly maxTasksPerDomain?: number;
}

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return [...path, issue.keys[0]].join('.');
  }
  return path.length ? path.join('.') : '(input)';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], input);
}

function messageOf(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'unrecognized_keys') return 'is not a known field';
  if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) return 'is required';
  return issue.message;
}

/** Parses and normalises an execution input; throws InvalidInputError naming the first bad field. */
export function parseRunConfig(input: unknown, target: TargetContext): RunConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInputError('the execution input must be a JSON object', '(input)');
  }
  const parsed = ExecutionInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = fieldOf(issue);
    throw new InvalidInputError(`${field} ${messageOf(issue, input)}`, field);
  }
  const config = parsed.data;
  if (config.verifyOnly) {
    const raw = input as Record<string, unknown>;
    for (const field of ['dryRun', 'approvedFingerprint', 'partitions', 'maxConcurrency'] as const) {
      if (raw[field] !== undefined) {
        throw new InvalidInputError(`${field} is for a reindex: a verifyOnly run reads both clusters and writes nothing`, field);
      }
    }
  }
  if (sameCluster(config.source.url, target.endpoint) && config.source.index === config.target.index) {
    throw new InvalidInputError(
      `target.index "${config.target.index}" is the source index on the same cluster: a reindex into itself`,
      'target.index',
    );
  }
  if (config.maxConcurrency !== undefined && config.maxConcurrency > 1 && !isPartitioned(config)) {
    throw new InvalidInputError('maxConcurrency needs partitions (a number above 1, or "auto")', 'maxConcurrency');
  }
  if (config.approvedFingerprint !== undefined && config.dryRun) {
    throw new InvalidInputError('approvedFingerprint is for a live run (dryRun false): it names the dry run it launches', 'approvedFingerprint');
  }
  if (config.partitions !== undefined && config.partitions !== 1 && config.dateField === null && config.partitions !== 'auto') {
    throw new InvalidInputError(`partitions ${config.partitions} needs a dateField to split on`, 'partitions');
  }
  if (target.maxTasksPerDomain !== undefined && (config.maxConcurrency ?? 1) > target.maxTasksPerDomain) {
    throw new InvalidInputError(
      `maxConcurrency ${config.maxConcurrency} is more than maxTasksPerDomain ${target.maxTasksPerDomain} (the deployment's cap on reindex tasks writing into one domain)`,
      'maxConcurrency',
    );
  }
  return config;
}

/** A partitioned run: `partitions` given and not 1 (absent or 1 is today's single task, fingerprint unchanged). */
export function isPartitioned(config: Pick<RunConfig, 'partitions'>): boolean {
  return config.partitions !== undefined && config.partitions !== 1;
}

export function sameCluster(a: string, b: string): boolean {
  const key = (u: string) => {
    const url = new URL(u);
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.toLowerCase();
    return `${host}:${port}`;
  };
  return key(a) === key(b);
}

/** Server time values (`60s`, `24h`, `500ms`), as index settings spell them. */

const UNITS: Record<string, number> = { nanos: 1e-6, micros: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a server time value (`60s`, `24h`, `500ms`; a bare number is milliseconds); undefined when unreadable or negative. */
export function durationMs(value: string): number | undefined {
  const match = /^(-?\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  if (n < 0) return undefined;
  return n * (UNITS[match[2] ?? 'ms'] ?? 1);
}
