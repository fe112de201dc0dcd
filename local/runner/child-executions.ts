import { randomUUID } from 'node:crypto';
import type { LocalServiceIntegration } from './run-state-machine';

/**
 * `arn:aws:states:::states:startExecution.sync:2` (nested workflows) supplied in-process for the local
 * runner, with the shapes AWS uses, through `runStateMachine({ services })`:
 *
 * ```ts
 * const children = createChildExecutions({ runners: { [reindexRunArn]: async ({ input, signal }) => ... } });
 * await runStateMachine({ definition, input, lambdas, services: { [START_EXECUTION_SYNC2]: children.service } });
 * ```
 *
 * - Parameters: `StateMachineArn` (required), `Input` (a JSON value, or a string holding JSON, as the
 *   API takes it), `Name` (optional; a UUID otherwise).
 * - The input reaches the child as given, `AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID` included: a parent
 *   that passes `"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"` (the console then links
 *   the child to it) hands its execution ARN to the child's input, where the child's own input check must
 *   accept it, and DescribeExecution / the `.sync:2` result show it in `Input`. Nothing is stripped.
 * - Success: the task result is what the `.sync:2` integration returns, `{ ExecutionArn, Input,
 *   InputDetails, Name, Output, OutputDetails, StartDate, StateMachineArn, Status: 'SUCCEEDED',
 *   StopDate }`, with `Input` and `Output` as JSON (not strings: that is what `:2` changes) and the
 *   dates as epoch milliseconds.
 * - A child that FAILED, TIMED_OUT or was ABORTED fails the task with `States.TaskFailed`, whatever the
 *   child's own error, and the cause is the child's DescribeExecution response as a JSON string, keys
 *   in AWS's (alphabetical) order: `{"Cause","Error","ExecutionArn","Input","InputDetails","Name",
 *   "RedriveCount","RedriveStatus","StartDate","StateMachineArn","Status","StopDate"}` (`Input` a
 *   string there). A Catch on the child's error name does not fire; one on `States.TaskFailed` or
 *   `States.ALL` does.
 * - StartExecution's own refusals, named as the integration reports them (`StepFunctions.<exception>`):
 *   `StepFunctions.InvalidNameException`, `StepFunctions.StateMachineDoesNotExistException`,
 *   `StepFunctions.ExecutionAlreadyExistsException` (a name already used: AWS returns the running
 *   execution for the same name and input, refuses a closed one or a different input),
 *   `StepFunctions.InvalidExecutionInputException`.
 * - The parent's abort signal (its Ctrl-C) is passed to the child runner: on AWS, stopping the parent
 *   stops the children it started with `.sync`.
 */

export const START_EXECUTION_SYNC2 = 'arn:aws:states:::states:startExecution.sync:2';

export type ChildStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ChildRequest {
  readonly stateMachineArn: string;
  readonly executionArn: string;
  readonly name: string;
  /** The child's input, parsed. */
  readonly input: unknown;
  /** The parent's abort signal, when it has one. */
  readonly signal?: AbortSignal;
}

export type ChildOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown }
  | { readonly status: Exclude<ChildStatus, 'SUCCEEDED'>; readonly error?: string; readonly cause?: string };

/** Runs one child execution to its end (e.g. ReindexRun through `runLocal`). */
export type ChildRunner = (request: ChildRequest) => Promise<ChildOutcome>;

/** One child execution as DescribeExecution would report it (dates as epoch ms). */
export interface ChildExecution {
  readonly ExecutionArn: string;
  readonly StateMachineArn: string;
  readonly Name: string;
  readonly Input: unknown;
  Status: 'RUNNING' | ChildStatus;
  readonly StartDate: number;
  StopDate?: number;
  Output?: unknown;
  Error?: string;
  Cause?: string;
}

export interface ChildExecutionsOptions {
  /** A runner per child state machine ARN, or one runner for every ARN. */
  readonly runners: Readonly<Record<string, ChildRunner>> | ChildRunner;
  /** The parent's abort signal, passed on to the children. */
  readonly signal?: AbortSignal;
  /** @default () => Date.now() */
  readonly now?: () => number;
}

export interface ChildExecutions {
  /** The `services[START_EXECUTION_SYNC2]` handler. */
  readonly service: LocalServiceIntegration;
  /** Every child started, in order. */
  readonly executions: readonly ChildExecution[];
}

/** AWS's execution-name rules: 1..80 characters, none of whitespace, brackets, wildcards, specials or controls. */
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

function sfnError(exception: string, message: string): Error {
  const error = new Error(message);
  error.name = `StepFunctions.${exception}`;
  return error;
}

function taskFailed(cause: string): Error {
  const error = new Error(cause);
  error.name = 'States.TaskFailed';
  return error;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `arn:aws:states:r:a:stateMachine:Name` → `arn:aws:states:r:a:execution:Name:<name>`. */
export function executionArnFor(stateMachineArn: string, name: string): string {
  const match = /^(arn:[^:]+:states:[^:]*:[^:]*:)stateMachine:([^:]+)$/.exec(stateMachineArn);
  return match ? `${match[1]}execution:${match[2]}:${name}` : `${stateMachineArn}:execution:${name}`;
}

/** The task result of a SUCCEEDED child under `.sync:2`. */
export function syncSucceededResult(child: ChildExecution): Record<string, unknown> {
  return {
    ExecutionArn: child.ExecutionArn,
    Input: child.Input,
    InputDetails: { Included: true },
    Name: child.Name,
    Output: child.Output ?? null,
    OutputDetails: { Included: true },
    StartDate: child.StartDate,
    StateMachineArn: child.StateMachineArn,
    Status: 'SUCCEEDED',
    StopDate: child.StopDate,
  };
}

/** The cause of `States.TaskFailed` for a child that did not succeed: its DescribeExecution, as JSON. */
export function syncFailureCause(child: ChildExecution): string {
  const described: Record<string, unknown> = {};
  if (child.Cause !== undefined) described['Cause'] = child.Cause;
  if (child.Error !== undefined) described['Error'] = child.Error;
  Object.assign(described, {
    ExecutionArn: child.ExecutionArn,
    Input: JSON.stringify(child.Input),
    InputDetails: { Included: true },
    Name: child.Name,
    RedriveCount: 0,
    RedriveStatus: 'REDRIVABLE',
    StartDate: child.StartDate,
    StateMachineArn: child.StateMachineArn,
    Status: child.Status,
    StopDate: child.StopDate,
  });
  return JSON.stringify(described);
}

export function createChildExecutions(options: ChildExecutionsOptions): ChildExecutions {
  const now = options.now ?? (() => Date.now());
  const executions: ChildExecution[] = [];
  const running = new Map<string, Promise<Record<string, unknown>>>();

  const runnerFor = (stateMachineArn: string): ChildRunner | undefined =>
    typeof options.runners === 'function' ? options.runners : options.runners[stateMachineArn];

  const service: LocalServiceIntegration = async (parameters) => {
    const params = isObject(parameters) ? parameters : {};
    const stateMachineArn = params['StateMachineArn'];
    if (typeof stateMachineArn !== 'string' || stateMachineArn === '') {
      throw sfnError('ValidationException', "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null");
    }
    const runner = runnerFor(stateMachineArn);
    if (runner === undefined) throw sfnError('StateMachineDoesNotExistException', `State Machine Does Not Exist: '${stateMachineArn}'`);

    const rawName = params['Name'];
    if (rawName !== undefined && typeof rawName !== 'string') throw sfnError('InvalidNameException', 'Invalid Name: the execution name must be a string');
    const name = rawName ?? randomUUID();
    if (name.length < 1 || name.length > 80 || INVALID_NAME.test(name)) throw sfnError('InvalidNameException', `Invalid Name: '${name}'`);

    let input: unknown = params['Input'] ?? {};
    if (typeof input === 'string') {
      try {
        input = JSON.parse(input);
      } catch {
        throw sfnError('InvalidExecutionInputException', 'Invalid State Machine Execution Input: the input is not valid JSON');
      }
    }

    const executionArn = executionArnFor(stateMachineArn, name);
    const existing = executions.find((e) => e.ExecutionArn === executionArn);
    if (existing) {
      const sameInput = JSON.stringify(existing.Input) === JSON.stringify(input);
      const pending = running.get(executionArn);
      if (existing.Status === 'RUNNING' && sameInput && pending) return pending; // StartExecution is idempotent for it
      throw sfnError('ExecutionAlreadyExistsException', `Execution Already Exists: '${executionArn}'`);
    }

    const child: ChildExecution = { ExecutionArn: executionArn, StateMachineArn: stateMachineArn, Name: name, Input: input, Status: 'RUNNING', StartDate: now() };
    executions.push(child);
    const run = (async () => {
      let outcome: ChildOutcome;
      try {
        outcome = await runner({
          stateMachineArn,
          executionArn,
          name,
          input: structuredClone(input),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (err) {
        // The runner itself broke: the child counts as failed, the error kept as its cause.
        const error = err instanceof Error ? err : new Error(String(err));
        outcome = { status: 'FAILED', error: error.name, cause: error.message };
      }
      child.StopDate = Math.max(now(), child.StartDate);
      child.Status = outcome.status;
      if (outcome.status === 'SUCCEEDED') {
        child.Output = outcome.output ?? null;
        return syncSucceededResult(child);
      }
      if (outcome.error !== undefined) child.Error = outcome.error;
      if (outcome.cause !== undefined) child.Cause = outcome.cause;
      throw taskFailed(syncFailureCause(child));
    })();
    running.set(executionArn, run);
    try {
      return await run;
    } finally {
      running.delete(executionArn);
    }
  };

  return { service, executions };
}
