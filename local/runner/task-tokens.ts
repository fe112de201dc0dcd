import { randomBytes } from 'node:crypto';
import type { LocalServiceIntegration } from './run-state-machine';

/**
 * The callback pattern (`.waitForTaskToken`) for the local runner: an in-process task-token registry
 * and the `arn:aws:states:::sns:publish.waitForTaskToken` integration built on it.
 *
 * ```ts
 * const tokens = new TaskTokenRegistry(); // or the module's `defaultTaskTokens`
 * await runStateMachine({
 *   definition, input, lambdas,
 *   context: taskTokenContext(),   // gives `$$.Task.Token` a value (the library has no $$.Task)
 *   services: { [SNS_PUBLISH_WAIT_FOR_TASK_TOKEN]: tokens.snsPublishService(({ token, message }) => ...) },
 *   onEvent: tokens.expireOnExecutionEnd(),   // a wait still pending when the execution ends is settled
 * });
 * // elsewhere (the test, the operator): tokens.sendTaskSuccess(token, { approved: true })
 * //                                     tokens.sendTaskFailure(token, 'Rejected', 'not this month')
 * ```
 *
 * `$$.Task.Token`: the runner's library does not provide `$$.Task`, so the context carries a fixed
 * placeholder and the integration replaces it, wherever it appears in the Parameters, with a fresh
 * token per task attempt (as AWS issues one per attempt). A `.waitForTaskToken` task whose Parameters
 * do not pass the token could never be answered: it fails with `States.Runtime` at once rather than
 * hang (on AWS it would wait until its timeout).
 *
 * Answers behave like the API: `sendTaskSuccess` output must be JSON (it becomes the task result);
 * `sendTaskFailure(token, error, cause)` fails the task with that error name and cause; answering an
 * unknown token throws `InvalidToken`, answering twice or after the wait ended throws `TaskTimedOut`
 * (what SendTaskSuccess / SendTaskFailure return for a closed task).
 */

export const SNS_PUBLISH_WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::sns:publish.waitForTaskToken';
export const LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
/** What `$$.Task.Token` resolves to locally before the integration swaps in a fresh token. */
export const LOCAL_TASK_TOKEN_PLACEHOLDER = '<local-task-token>';

/** Context fields for `runStateMachine({ context })` so that `$$.Task.Token` resolves. */
export function taskTokenContext(): { Task: { Token: string } } {
  return { Task: { Token: LOCAL_TASK_TOKEN_PLACEHOLDER } };
}

/** What an SNS subscriber of the topic would receive, plus the token it must answer. */
export interface TaskTokenRequest {
  readonly token: string;
  readonly topicArn: string;
  readonly subject?: string;
  /** The message as delivered: a JSON `Message` object arrives serialised, as on AWS. */
  readonly message: string;
  /** The message parsed, when it is JSON. */
  readonly json?: unknown;
}

export type OnTaskToken = (request: TaskTokenRequest) => void | Promise<void>;

export class TaskTokenError extends Error {
  constructor(
    /** `InvalidToken` or `TaskTimedOut`, as the Step Functions API names them. */
    readonly code: 'InvalidToken' | 'TaskTimedOut',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

const EXECUTION_END_EVENTS = ['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimeout'];

interface Waiter {
  readonly resolve: (output: unknown) => void;
  readonly reject: (error: Error) => void;
}

export class TaskTokenRegistry {
  private readonly waiting = new Map<string, Waiter>();
  private readonly closed = new Set<string>();

  /** Tokens still waiting for an answer. */
  pending(): string[] {
    return [...this.waiting.keys()];
  }

  /** Issues a token and the promise that settles when it is answered. */
  issue(): { token: string; answer: Promise<unknown> } {
    const token = randomBytes(48).toString('base64url');
    const answer = new Promise<unknown>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject });
    });
    return { token, answer };
  }

  /** SendTaskSuccess: the waiting task succeeds with `output` (JSON) as its result. */
  sendTaskSuccess(token: string, output: unknown = {}): void {
    const waiter = this.take(token);
    waiter.resolve(JSON.parse(JSON.stringify(output ?? null)) as unknown);
  }

  /** SendTaskFailure: the waiting task fails with this error name and cause (Retry/Catch match the name). */
  sendTaskFailure(token: string, error = 'States.TaskFailed', cause = ''): void {
    const waiter = this.take(token);
    const failure = new Error(cause);
    failure.name = error;
    waiter.reject(failure);
  }

  /** Settles every wait still pending (the execution ended: its tasks are closed). */
  expireAll(reason = 'the execution ended'): void {
    for (const token of [...this.waiting.keys()]) {
      const waiter = this.waiting.get(token)!;
      this.waiting.delete(token);
      this.closed.add(token);
      const error = new Error(`task token expired: ${reason}`);
      error.name = 'States.Timeout';
      waiter.reject(error);
    }
  }

  /**
   * An `onEvent` for `runStateMachine` that settles the waits left pending when the execution ends
   * (failed elsewhere, aborted, timed out), so that the runner, which awaits running handlers before
   * it returns, is not kept waiting for an answer that can no longer matter.
   */
  expireOnExecutionEnd(): (event: { readonly type: string }) => void {
    return (event) => {
      if (EXECUTION_END_EVENTS.includes(event.type)) this.expireAll(`the execution ended (${event.type})`);
    };
  }

  /**
   * `arn:aws:states:::sns:publish.waitForTaskToken`: "publishes" `Message` (with the token swapped in)
   * to `onTaskToken`, then waits for the answer. `TopicArn` and `Message` are required, as for SNS Publish.
   */
  snsPublishService(onTaskToken: OnTaskToken): LocalServiceIntegration {
    return async (parameters) => {
      const params = typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>) : {};
      const topicArn = params['TopicArn'];
      if (typeof topicArn !== 'string' || topicArn === '') {
        throw namedError('SNS.InvalidParameterException', 'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
      }
      if (params['Message'] === undefined) throw namedError('SNS.InvalidParameterException', 'Invalid parameter: Message');
      const { token, answer } = this.issue();
      const withToken = swapPlaceholder(params, token) as Record<string, unknown>;
      if (withToken === params || !JSON.stringify(withToken).includes(token)) {
        this.waiting.delete(token);
        throw namedError(
          'States.Runtime',
          'A .waitForTaskToken task must pass $$.Task.Token in its Parameters (e.g. "TaskToken.$": "$$.Task.Token" in the Message); otherwise nobody can ever answer it.',
        );
      }
      const raw = withToken['Message'];
      const message = typeof raw === 'string' ? raw : JSON.stringify(raw);
      let json: unknown;
      try {
        json = JSON.parse(message);
      } catch {
        json = undefined;
      }
      const subject = withToken['Subject'];
      try {
        await onTaskToken({ token, topicArn, message, ...(typeof subject === 'string' ? { subject } : {}), ...(json === undefined ? {} : { json }) });
      } catch (err) {
        // A subscriber failing does not fail an SNS publish; a broken test callback should not hang it either.
        this.sendTaskFailure(token, 'States.Runtime', `onTaskToken threw: ${err instanceof Error ? err.message : String(err)}`);
      }
      return answer;
    };
  }

  /**
   * `arn:aws:states:::lambda:invoke.waitForTaskToken`: runs the function in-process with its `Payload`
   * (the token swapped in), then waits for the answer, which becomes the task's result (as on AWS).
   */
  lambdaInvokeService(invoke: (functionName: string, payload: unknown) => Promise<unknown>): LocalServiceIntegration {
    return async (parameters) => {
      const params = typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>) : {};
      const functionName = params['FunctionName'];
      if (typeof functionName !== 'string' || functionName === '') {
        throw namedError('Lambda.InvalidParameterValueException', 'FunctionName is required');
      }
      const { token, answer } = this.issue();
      const withToken = swapPlaceholder(params, token) as Record<string, unknown>;
      if (withToken === params || !JSON.stringify(withToken['Payload'] ?? null).includes(token)) {
        this.waiting.delete(token);
        throw namedError('States.Runtime', 'A .waitForTaskToken task must pass $$.Task.Token in its Payload; otherwise nobody can ever answer it.');
      }
      try {
        await invoke(functionName, withToken['Payload']);
      } catch (err) {
        // On AWS a failing function fails the task at once, with its error.
        this.sendTaskFailure(token, err instanceof Error ? err.name : 'Lambda.Unknown', err instanceof Error ? err.message : String(err));
      }
      return answer;
    };
  }

  private take(token: string): Waiter {
    const waiter = this.waiting.get(token);
    if (waiter === undefined) {
      if (this.closed.has(token)) throw new TaskTokenError('TaskTimedOut', 'Task Timed Out: the task for this token is closed (answered, timed out or its execution ended)');
      throw new TaskTokenError('InvalidToken', 'Invalid token: no task waits for it');
    }
    this.waiting.delete(token);
    this.closed.add(token);
    return waiter;
  }
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A copy with every string equal to the placeholder replaced by the token (the original if none). */
function swapPlaceholder(value: unknown, token: string): unknown {
  if (value === LOCAL_TASK_TOKEN_PLACEHOLDER) return token;
  if (Array.isArray(value)) {
    const items = value.map((item) => swapPlaceholder(item, token));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (typeof value === 'object' && value !== null) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      out[key] = swapPlaceholder(child, token);
      if (out[key] !== child) changed = true;
    }
    return changed ? out : value;
  }
  return value;
}

/** The registry `sendTaskSuccess` / `sendTaskFailure` below answer, and local runs use by default. */
export const defaultTaskTokens = new TaskTokenRegistry();

/** SendTaskSuccess on the default registry. */
export function sendTaskSuccess(token: string, output?: unknown): void {
  defaultTaskTokens.sendTaskSuccess(token, output);
}

/** SendTaskFailure on the default registry. */
export function sendTaskFailure(token: string, error?: string, cause?: string): void {
  defaultTaskTokens.sendTaskFailure(token, error, cause);
}
