import type { DescribeExecutionCommandOutput, HistoryEvent } from '@aws-sdk/client-sfn';
import { thousands } from '../../lambdas/shared/checks/counters';
import { isTerminalStatus, type PollSnapshot, type RunRecord } from '../../lambdas/shared/ledger/ledger';
import type { RunSummary } from '../receipts';

/** Same format as the local runner's poll lines, stamped with the snapshot's own time (UTC). */
export function pollLine(snapshot: PollSnapshot): string {
  const s = snapshot as PollSnapshot & Record<string, unknown>;
  const time = Number.isNaN(Date.parse(snapshot.at)) ? snapshot.at : new Date(snapshot.at).toISOString().slice(11, 19);
  return (
    `  ${time}  created ${thousands(Number(s.created ?? 0))}  updated ${thousands(Number(s.updated ?? 0))}  ` +
    `version_conflicts ${thousands(Number(s.versionConflicts ?? 0))}  of ${thousands(Number(s.total ?? 0))}${s.completed ? '  (done)' : ''}`
  );
}

/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>` + execution name → its execution ARN. */
export function executionArnFor(stateMachineArn: string, executionName: string): string | undefined {
  const match = /^(arn:[^:]+:states:[^:]*:[^:]*):stateMachine:([^:]+)$/.exec(stateMachineArn);
  return match ? `${match[1]}:execution:${match[2]}:${executionName}` : undefined;
}

export function isExecutionArn(value: string): boolean {
  return /^arn:[^:]+:states:[^:]*:[^:]*:(execution|express):[^:]+:[^:]+$/.test(value);
}

/** Runs recorded by the local runner carry `arn:local:states:...`: nothing to ask Step Functions. */
export function isAwsExecutionArn(value: string | undefined): value is string {
  return value !== undefined && isExecutionArn(value) && !value.startsWith('arn:local:');
}

export function executionEnded(status: string | undefined): boolean {
  return status !== undefined && status !== 'RUNNING';
}

export interface ExecutionFailure {
  /** The execution's error and cause (the Fail state's, for ReindexRun). */
  readonly error?: string;
  readonly cause?: string;
  /** The state where the failure started, with its own error and cause (a Lambda's errorMessage). */
  readonly state?: string;
  readonly stateError?: string;
  readonly stateCause?: string;
}

const TASK_FAILURE_TYPES = new Set([
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
  'ActivityFailed',
  'ActivityTimedOut',
  'ActivityScheduleFailed',
  'MapRunFailed',
]);

type Details = { error?: string; cause?: string };

function detailsOf(event: HistoryEvent): Details | undefined {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object' && ('error' in value || 'cause' in value)) {
      return value as Details;
    }
  }
  return undefined;
}

/** A Lambda's cause is its JSON error (`{"errorType","errorMessage",...}`): keep the message. */
export function readableCause(cause: string | undefined): string | undefined {
  if (!cause) return cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: as is
  }
  return cause;
}

/** Reads an execution's history (any order) for the error that ended it and the state it started in. */
export function failureFromHistory(events: readonly HistoryEvent[]): ExecutionFailure {
  const byId = new Map(events.map((event) => [event.id, event]));
  const sorted = [...events].sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  const end = [...sorted]
    .reverse()
    .find((e) => e.type === 'ExecutionFailed' || e.type === 'ExecutionAborted' || e.type === 'ExecutionTimedOut');
  const endDetails = end ? detailsOf(end) : undefined;
  const failure = [...sorted].reverse().find((e) => TASK_FAILURE_TYPES.has(e.type ?? ''));
  let state: string | undefined;
  for (let e = failure, steps = 0; e && steps < 100; e = byId.get(e.previousEventId ?? -1), steps++) {
    if (e.type?.endsWith('StateEntered')) {
      state = e.stateEnteredEventDetails?.name;
      break;
    }
  }
  const failureDetails = failure ? detailsOf(failure) : undefined;
  return {
    ...(endDetails?.error ? { error: endDetails.error } : {}),
    ...(endDetails?.cause ? { cause: endDetails.cause } : {}),
    ...(state ? { state } : {}),
    ...(failureDetails?.error ? { stateError: failureDetails.error } : {}),
    ...(failureDetails?.cause ? { stateCause: readableCause(failureDetails.cause) } : {}),
  };
}

export interface Outcome {
  readonly status: RunSummary['status'];
  readonly error: string | null;
  readonly cause: string | null;
}

type Execution = Pick<DescribeExecutionCommandOutput, 'status' | 'error' | 'cause'>;

/**
 * The run's outcome for receipts: the ledger's terminal status when it has one (a dry run ends
 * `SUCCEEDED` too), else the execution's (a run whose failure path could not record, a timed-out or
 * stopped execution before the abort rule recorded it); undefined while it runs.
 */
export function outcomeOf(record: RunRecord | undefined, execution: Execution | undefined, failure?: ExecutionFailure): Outcome | undefined {
  const executionError = execution?.error ?? failure?.error;
  const executionCause = execution?.cause ?? failure?.cause;
  if (record && isTerminalStatus(record.status)) {
    if (record.status === 'SUCCEEDED') return { status: 'SUCCEEDED', error: null, cause: null };
    if (record.status === 'ABORTED') return { status: 'ABORTED', error: record.error ?? 'Aborted', cause: record.cause ?? executionCause ?? null };
    return { status: 'FAILED', error: record.error ?? executionError ?? 'RunFailed', cause: record.cause ?? executionCause ?? null };
  }
  const status = execution?.status;
  if (!executionEnded(status)) return undefined;
  if (status === 'SUCCEEDED') return { status: 'SUCCEEDED', error: null, cause: null };
  if (status === 'ABORTED') return { status: 'ABORTED', error: 'Aborted', cause: executionCause ?? null };
  return {
    status: 'FAILED',
    error: executionError ?? (status === 'TIMED_OUT' ? 'TimedOut' : 'RunFailed'),
    cause: executionCause ?? null,
  };
}
