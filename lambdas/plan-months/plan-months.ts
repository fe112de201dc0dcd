import { createHash } from 'node:crypto';
import { ExecutionInputSchema, indexNameProblem } from '../shared/runtime/config';
import { InvalidInputError } from '../shared/runtime/errors';
import type { JsonObject, Ledger } from '../shared/ledger/ledger';

/**
 * MonthlyBackfill's planner (docs/design.md, "MonthlyBackfill"): from the execution input and the
 * execution's start time, the monthly indices due, in order, each with the complete ReindexRun inputs
 * of its dry run and its live run; months whose target already has a SUCCEEDED live run are skipped.
 *
 * The PlanMonths Lambda runs in two modes (statemachines/monthly-backfill.asl.json):
 * - the plan (no `month`): every month is built and checked, but only the months' names, indices and
 *   run ids are returned, never their ReindexRun inputs;
 * - one month (`month: "2026-05"`, with `$$.Execution.Input`): that month's complete inputs, built per
 *   turn of the month loop.
 * Step Functions fails an execution whose state input or output (or a task result) exceeds 256 KiB with
 * `States.DataLimitExceeded`, which no Catch matches. A plan carrying every month's two inputs grows
 * with months × `run`: 60 months of a 2.4 KB `run` (a `source.query` with a terms list) is ~316 KB,
 * and the backfill died at PlanMonths without even `PlanFailed`. Built per month, what a state carries
 * is bounded by {@link MAX_MONTHS} names plus one month's inputs, whatever the range; and `run` itself
 * is bounded by {@link MAX_RUN_BYTES} (refused as InvalidInput naming the field, before anything
 * starts), so no state of the backfill can reach the quota.
 *
 * Input (what an operator pastes, or what the schedule sends):
 *
 * ```json
 * { "indexTemplate": "calls-{yyyy}-{MM}",
 *   "months": { "from": "2025-05", "to": "2026-05" },        // or "previous"
 *   "run": { "source": { "url": "https://es7.internal:9200" }, "dateField": "timestamp" },
 *   "approval": "manual" }                                     // or "auto"
 * ```
 *
 * - Months are UTC calendar months; `"previous"` is the month before the execution's start time.
 * - The template tokens are `{yyyy}`, `{yy}` and `{MM}`; a template must name the month exactly
 *   (`{MM}` and a year), else two months would share an index.
 * - `run` is a ReindexRun input without `runId` and `dryRun` (the backfill sets them, one pair per
 *   month). `run.source.index` / `run.target.index` are left out (the template gives both), or are
 *   templates themselves (a target named differently from its source); a fixed index name is refused,
 *   since every month would read or write that one index.
 * - Run ids are derived from the index, the phase and the execution name, so a retried plan names the
 *   same runs: `<index>-dry-<execution name>` / `<index>-live-<execution name>`, hashed when that does
 *   not fit `^[a-z0-9][a-z0-9._-]{0,79}$`.
 *
 * Pure: no AWS or HTTP. Bad input throws {@link InvalidInputError} naming the field.
 */

export const MONTH_TOKENS = ['{yyyy}', '{yy}', '{MM}'] as const;
/** At most this many months per execution (five years): the plan travels in the execution's state. */
export const MAX_MONTHS = 60;
/**
 * At most this many bytes of JSON in `run`. The largest MonthlyBackfill state is a failed month's: the
 * execution input (`run` once), the current month's dry and live inputs (`run` twice), and the failed
 * child's DescribeExecution cause (its input again, as an escaped string, plus the child's cause, which
 * Step Functions caps at 32,768 characters), beside the plan (at most 60 names and skipped months).
 * With `run` at 32 KiB that is about 200 KB of the 256 KiB quota, with room for escaping; a query
 * larger than this belongs in a narrower query (a range rather than a long terms list).
 */
export const MAX_RUN_BYTES = 32 * 1024;
/** What Step Functions allows a state's input or output (or a task result). */
export const STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024;
const RUN_ID = /^[a-z0-9][a-z0-9._-]{0,79}$/;
const MONTH = /^(\d{4})-(\d{2})$/;
const TOP_LEVEL_FIELDS = ['indexTemplate', 'months', 'run', 'approval'] as const;

export type ApprovalMode = 'auto' | 'manual';

export interface MonthlyBackfillInput {
  readonly indexTemplate: string;
  readonly months: { readonly from: string; readonly to: string } | 'previous';
  readonly run: JsonObject;
  readonly approval: ApprovalMode;
}

export interface PlannedRunRef {
  readonly runId: string;
  /** The ReindexRun execution name (the run id: unique per state machine, valid as a name). */
  readonly executionName: string;
}

export interface PlannedRun extends PlannedRunRef {
  /** The complete ReindexRun input. */
  readonly input: JsonObject;
}

/** A month of the plan without its ReindexRun inputs (what the plan returns: bounded, whatever `run` is). */
export interface MonthRef {
  /** `yyyy-MM` (UTC). */
  readonly month: string;
  readonly sourceIndex: string;
  readonly targetIndex: string;
  readonly dry: PlannedRunRef;
  readonly live: PlannedRunRef;
}

/** A month with the complete ReindexRun inputs of its dry run and its live run. */
export interface PlannedMonth extends MonthRef {
  readonly dry: PlannedRun;
  readonly live: PlannedRun;
}

export interface SkippedMonth {
  readonly month: string;
  readonly targetIndex: string;
  readonly reason: 'completed';
}

/**
 * The plan. {@link planMonths} gives every month with its inputs (`MonthPlan<PlannedMonth>`); the
 * PlanMonths state gives the months without inputs, or one month with them (see {@link planMonthsState}).
 */
export interface MonthPlan<M extends MonthRef = MonthRef> {
  readonly indexTemplate: string;
  readonly approval: ApprovalMode;
  /** The range asked for, resolved (`"previous"` becomes one month). */
  readonly from: string;
  readonly to: string;
  /** Months to run, oldest first. */
  readonly months: readonly M[];
  readonly count: number;
  /** The months to run, by name, in order. */
  readonly names: readonly string[];
  readonly skipped: readonly SkippedMonth[];
}

interface YearMonth {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
}

const fail = (field: string, message: string): never => {
  throw new InvalidInputError(`${field} ${message}`, field);
};

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function formatMonth({ year, month }: YearMonth): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

function parseMonth(value: unknown, field: string): YearMonth {
  if (typeof value !== 'string') return fail(field, 'must be a month such as "2026-05" (yyyy-MM, UTC)');
  const match = MONTH.exec(value);
  const month = match ? Number(match[2]) : 0;
  if (!match || month < 1 || month > 12) return fail(field, `must be a month such as "2026-05" (yyyy-MM, UTC), not "${value}"`);
  return { year: Number(match[1]), month };
}

const ordinal = ({ year, month }: YearMonth): number => year * 12 + (month - 1);
const fromOrdinal = (n: number): YearMonth => ({ year: Math.floor(n / 12), month: (n % 12) + 1 });

/** The UTC month of an instant. */
export function monthOf(now: Date): YearMonth {
  return { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1 };
}

/** The UTC month before the one `now` falls in (`"previous"`). */
export function previousMonth(now: Date): string {
  return formatMonth(fromOrdinal(ordinal(monthOf(now)) - 1));
}

/**
 * Checks an index-name template: only the known tokens, and the month named exactly. Returns the
 * problem (a sentence to follow the field name), or undefined.
 */
export function templateProblem(template: string): string | undefined {
  if (template.length === 0) return 'must not be empty';
  for (const token of template.match(/\{[^}]*\}?/g) ?? []) {
    if (!(MONTH_TOKENS as readonly string[]).includes(token)) {
      return `has an unknown token ${token}: the tokens are ${MONTH_TOKENS.join(', ')}`;
    }
  }
  if (!template.includes('{MM}') || !(template.includes('{yyyy}') || template.includes('{yy}'))) {
    return 'must contain {MM} and {yyyy} (or {yy}): otherwise several months would share one index';
  }
  return undefined;
}

/** The index name of a month: `{yyyy}` → 2026, `{yy}` → 26, `{MM}` → 05 (UTC). */
export function renderTemplate(template: string, month: string): string {
  const { year, month: m } = parseMonth(month, 'month');
  return template
    .replaceAll('{yyyy}', String(year).padStart(4, '0'))
    .replaceAll('{yy}', String(year % 100).padStart(2, '0'))
    .replaceAll('{MM}', String(m).padStart(2, '0'));
}

function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * A run id derived from the index, the phase and the execution name (the same inputs give the same id,
 * so a retried step names the same run): `<index>-<phase>-<execution name>`, lower-cased and with
 * characters outside `[a-z0-9._-]` replaced (then a short hash of the name keeps distinct names
 * distinct); when that exceeds 80 characters, `<index, shortened>-<phase>-<hash>`.
 */
export function runIdFor(index: string, phase: 'dry' | 'live', executionName: string): string {
  const head = index.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'index';
  const lowered = executionName.toLowerCase();
  let suffix = lowered.replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  if (suffix !== executionName) suffix = [suffix, shortHash(executionName, 6)].filter(Boolean).join('-');
  const readable = `${head}-${phase}-${suffix}`;
  if (RUN_ID.test(readable)) return readable;
  const hash = shortHash(`${index}\n${phase}\n${executionName}`, 12);
  const room = 80 - phase.length - hash.length - 2;
  const id = `${head.slice(0, room).replace(/[-._]+$/, '')}-${phase}-${hash}`;
  if (!RUN_ID.test(id)) throw new Error(`could not derive a run id from index ${index}`);
  return id;
}

/** Where a month's source or target index name comes from: a template (rendered per month). */
function indexTemplateFor(run: JsonObject, side: 'source' | 'target', indexTemplate: string): string {
  const holder = run[side];
  const value = isObject(holder) ? holder['index'] : undefined;
  if (value === undefined) return indexTemplate;
  const field = `run.${side}.index`;
  if (typeof value !== 'string') return fail(field, 'must be an index-name template such as "calls-{yyyy}-{MM}", or left out');
  if (!/\{[^}]*\}/.test(value)) {
    return fail(
      field,
      `is a fixed index name ("${value}"): every month would use that one index. Leave it out (indexTemplate gives it) or make it a template such as "${value}-{yyyy}-{MM}"`,
    );
  }
  const problem = templateProblem(value);
  if (problem) return fail(field, problem);
  return value;
}

/** Validates the execution input; throws InvalidInputError naming the first bad field. */
export function parseBackfillInput(input: unknown): MonthlyBackfillInput {
  if (!isObject(input)) return fail('(input)', 'must be a JSON object');
  for (const key of Object.keys(input)) {
    if (!(TOP_LEVEL_FIELDS as readonly string[]).includes(key)) fail(key, 'is not a known field (indexTemplate, months, run, approval)');
  }
  const { indexTemplate, months, run, approval } = input;
  if (indexTemplate === undefined) fail('indexTemplate', 'is required, e.g. "calls-{yyyy}-{MM}"');
  if (typeof indexTemplate !== 'string') return fail('indexTemplate', 'must be a string such as "calls-{yyyy}-{MM}"');
  const problem = templateProblem(indexTemplate);
  if (problem) fail('indexTemplate', problem);

  if (months === undefined) fail('months', 'is required: { "from": "2025-05", "to": "2026-05" } or "previous"');
  let range: MonthlyBackfillInput['months'];
  if (months === 'previous') {
    range = 'previous';
  } else if (isObject(months)) {
    for (const key of Object.keys(months)) if (key !== 'from' && key !== 'to') fail(`months.${key}`, 'is not a known field (from, to)');
    if (months['from'] === undefined) fail('months.from', 'is required');
    if (months['to'] === undefined) fail('months.to', 'is required');
    const from = parseMonth(months['from'], 'months.from');
    const to = parseMonth(months['to'], 'months.to');
    if (ordinal(to) < ordinal(from)) fail('months.to', `(${formatMonth(to)}) is before months.from (${formatMonth(from)})`);
    if (ordinal(to) - ordinal(from) + 1 > MAX_MONTHS) {
      fail('months', `spans ${ordinal(to) - ordinal(from) + 1} months; at most ${MAX_MONTHS} per execution: split the range`);
    }
    range = { from: formatMonth(from), to: formatMonth(to) };
  } else {
    return fail('months', 'must be { "from": "yyyy-MM", "to": "yyyy-MM" } or "previous"');
  }

  if (run === undefined) fail('run', 'is required: the ReindexRun input (source.url, mode, dateField, ...) without runId and dryRun');
  if (!isObject(run)) return fail('run', 'must be a JSON object: the ReindexRun input without runId and dryRun');
  if ('runId' in run) fail('run.runId', 'is set by the backfill (one run id per month and phase): leave it out');
  if ('dryRun' in run) fail('run.dryRun', 'is set by the backfill (a dry run, then the live run): leave it out');
  if (STARTED_BY in run) fail(`run.${STARTED_BY}`, 'is set by the backfill (each ReindexRun is linked to the backfill execution): leave it out');
  const runBytes = jsonBytes(run);
  if (runBytes > MAX_RUN_BYTES) {
    const field = largestField(run, 'run');
    fail(
      field,
      `${field === 'run' ? 'is' : `makes run`} ${kib(runBytes)} KiB of JSON; at most ${kib(MAX_RUN_BYTES)} KiB: every month's ReindexRun inputs ` +
        `travel through the backfill's states, which Step Functions limits to ${kib(STATE_PAYLOAD_LIMIT_BYTES)} KiB each. ` +
        'Narrow it (a date range rather than a long terms list, for instance)',
    );
  }
  for (const side of ['source', 'target'] as const) {
    if (run[side] !== undefined && !isObject(run[side])) fail(`run.${side}`, 'must be a JSON object');
  }

  if (approval === undefined) fail('approval', 'is required: "auto" or "manual"');
  if (approval !== 'auto' && approval !== 'manual') return fail('approval', `must be "auto" or "manual", not ${JSON.stringify(approval)}`);

  return { indexTemplate, months: range, run, approval };
}

/** The field each ReindexRun input gets from the backfill, linking it to its parent in the console. */
const STARTED_BY = 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID';

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1).replace(/\.0$/, '');
}

/** The field that makes `value` large: down from `path` while one member holds most of it (at most `run.a.b`). */
function largestField(value: JsonObject, path: string): string {
  let current: unknown = value;
  let at = path;
  for (let depth = 0; depth < 2 && isObject(current); depth++) {
    const total = jsonBytes(current);
    const entries = Object.entries(current);
    if (entries.length === 0) break;
    const [key, child] = entries.reduce((a, b) => (jsonBytes(b[1]) > jsonBytes(a[1]) ? b : a));
    if (jsonBytes(child) * 2 < total) break;
    at = `${at}.${key}`;
    current = child;
  }
  return at;
}

/** The months the input asks for, oldest first (before skipping completed ones). */
export function monthsAsked(input: MonthlyBackfillInput, now: Date): string[] {
  if (input.months === 'previous') return [previousMonth(now)];
  const from = ordinal(parseMonth(input.months.from, 'months.from'));
  const to = ordinal(parseMonth(input.months.to, 'months.to'));
  const current = ordinal(monthOf(now));
  if (to > current) {
    fail('months.to', `(${input.months.to}) is after the current month (${formatMonth(monthOf(now))}, UTC): its index does not exist yet`);
  }
  const names: string[] = [];
  for (let n = from; n <= to; n++) names.push(formatMonth(fromOrdinal(n)));
  return names;
}

interface MonthIndices {
  readonly month: string;
  readonly sourceIndex: string;
  readonly targetIndex: string;
}

function indicesOf(input: MonthlyBackfillInput, now: Date): MonthIndices[] {
  const sourceTemplate = indexTemplateFor(input.run, 'source', input.indexTemplate);
  const targetTemplate = indexTemplateFor(input.run, 'target', input.indexTemplate);
  const sourceField = sourceTemplate === input.indexTemplate ? 'indexTemplate' : 'run.source.index';
  const targetField = targetTemplate === input.indexTemplate ? 'indexTemplate' : 'run.target.index';
  return monthsAsked(input, now).map((month) => {
    const sourceIndex = renderTemplate(sourceTemplate, month);
    const targetIndex = renderTemplate(targetTemplate, month);
    const sourceProblem = indexNameProblem(sourceIndex);
    if (sourceProblem) fail(sourceField, `gives "${sourceIndex}" for ${month}, which ${sourceProblem}`);
    const targetProblem = indexNameProblem(targetIndex);
    if (targetProblem) fail(targetField, `gives "${targetIndex}" for ${month}, which ${targetProblem}`);
    return { month, sourceIndex, targetIndex };
  });
}

/** The target indices the input asks for (to look up in the ledger before planning). */
export function targetIndicesAsked(input: unknown, now: Date): string[] {
  return indicesOf(parseBackfillInput(input), now).map((m) => m.targetIndex);
}

function childInput(run: JsonObject, indices: MonthIndices, runId: string, dryRun: boolean): JsonObject {
  const source = isObject(run['source']) ? run['source'] : {};
  const target = isObject(run['target']) ? run['target'] : {};
  return {
    ...run,
    runId,
    source: { ...source, index: indices.sourceIndex },
    target: { ...target, index: indices.targetIndex },
    dryRun,
  };
}

/** Checks a month's ReindexRun input against the ReindexRun schema, naming the field under `run.`. */
function checkRunInput(input: JsonObject): void {
  const parsed = ExecutionInputSchema.safeParse(input);
  if (parsed.success) return;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String);
  const field = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]].join('.') : path.join('.');
  const missing = issue.code === 'invalid_type' && path.reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), input) === undefined;
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : missing ? 'is required' : issue.message;
  fail(`run.${field}`, message);
}

/**
 * The plan: every month asked for, oldest first, minus those whose target index is in `completed`
 * (a SUCCEEDED live run in the ledger), each with its dry-run and live-run inputs.
 */
export function planMonths(
  input: unknown,
  now: Date,
  completed: ReadonlySet<string>,
  executionName = 'monthly-backfill',
): MonthPlan<PlannedMonth> {
  const parsed = parseBackfillInput(input);
  const all = indicesOf(parsed, now);
  const months: PlannedMonth[] = [];
  const skipped: SkippedMonth[] = [];
  for (const indices of all) {
    if (completed.has(indices.targetIndex)) {
      skipped.push({ month: indices.month, targetIndex: indices.targetIndex, reason: 'completed' });
      continue;
    }
    const dryId = runIdFor(indices.targetIndex, 'dry', executionName);
    const liveId = runIdFor(indices.targetIndex, 'live', executionName);
    const dry = childInput(parsed.run, indices, dryId, true);
    const live = childInput(parsed.run, indices, liveId, false);
    checkRunInput(dry);
    months.push({
      ...indices,
      dry: { runId: dryId, executionName: dryId, input: dry },
      live: { runId: liveId, executionName: liveId, input: live },
    });
  }
  const first = all[0]?.month ?? '';
  const last = all[all.length - 1]?.month ?? '';
  return {
    indexTemplate: parsed.indexTemplate,
    approval: parsed.approval,
    from: first,
    to: last,
    months,
    count: months.length,
    names: months.map((m) => m.month),
    skipped,
  };
}

/** True when the ledger shows a finished live run that SUCCEEDED for this target index. */
export async function isTargetCompleted(ledger: Pick<Ledger, 'runsByTarget'>, targetIndex: string): Promise<boolean> {
  const runs = await ledger.runsByTarget(targetIndex);
  return runs.some((run) => !run.dryRun && run.status === 'SUCCEEDED');
}

/** What the PlanMonths and PrepareMonth tasks send (see statemachines/monthly-backfill.asl.json). */
export interface PlanMonthsInvocation {
  /** The backfill's execution input (`$`, or `$$.Execution.Input` in the month loop). */
  readonly input: unknown;
  /** `$$.Execution.Name`: run ids derive from it. */
  readonly executionName?: string;
  /** `$$.Execution.StartTime` (ISO): "previous" and the current month are taken from it. */
  readonly startTime?: string;
  /** One month of the plan (`yyyy-MM`): return that month with its complete ReindexRun inputs. */
  readonly month?: string;
}

export interface PlanMonthsDeps {
  readonly ledger: Pick<Ledger, 'runsByTarget'>;
  /** Overrides the execution's start time (local runs and tests). */
  readonly now?: () => Date;
}

/** A month without its ReindexRun inputs. */
function refOf(month: PlannedMonth): MonthRef {
  const run = ({ runId, executionName }: PlannedRunRef): PlannedRunRef => ({ runId, executionName });
  return { month: month.month, sourceIndex: month.sourceIndex, targetIndex: month.targetIndex, dry: run(month.dry), live: run(month.live) };
}

/**
 * One month of the plan with its complete ReindexRun inputs, exactly as {@link planMonths} builds them
 * (same run ids, same inputs). The ledger is not read again: the plan chose the months.
 */
export function planOneMonth(input: unknown, now: Date, month: string, executionName = 'monthly-backfill'): MonthPlan<PlannedMonth> {
  const wanted = formatMonth(parseMonth(month, 'month'));
  const plan = planMonths(input, now, new Set(), executionName);
  const found = plan.months.find((m) => m.month === wanted);
  if (!found) return fail('month', `${wanted} is not a month of this backfill (${plan.from} to ${plan.to})`);
  return { ...plan, months: [found], count: 1, names: [found.month], skipped: [] };
}

/**
 * The PlanMonths state. Without `month`: validate, read the ledger for completed months, plan, and
 * return the months without their inputs (what every state of the backfill carries stays bounded).
 * With `month`: that month with its complete ReindexRun inputs.
 */
export async function planMonthsState(invocation: PlanMonthsInvocation, deps: PlanMonthsDeps): Promise<MonthPlan> {
  const started = invocation.startTime ? new Date(invocation.startTime) : undefined;
  const now = deps.now?.() ?? (started && !Number.isNaN(started.getTime()) ? started : new Date());
  if (invocation.month !== undefined) return planOneMonth(invocation.input, now, invocation.month, invocation.executionName);
  const targets = targetIndicesAsked(invocation.input, now);
  const completed = new Set<string>();
  for (const target of targets) {
    if (await isTargetCompleted(deps.ledger, target)) completed.add(target);
  }
  const plan = planMonths(invocation.input, now, completed, invocation.executionName);
  return { ...plan, months: plan.months.map(refOf) };
}
