/**
 * Reindex counters as the run records them, read from the server's task status, and the reconciliation
 * that every run must pass: the counters add up to `total`, nothing failed, and `total` is the source.
 */

export interface Counters {
  readonly total: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly noops: number;
  readonly versionConflicts: number;
  readonly failures: number;
}

/** The server's snake_case counters: `task.status` while running, `response` once completed. */
export interface TaskStatusLike {
  readonly total?: number;
  readonly created?: number;
  readonly updated?: number;
  readonly deleted?: number;
  readonly noops?: number;
  readonly version_conflicts?: number;
  readonly failures?: readonly unknown[];
  readonly canceled?: string;
  readonly timed_out?: boolean;
}

/** The parts of a `GET _tasks/{id}` answer the run reads. */
export interface TaskAnswerLike {
  readonly completed: boolean;
  readonly task?: { readonly status?: TaskStatusLike; readonly cancelled?: boolean };
  readonly response?: TaskStatusLike;
  readonly error?: unknown;
}

/** Counters plus what decides whether the reindex failed, from one task answer. */
export interface TaskOutcome {
  readonly completed: boolean;
  readonly counters: Counters;
  /** The first few failure entries, as the server sent them. */
  readonly failures: readonly unknown[];
  readonly canceled: string | null;
  readonly timedOut: boolean;
  readonly error: unknown;
}

export interface ReconcileInput {
  readonly counters: Counters;
  readonly failures: readonly unknown[];
  readonly sourceBaseline: number;
  /** Fraction of the baseline `total` may differ by (live dual-write keeps adding docs). @default 0.0002 */
  readonly tolerance?: number;
  /** The task ended with an error instead of a response. */
  readonly taskError?: unknown;
  /** `response.canceled`, e.g. "by user request". */
  readonly canceled?: string | null;
  readonly timedOut?: boolean;
}

export type Reconciliation =
  | { readonly ok: true; readonly arithmetic: string }
  | { readonly ok: false; readonly error: 'CounterMismatch' | 'ReindexFailed'; readonly cause: string; readonly arithmetic: string };

export const DEFAULT_BASELINE_TOLERANCE = 0.0002;
export const KEPT_FAILURES = 5;

export const ZERO_COUNTERS: Counters = {
  total: 0,
  created: 0,
  updated: 0,
  deleted: 0,
  noops: 0,
  versionConflicts: 0,
  failures: 0,
};

/** Integer with thousands separators: 84986805 → "84,986,805". */
export function thousands(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function countersFromTaskStatus(status: TaskStatusLike | undefined): Counters {
  return {
    total: status?.total ?? 0,
    created: status?.created ?? 0,
    updated: status?.updated ?? 0,
    deleted: status?.deleted ?? 0,
    noops: status?.noops ?? 0,
    versionConflicts: status?.version_conflicts ?? 0,
    failures: status?.failures?.length ?? 0,
  };
}

/** Documents the task has dealt with so far: every counter but `total`. */
export function processed(c: Counters): number {
  return c.created + c.updated + c.deleted + c.noops + c.versionConflicts;
}

/** A completed task's final counters come from `response`; a running one's from `task.status`. */
export function outcomeFromTaskAnswer(answer: TaskAnswerLike, keep = KEPT_FAILURES): TaskOutcome {
  const status = answer.response ?? answer.task?.status;
  const canceled = answer.response?.canceled ?? answer.task?.status?.canceled ?? null;
  return {
    completed: answer.completed,
    counters: countersFromTaskStatus(status),
    failures: (answer.response?.failures ?? []).slice(0, keep),
    canceled,
    timedOut: answer.response?.timed_out === true,
    error: answer.error ?? null,
  };
}

export function arithmeticLine(c: Counters): string {
  const sum = processed(c);
  const parts =
    `${thousands(c.created)} created + ${thousands(c.updated)} updated + ${thousands(c.deleted)} deleted + ` +
    `${thousands(c.noops)} noops + ${thousands(c.versionConflicts)} version_conflicts`;
  return sum === c.total ? `${thousands(c.total)} = ${parts}` : `${thousands(c.total)} ≠ ${parts} (sum ${thousands(sum)})`;
}

export function reconcile(input: ReconcileInput): Reconciliation {
  const arithmetic = arithmeticLine(input.counters);
  const failed = failureCause(input);
  if (failed) return { ok: false, error: 'ReindexFailed', cause: failed, arithmetic };
  const mismatch = mismatchCause(input);
  if (mismatch) return { ok: false, error: 'CounterMismatch', cause: mismatch, arithmetic };
  return { ok: true, arithmetic };
}

/** `total` may differ from the source baseline by this many documents. */
export function baselineAllowance(baseline: number, tolerance = DEFAULT_BASELINE_TOLERANCE): number {
  return Math.max(1, tolerance * baseline);
}

function failureCause(input: ReconcileInput): string | undefined {
  const { counters, failures } = input;
  if (input.taskError !== undefined && input.taskError !== null) {
    return `the reindex task ended with an error instead of a response: ${describe(input.taskError)}. Read the task result, fix the cause and rerun (merge mode makes a rerun safe).`;
  }
  if (input.canceled) {
    return `the reindex task was cancelled (${input.canceled}) after ${thousands(processed(counters))} of ${thousands(counters.total)} documents. Rerun once whoever cancelled it agrees (merge mode makes a rerun safe).`;
  }
  const failureCount = Math.max(failures.length, counters.failures);
  if (failureCount > 0) {
    return `the reindex reported ${thousands(failureCount)} failure(s), first: ${describe(failures[0])}. Fix the cause (mapping, rejected writes, ...) and rerun (merge mode makes a rerun safe).`;
  }
  if (input.timedOut) {
    return 'the reindex response says timed_out: some batches did not finish. Rerun (merge mode makes a rerun safe).';
  }
  return undefined;
}

function mismatchCause({ counters, sourceBaseline, tolerance }: ReconcileInput): string | undefined {
  const sum = processed(counters);
  if (sum !== counters.total) {
    return (
      `created + updated + deleted + noops + version_conflicts = ${thousands(sum)} but total = ${thousands(counters.total)} ` +
      `(${thousands(Math.abs(counters.total - sum))} documents unaccounted for). Do not trust this run: compare the poll snapshots ` +
      `in the ledger and check parity before rerunning.`
    );
  }
  const allowance = baselineAllowance(sourceBaseline, tolerance);
  const off = counters.total - sourceBaseline;
  if (Math.abs(off) > allowance) {
    return (
      `total ${thousands(counters.total)} differs from the source baseline ${thousands(sourceBaseline)} by ${signed(off)} ` +
      `(allowed ±${thousands(Math.floor(allowance))}): the task read a different document set than the dry run counted. ` +
      `Check the source index and query, then dry-run again.`
    );
  }
  return undefined;
}

function signed(n: number): string {
  return `${n < 0 ? '−' : '+'}${thousands(Math.abs(n))}`;
}

function describe(value: unknown): string {
  if (value === undefined) return '(no failure entry kept)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
