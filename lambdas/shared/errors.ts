/**
 * Every failure a run can end with. Each class is named `<Name>Error` and its `name` is `<Name>`:
 * the string that Lambda reports as `errorType`, that the ASL's `ErrorEquals` matches, that the Fail
 * state carries as `Error`, and that the ledger, the CLI and the README runbook use.
 */
export abstract class SafeReindexError extends Error {
  /** Worth retrying with backoff (Retry in the ASL); the rest end the run. */
  readonly transient: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name.replace(/Error$/, '');
  }
}

export class InvalidInputError extends SafeReindexError {
  constructor(
    message: string,
    /** Dotted path of the offending field, e.g. `source.index`. */
    readonly field: string,
  ) {
    super(message);
  }
}

export class RunInProgressError extends SafeReindexError {}
export class ClusterUnreachableError extends SafeReindexError {}
export class SourceIndexMissingError extends SafeReindexError {}
export class ForeignReindexRunningError extends SafeReindexError {}
export class TargetNotEmptyError extends SafeReindexError {}
export class VersioningContractBrokenError extends SafeReindexError {}
export class DryRunRequiredError extends SafeReindexError {}
export class HeaderCheckFailedError extends SafeReindexError {}
export class TaskLostError extends SafeReindexError {}
export class CounterMismatchError extends SafeReindexError {}
export class ReindexFailedError extends SafeReindexError {}
export class ParityFailedError extends SafeReindexError {}

/** A 429, 5xx or dropped connection: the state machine retries the step with backoff. */
export class TransientClusterError extends SafeReindexError {
  override readonly transient = true;
}

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
] as const;

export type RunErrorName = (typeof RUN_ERROR_NAMES)[number];
