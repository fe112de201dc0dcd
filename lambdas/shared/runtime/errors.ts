/**
 * Every failure a run can end with. Each class is named `<Name>Error` and its `name` is `<Name>`:
 * the string that Lambda reports as `errorType`, that the ASL's `ErrorEquals` matches, that the Fail
 * state carries as `Error`, and that the ledger, the CLI and the README runbook use.
 *
 * The name is a literal in each class, never derived from the class at run time: the deployed
 * bundles are minified, and a class name there is whatever esbuild made of it. `name` is abstract
 * here, so a class without its literal does not compile, and the literal must be one of
 * {@link RUN_ERROR_NAMES} or `TransientCluster` (test/unit/error-names.test.ts checks it matches the class).
 */

/** The error names a run can end with, as the ASL Fail states and the runbook spell them. */
export const RUN_ERROR_NAMES = [
  'InvalidInput',
  'RunInProgress',
  'ClusterUnreachable',
  'SourceIndexMissing',
  'ForeignReindexRunning',
  'TargetNotEmpty',
  'VersioningContractBroken',
  'DryRunRequired',
  'HeaderCheckFailed',
  'TaskLost',
  'CounterMismatch',
  'ReindexFailed',
  'ParityFailed',
  'TombstoneRetentionUnavailable',
] as const;

export type RunErrorName = (typeof RUN_ERROR_NAMES)[number];

/** Every name a {@link SafeReindexError} may carry: a run's end, or the one the ASL retries. */
export type SafeReindexErrorName = RunErrorName | 'TransientCluster';

export abstract class SafeReindexError extends Error {
  /** The `errorType` Step Functions matches: a literal in every concrete class. */
  abstract override readonly name: SafeReindexErrorName;

  /** Worth retrying with backoff (Retry in the ASL); the rest end the run. */
  readonly transient: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class InvalidInputError extends SafeReindexError {
  override readonly name = 'InvalidInput';

  constructor(
    message: string,
    /** Dotted path of the offending field, e.g. `source.index`. */
    readonly field: string,
  ) {
    super(message);
  }
}

export class RunInProgressError extends SafeReindexError {
  override readonly name = 'RunInProgress';
}
export class ClusterUnreachableError extends SafeReindexError {
  override readonly name = 'ClusterUnreachable';
}
export class SourceIndexMissingError extends SafeReindexError {
  override readonly name = 'SourceIndexMissing';
}
export class ForeignReindexRunningError extends SafeReindexError {
  override readonly name = 'ForeignReindexRunning';
}
export class TargetNotEmptyError extends SafeReindexError {
  override readonly name = 'TargetNotEmpty';
}
export class VersioningContractBrokenError extends SafeReindexError {
  override readonly name = 'VersioningContractBroken';
}
export class DryRunRequiredError extends SafeReindexError {
  override readonly name = 'DryRunRequired';
}
/** The target refused to keep delete tombstones for the run (`index.gc_deletes`), and the input does not accept the risk. */
export class TombstoneRetentionUnavailableError extends SafeReindexError {
  override readonly name = 'TombstoneRetentionUnavailable';
}
export class HeaderCheckFailedError extends SafeReindexError {
  override readonly name = 'HeaderCheckFailed';
}
export class TaskLostError extends SafeReindexError {
  override readonly name = 'TaskLost';
}
export class CounterMismatchError extends SafeReindexError {
  override readonly name = 'CounterMismatch';
}
export class ReindexFailedError extends SafeReindexError {
  override readonly name = 'ReindexFailed';
}
export class ParityFailedError extends SafeReindexError {
  override readonly name = 'ParityFailed';
}

/** A 429, 5xx or dropped connection: the state machine retries the step with backoff. */
export class TransientClusterError extends SafeReindexError {
  override readonly name = 'TransientCluster';
  override readonly transient = true;
}

/**
 * The error a reindex task's failure ends its run with, by the name its attempt recorded: a task that
 * cannot be checked or reconciled ends the run as it did inside its iteration (`TaskLost`,
 * `HeaderCheckFailed`, `CounterMismatch`, ...); a name no task step throws (a Lambda timeout, a
 * transient error that outlived its retries) ends it as `ReindexFailed`, or `ClusterUnreachable`.
 */
export function taskFailureError(name: string, message: string): SafeReindexError {
  switch (name) {
    case 'HeaderCheckFailed':
      return new HeaderCheckFailedError(message);
    case 'TaskLost':
      return new TaskLostError(message);
    case 'CounterMismatch':
      return new CounterMismatchError(message);
    case 'DryRunRequired':
      return new DryRunRequiredError(message);
    case 'TombstoneRetentionUnavailable':
      return new TombstoneRetentionUnavailableError(message);
    case 'ClusterUnreachable':
    case 'TransientCluster':
      return new ClusterUnreachableError(message);
    default:
      return new ReindexFailedError(message);
  }
}

/** The message inside a Lambda error's Cause (`{"errorType","errorMessage","trace"}`), or the Cause itself. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}
