import './polyfill';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type RunOptions,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';

/**
 * Runs an ASL definition (the very file deployed to AWS, JSONPath only) in-process with
 * `aws-local-stepfunctions`, routing every Task state to a local handler and returning what an AWS
 * Standard workflow would report: status, output or error/cause, and the execution's size in AWS
 * terms (history events, billed state transitions).
 *
 * What the library does differently from AWS, and what this module does about it:
 * - `"ResultPath": "$"` written out puts the result under a literal `"$"` key. On AWS it means the same
 *   as no ResultPath, so it is removed from an in-memory copy (states and catchers) before running.
 * - A Task without `TimeoutSeconds` times out after 60 s in the library; on AWS it has no state
 *   timeout (the Lambda function's own timeout applies, at most 900 s). The copy gets
 *   `TimeoutSeconds: taskTimeoutSeconds` (default 900) on such Tasks.
 * - Timeouts are `setTimeout`s: above 2^31-1 ms (24.8 days) Node fires them after 1 ms, so a larger
 *   execution or Task `TimeoutSeconds` is clamped in the copy.
 * - Lambda errors: the library matches Retry/Catch on the thrown error's `name` and gives Catch
 *   `{ Error: name, Cause: message }`; handler errors are rethrown with AWS's Lambda Cause, the JSON
 *   string `{"errorType","errorMessage","trace"}`.
 * - The library has no payload quota. AWS fails an execution with `States.DataLimitExceeded`, which no
 *   `Catch` (not even `States.ALL`) or `Retry` matches, when a task's result, a Task's input after
 *   `Parameters`, or any state's input or output is over 256 KiB (UTF-8 JSON). The runner checks all
 *   four: results and effective inputs in the Task handlers (so the handler never runs), state inputs and
 *   outputs from the event log (the run is stopped before the next handler runs, as at the history limit).
 * - Its event log is not AWS's history: history events are counted from it with AWS's rules (below).
 * - Aborting leaves a running handler running: the runner waits for in-flight handlers to settle before
 *   it returns ABORTED, so the caller's cleanup does not race a half-done step, and starts no new one.
 * - `$$.State.*` and `$$.Task.*` are not provided; `$$.Execution.StartTime` is the real start time.
 */

/** A Lambda handler run in-process: receives the resolved `Payload`, returns the function's result. */
export type LocalLambda = (payload: unknown) => Promise<unknown>;

/** A non-Lambda service integration supplied in-process: receives the resolved `Parameters`. */
export type LocalServiceIntegration = (parameters: unknown) => Promise<unknown>;

type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
/** An event of the library's execution log (not an AWS history event). */
export type ExecutionEvent = LibraryEvent;

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalHandler = LocalHandlers[string];
type JsonValue = ReturnType<LocalHandler> extends infer R ? Exclude<Awaited<R>, undefined> : never;

export type RunStatus = 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface RunTotals {
  /** AWS Standard-workflow history events so far (see the model below). */
  readonly historyEvents: number;
  /** Billed state transitions so far: states entered plus retries. */
  readonly stateTransitions: number;
  /** States entered so far. */
  readonly statesEntered: number;
}

/** A pause the execution would take on AWS: a Wait state, or the backoff before a retry. */
export interface WaitReport {
  readonly kind: 'wait' | 'retry';
  readonly stateName: string;
  /** Seconds AWS would pause; for a retry with `JitterStrategy: FULL`, the upper bound. */
  readonly seconds: number;
  /** The simulated clock's time after the pause, when a clock is used. */
  readonly simulatedNowMs?: number;
}

/** A clock that Waits and retry backoffs advance instead of sleeping. */
export interface SimulatedClock {
  now(): number;
  advance(ms: number): void;
}

export function createSimulatedClock(startMs: number = Date.now()): SimulatedClock {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += Math.max(0, ms);
    },
  };
}

export interface RunStateMachineOptions {
  /** The parsed ASL definition, exactly as deployed. */
  readonly definition: object;
  readonly input: unknown;
  /**
   * Handlers by function key: a Task with `"Resource": "arn:aws:states:::lambda:invoke"` and
   * `"FunctionName": "${PreflightFunctionArn}"` runs `lambdas.PreflightFunctionArn` (a function ARN or
   * name is keyed by the function's name). A Task whose Resource is itself a Lambda (`${XFunctionArn}`
   * or a function ARN) is routed the same way, without the `Payload` envelope, as on AWS.
   */
  readonly lambdas: Readonly<Record<string, LocalLambda>>;
  /** Handlers for other Task resources, keyed by the exact `Resource` string. */
  readonly services?: Readonly<Record<string, LocalServiceIntegration>>;
  /** Milliseconds to pause per Wait state name instead of its duration; `'all-zero'`: no Wait pauses. */
  readonly waitTimeOverrides?: Readonly<Record<string, number>> | 'all-zero';
  /** Milliseconds to pause before retrying, per state name (or per retrier); `'all-zero'`: none. */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | readonly number[]>> | 'all-zero';
  /**
   * Simulated time: every Wait and retry backoff advances this clock by the time AWS would pause and
   * takes no real time (unless overridden above). The clock has advanced before the next handler runs.
   */
  readonly clock?: SimulatedClock;
  /** Called for each Wait and retry backoff with the seconds AWS would pause. */
  readonly onWait?: (wait: WaitReport) => void;
  /** Aborting stops the execution (the local Ctrl-C); the result is ABORTED. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: ExecutionEvent, totals: RunTotals) => void;
  /** @default `local-<time>` */
  readonly executionName?: string;
  /** @default 'LocalStateMachine' */
  readonly stateMachineName?: string;
  /** Extra Context Object fields (`$$`), merged over the defaults. */
  readonly context?: Readonly<Record<string, unknown>>;
  /** `TimeoutSeconds` given to Task states that have none. @default 900 (the Lambda maximum) */
  readonly taskTimeoutSeconds?: number;
  /** AWS fails a Standard execution whose history reaches this many events. @default 25000 */
  readonly historyEventLimit?: number;
}

export interface RunStateMachineResult {
  readonly status: RunStatus;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly historyEvents: number;
  readonly stateTransitions: number;
  readonly statesEntered: number;
  /** Sum of the seconds every Wait state would have paused on AWS. */
  readonly intendedWaitSeconds: number;
  readonly executionArn: string;
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?$/;
const PLACEHOLDER = /^\$\{([A-Za-z0-9_]+)\}$/;
/** Step Functions' limit on a task result (and any state's input or output): 256 KiB. */
const MAX_PAYLOAD_BYTES = 256 * 1024;
/** The longest delay `setTimeout` honours (2^31 - 1 ms), in whole seconds. */
const MAX_TIMER_SECONDS = Math.floor(2_147_483_647 / 1000);
const AWS_HISTORY_EVENT_LIMIT = 25_000;

type Json = Record<string, unknown>;
type Route =
  | { kind: 'lambda:invoke' }
  | { kind: 'lambda'; key: string }
  | { kind: 'service'; resource: string };

/**
 * The function key for a FunctionName or Resource: `${PreflightFunctionArn}` → `PreflightFunctionArn`,
 * `arn:aws:lambda:…:function:name[:qualifier]` → `name`, anything else as it is.
 */
export function lambdaKey(functionName: string): string {
  return PLACEHOLDER.exec(functionName)?.[1] ?? LAMBDA_ARN.exec(functionName)?.[1] ?? functionName;
}

export async function runStateMachine(options: RunStateMachineOptions): Promise<RunStateMachineResult> {
  const { lambdas, services = {}, signal, clock, onWait, onEvent } = options;
  const historyEventLimit = options.historyEventLimit ?? AWS_HISTORY_EVENT_LIMIT;
  const definition = prepareDefinition(options.definition, options.taskTimeoutSeconds ?? 900);
  const routes = collectRoutes(definition, lambdas, services);
  const waitStates = collectStates(definition, (s) => s['Type'] === 'Wait');
  const retryStates = collectStates(definition, (s) => Array.isArray(s['Retry']));

  const stateMachineName = options.stateMachineName ?? 'LocalStateMachine';
  const executionName = options.executionName ?? `local-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const executionArn = `arn:aws:states:local:000000000000:execution:${stateMachineName}:${executionName}`;

  const totals = { historyEvents: 0, stateTransitions: 0, statesEntered: 0 };
  let intendedWaitSeconds = 0;
  const snapshot = (): RunTotals => ({ ...totals });

  if (signal?.aborted) {
    return { status: 'ABORTED', ...snapshot(), intendedWaitSeconds, executionArn };
  }

  const stateMachine = new StateMachine(definition as unknown as StateMachineDefinition, {
    validationOptions: { checkArn: !usesPlaceholderResource(definition) },
  });

  let stopped: 'aborted' | 'history-limit' | 'data-limit' | undefined;
  let dataLimitCause = '';
  const inFlight = new Set<Promise<unknown>>();

  /** Runs after the event log has caught up (so the clock has advanced), unless the run is stopping. */
  const invoke = async (stateName: string, call: () => Promise<unknown>): Promise<unknown> => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (stopped !== undefined) throw stoppedError(stateName);
    const running = call();
    inFlight.add(running);
    try {
      return await running;
    } finally {
      inFlight.delete(running);
    }
  };

  const handlers: Record<string, LocalHandler> = {};
  for (const [stateName, route] of routes) {
    handlers[stateName] = async (taskInput) => {
      // The Task's effective input (its resolved Parameters): over the quota, nothing is invoked.
      if (overPayloadLimit(taskInput)) throw terminalError('States.DataLimitExceeded', dataLimitMessage(stateName, 'input'));
      const result = await invoke(stateName, () => callRoute(route, taskInput, lambdas, services));
      const json = toJson(result);
      if (overPayloadLimit(json)) throw terminalError('States.DataLimitExceeded', dataLimitMessage(stateName, 'result'));
      return json;
    };
  }

  const waitTimeOverrides: Record<string, number> = {};
  if (options.waitTimeOverrides === 'all-zero' || clock !== undefined) {
    for (const name of waitStates) waitTimeOverrides[name] = 0;
  }
  if (typeof options.waitTimeOverrides === 'object') Object.assign(waitTimeOverrides, options.waitTimeOverrides);

  const retryIntervalOverrides: Record<string, number | number[]> = {};
  if (options.retryIntervalOverrides === 'all-zero' || clock !== undefined) {
    for (const name of retryStates) retryIntervalOverrides[name] = 0;
  }
  if (typeof options.retryIntervalOverrides === 'object') {
    for (const [name, value] of Object.entries(options.retryIntervalOverrides)) {
      retryIntervalOverrides[name] = typeof value === 'number' ? value : [...value];
    }
  }

  const context = {
    ...options.context,
    Execution: {
      Id: executionArn,
      Name: executionName,
      RoleArn: 'arn:aws:iam::000000000000:role/local-runner',
      ...(options.context?.['Execution'] as Json | undefined),
    },
    StateMachine: {
      Id: `arn:aws:states:local:000000000000:stateMachine:${stateMachineName}`,
      Name: stateMachineName,
      ...(options.context?.['StateMachine'] as Json | undefined),
    },
  };

  const execution = stateMachine.run(toJson(options.input), {
    overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides, retryIntervalOverrides },
    context: context as RunOptions['context'],
  });

  const onAbort = (): void => {
    if (stopped === undefined) stopped = 'aborted';
    execution.abort();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  // A throwing onEvent/onWait stops the run (it must not leave the execution running) and is rethrown.
  let callbackError: { error: unknown } | undefined;
  const callSafely = (callback: () => void): void => {
    try {
      callback();
    } catch (error) {
      if (callbackError === undefined) callbackError = { error };
      if (stopped === undefined) stopped = 'aborted';
      execution.abort();
    }
  };

  const counter = new HistoryCounter();
  let lastTopLevelState: Json | undefined;
  const consumeEvents = (async () => {
    for await (const event of execution.eventLogs) {
      const added = counter.add(event);
      // Any state's input or output over the quota ends the run, whatever its Catch says.
      if (stopped === undefined && (event.type === 'StateEntered' || event.type === 'StateExited')) {
        const which = event.type === 'StateEntered' ? 'input' : 'output';
        const payload = event.type === 'StateEntered' ? event.state.input : event.state.output;
        if (payload !== undefined && overPayloadLimit(payload)) {
          stopped = 'data-limit';
          dataLimitCause = dataLimitMessage(event.state.name, which);
          execution.abort();
        }
      }
      if (event.type === 'StateEntered' && event.index === undefined) {
        lastTopLevelState = findState(definition, event.state.name);
      }
      if (event.type === 'StateEntered') totals.statesEntered += 1;
      if (event.type === 'StateEntered' || event.type === 'StateRetried') totals.stateTransitions += 1;

      if (stopped === undefined && event.type !== 'ExecutionSucceeded' && totals.historyEvents + added >= historyEventLimit) {
        // AWS: when event 25,000 is not ExecutionSucceeded, ExecutionFailed is logged as that event.
        totals.historyEvents = historyEventLimit;
        stopped = 'history-limit';
        execution.abort();
      } else if (stopped !== 'history-limit') {
        totals.historyEvents += added;
      }

      const pause = pauseOf(event, definition, context, clock);
      if (pause !== undefined) {
        if (pause.kind === 'wait') intendedWaitSeconds += pause.seconds;
        clock?.advance(pause.seconds * 1000);
        if (onWait) callSafely(() => onWait({ ...pause, ...(clock ? { simulatedNowMs: clock.now() } : {}) }));
      }
      if (onEvent) callSafely(() => onEvent(event, snapshot()));
    }
  })();

  let outcome: Pick<RunStateMachineResult, 'status' | 'output' | 'error' | 'cause'>;
  try {
    const output = await execution.result;
    outcome = { status: 'SUCCEEDED', output };
  } catch (err) {
    outcome = describeFailure(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  await consumeEvents;
  // Stopped or not, no handler is left running behind the caller's back (its cleanup comes next).
  await Promise.allSettled([...inFlight]);
  if (callbackError !== undefined) throw callbackError.error;

  if (stopped === 'data-limit') {
    outcome = { status: 'FAILED', error: 'States.DataLimitExceeded', cause: dataLimitCause };
  } else if (stopped === 'history-limit') {
    outcome = {
      status: 'FAILED',
      error: 'States.Runtime',
      cause: `The execution reached the maximum number of history events (${historyEventLimit}).`,
    };
  } else if (outcome.status === 'FAILED' && lastTopLevelState?.['Type'] === 'Fail') {
    // The library names a Fail state without Error/Cause `FailStateError` / a stock message; AWS leaves them out.
    const fail = lastTopLevelState;
    outcome = {
      status: 'FAILED',
      ...(fail['Error'] !== undefined || fail['ErrorPath'] !== undefined ? { error: outcome.error } : {}),
      ...(fail['Cause'] !== undefined || fail['CausePath'] !== undefined ? { cause: outcome.cause } : {}),
    };
  }
  return { ...outcome, ...snapshot(), intendedWaitSeconds, executionArn };
}

function describeFailure(err: unknown): Pick<RunStateMachineResult, 'status' | 'error' | 'cause'> {
  if (err instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (err instanceof ExecutionTimeoutError) {
    return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution timed out (TimeoutSeconds).' };
  }
  if (err instanceof ExecutionError && err.cause instanceof Error) {
    return { status: 'FAILED', error: err.cause.name, cause: err.cause.message };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { status: 'FAILED', error: e.name, cause: e.message };
}

// ---------------------------------------------------------------------------------------------------
// Task routing

async function callRoute(
  route: Route,
  taskInput: unknown,
  lambdas: Readonly<Record<string, LocalLambda>>,
  services: Readonly<Record<string, LocalServiceIntegration>>,
): Promise<unknown> {
  switch (route.kind) {
    case 'lambda:invoke': {
      const parameters = isObject(taskInput) ? taskInput : {};
      const functionName = parameters['FunctionName'];
      const key = typeof functionName === 'string' ? lambdaKey(functionName) : undefined;
      const handler = key === undefined ? undefined : lambdas[key];
      if (handler === undefined) {
        throw namedError(
          'Lambda.ResourceNotFoundException',
          `Function not found: ${String(functionName)} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException)`,
        );
      }
      const payload = await invokeLambda(handler, parameters['Payload'] ?? {});
      // What the optimised Lambda integration returns, so the same ResultSelector works here and on AWS.
      return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
    }
    case 'lambda': {
      const handler = lambdas[route.key];
      if (handler === undefined) throw namedError('Lambda.ResourceNotFoundException', `Function not found: ${route.key}`);
      return invokeLambda(handler, taskInput);
    }
    case 'service': {
      const handler = services[route.resource];
      if (handler === undefined) throw namedError('States.Runtime', `No local handler for resource ${route.resource}`);
      return handler(structuredClone(taskInput));
    }
  }
}

/** Calls a handler as Lambda would: JSON in, JSON out, and a thrown error reported the Lambda way. */
async function invokeLambda(handler: LocalLambda, payload: unknown): Promise<unknown> {
  try {
    const result = await handler(toJson(payload));
    return result === undefined ? null : result;
  } catch (err) {
    throw lambdaFunctionError(err);
  }
}

/**
 * AWS reports a Lambda function error with `Error` = the runtime's `errorType` (the error's `name`)
 * and `Cause` = the function's error response as a JSON string; the Node.js runtime's is
 * `{"errorType","errorMessage","trace"}`.
 */
function lambdaFunctionError(err: unknown): Error & { originalError: unknown } {
  // A function run by the local Lambda service already reports its error the runtime's way.
  if (isObject(err) && typeof err['errorType'] === 'string' && Array.isArray(err['trace'])) {
    const { errorType, errorMessage, trace } = err as { errorType: string; errorMessage: string; trace: string[] };
    return Object.assign(namedError(errorType, JSON.stringify({ errorType, errorMessage, trace })), { originalError: err });
  }
  const errorType = err instanceof Error || (isObject(err) && typeof err['name'] === 'string') ? String((err as Error).name) : 'Error';
  const errorMessage = err instanceof Error ? err.message : isObject(err) ? String(err['message'] ?? '') : String(err);
  const trace = err instanceof Error && typeof err.stack === 'string' ? err.stack.split('\n') : [];
  const error = namedError(errorType, JSON.stringify({ errorType, errorMessage, trace }));
  return Object.assign(error, { originalError: err });
}

/** Over Step Functions' 256 KiB quota, measured as AWS does: the UTF-8 bytes of the JSON. */
function overPayloadLimit(value: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8') > MAX_PAYLOAD_BYTES;
}

function dataLimitMessage(stateName: string, what: 'input' | 'output' | 'result'): string {
  return what === 'result'
    ? `The state/task '${stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`
    : `The state/task '${stateName}' has an ${what} with a size exceeding the maximum number of bytes service limit.`;
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** An error that neither Retry nor Catch may match (the library reads these two flags). */
function terminalError(name: string, message: string): Error {
  return Object.assign(namedError(name, message), { isRetryable: false, isCatchable: false });
}

function stoppedError(stateName: string): Error {
  return terminalError('States.Runtime', `Execution stopped before state '${stateName}' could invoke its handler.`);
}

function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

function collectRoutes(
  definition: Json,
  lambdas: Readonly<Record<string, LocalLambda>>,
  services: Readonly<Record<string, LocalServiceIntegration>>,
): Map<string, Route> {
  const routes = new Map<string, Route>();
  const missing: string[] = [];
  for (const [name, state] of allStates(definition)) {
    if (state['Type'] !== 'Task') continue;
    const resource = String(state['Resource']);
    let route: Route;
    if (resource === LAMBDA_INVOKE) {
      const parameters = isObject(state['Parameters']) ? state['Parameters'] : {};
      const functionName = parameters['FunctionName'];
      const staticKey = typeof functionName === 'string' ? lambdaKey(functionName) : undefined;
      if (staticKey !== undefined && lambdas[staticKey] === undefined) missing.push(`${name}: lambdas.${staticKey}`);
      route = { kind: 'lambda:invoke' };
    } else if (PLACEHOLDER.test(resource) || LAMBDA_ARN.test(resource)) {
      const key = lambdaKey(resource);
      if (lambdas[key] === undefined) missing.push(`${name}: lambdas.${key}`);
      route = { kind: 'lambda', key };
    } else {
      if (services[resource] === undefined) missing.push(`${name}: services['${resource}']`);
      route = { kind: 'service', resource };
    }
    routes.set(name, route);
  }
  if (missing.length > 0) {
    throw new Error(`No local handler for these Task states: ${missing.join(', ')}`);
  }
  return routes;
}

// ---------------------------------------------------------------------------------------------------
// Definition

/** An in-memory copy with the library's deviations from AWS neutralised (see the module comment). */
function prepareDefinition(source: object, taskTimeoutSeconds: number): Json {
  const definition = structuredClone(source) as Json;
  const fix = (machine: Json): void => {
    clampTimeout(machine);
    const states = isObject(machine['States']) ? machine['States'] : {};
    for (const state of Object.values(states)) {
      if (!isObject(state)) continue;
      if (state['ResultPath'] === '$') delete state['ResultPath'];
      if (Array.isArray(state['Catch'])) {
        for (const catcher of state['Catch']) {
          if (isObject(catcher) && catcher['ResultPath'] === '$') delete catcher['ResultPath'];
        }
      }
      if (state['Type'] === 'Task') {
        if (state['TimeoutSeconds'] === undefined && state['TimeoutSecondsPath'] === undefined) {
          state['TimeoutSeconds'] = Math.min(taskTimeoutSeconds, MAX_TIMER_SECONDS);
        }
        clampTimeout(state);
      }
      for (const nested of nestedMachines(state)) fix(nested);
    }
  };
  fix(definition);
  return definition;
}

function clampTimeout(holder: Json): void {
  const timeout = holder['TimeoutSeconds'];
  if (typeof timeout === 'number' && timeout > MAX_TIMER_SECONDS) holder['TimeoutSeconds'] = MAX_TIMER_SECONDS;
}

function nestedMachines(state: Json): Json[] {
  const nested: Json[] = [];
  if (Array.isArray(state['Branches'])) nested.push(...state['Branches'].filter(isObject));
  if (isObject(state['Iterator'])) nested.push(state['Iterator']);
  if (isObject(state['ItemProcessor'])) nested.push(state['ItemProcessor']);
  return nested;
}

/** Every state, nested ones included (state names are unique across a whole definition). */
function allStates(machine: Json): Array<[string, Json]> {
  const found: Array<[string, Json]> = [];
  const states = isObject(machine['States']) ? machine['States'] : {};
  for (const [name, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    found.push([name, state]);
    for (const nested of nestedMachines(state)) found.push(...allStates(nested));
  }
  return found;
}

function collectStates(definition: Json, predicate: (state: Json) => boolean): string[] {
  return allStates(definition)
    .filter(([, state]) => predicate(state))
    .map(([name]) => name);
}

function findState(definition: Json, name: string): Json | undefined {
  return allStates(definition).find(([stateName]) => stateName === name)?.[1];
}

function usesPlaceholderResource(definition: Json): boolean {
  return allStates(definition).some(([, state]) => typeof state['Resource'] === 'string' && state['Resource'].includes('${'));
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------------
// Waits and retry backoffs

function pauseOf(
  event: ExecutionEvent,
  definition: Json,
  context: Json,
  clock: SimulatedClock | undefined,
): Omit<WaitReport, 'simulatedNowMs'> | undefined {
  if (event.type === 'StateEntered' && event.state.type === 'Wait') {
    const state = findState(definition, event.state.name);
    if (state === undefined) return undefined;
    const seconds = waitSeconds(state, event.state.input, context, clock?.now() ?? Date.now());
    return seconds === undefined ? undefined : { kind: 'wait', stateName: event.state.name, seconds };
  }
  if (event.type === 'StateRetried') {
    const { retrier, attempt } = event.retry;
    const interval = (retrier.IntervalSeconds ?? 1) * Math.pow(retrier.BackoffRate ?? 2, Math.max(0, attempt - 1));
    const seconds = retrier.MaxDelaySeconds === undefined ? interval : Math.min(interval, retrier.MaxDelaySeconds);
    return { kind: 'retry', stateName: event.state.name, seconds };
  }
  return undefined;
}

/** The seconds a Wait state pauses on AWS for this input (`undefined` if a path does not resolve). */
function waitSeconds(state: Json, rawInput: unknown, context: Json, nowMs: number): number | undefined {
  const inputPath = state['InputPath'];
  const input = inputPath === null ? {} : typeof inputPath === 'string' ? readPath(inputPath, rawInput, context) : rawInput;
  const fromTimestamp = (value: unknown): number | undefined => {
    const ms = typeof value === 'string' ? Date.parse(value) : NaN;
    return Number.isNaN(ms) ? undefined : Math.max(0, (ms - nowMs) / 1000);
  };
  if (typeof state['Seconds'] === 'number') return state['Seconds'];
  if (typeof state['SecondsPath'] === 'string') {
    const seconds = readPath(state['SecondsPath'], input, context);
    return typeof seconds === 'number' ? seconds : undefined;
  }
  if (typeof state['Timestamp'] === 'string') return fromTimestamp(state['Timestamp']);
  if (typeof state['TimestampPath'] === 'string') return fromTimestamp(readPath(state['TimestampPath'], input, context));
  return undefined;
}

/** A reference path (`$`, `$.a.b`, `$.a[0]`, `$['a']`, `$$.Execution.Id`); `undefined` if it does not resolve. */
export function readPath(path: string, input: unknown, context: unknown): unknown {
  let value: unknown;
  let rest: string;
  if (path.startsWith('$$')) {
    value = context;
    rest = path.slice(2);
  } else if (path.startsWith('$')) {
    value = input;
    rest = path.slice(1);
  } else {
    return undefined;
  }
  const step = /\.([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y;
  while (rest.length > 0) {
    step.lastIndex = 0;
    const match = step.exec(rest);
    if (match === null) return undefined;
    rest = rest.slice(match[0].length);
    const index = match[2];
    if (index !== undefined) {
      if (!Array.isArray(value)) return undefined;
      value = value[Number(index)];
    } else {
      if (!isObject(value)) return undefined;
      value = value[match[1] ?? match[3] ?? match[4] ?? ''];
    }
    if (value === undefined) return undefined;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// History events

/**
 * Counts the events AWS writes to a Standard workflow's execution history (quota: 25,000 per
 * execution, after which AWS fails the execution; see "Avoid reaching the history quota",
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html; event types:
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html).
 *
 * The per-state rules are read off execution histories recorded against AWS in LocalStack's snapshot
 * tests (github.com/localstack/localstack, tests/aws/services/stepfunctions/v2/: error_handling/
 * test_task_service_lambda, test_task_lambda, scenarios/test_base_scenarios, base/test_wait,
 * test_sfn_api::test_stop_execution, timeouts/test_timeouts):
 *
 * - execution: `ExecutionStarted` + one of `ExecutionSucceeded | ExecutionFailed | ExecutionAborted |
 *   ExecutionTimedOut` = 2.
 * - Pass, Choice, Wait, Succeed: `<Type>StateEntered` + `<Type>StateExited` = 2
 *   (a Wait stopped by StopExecution: `WaitStateEntered`, then `ExecutionAborted`).
 * - Fail: `FailStateEntered` = 1 (then `ExecutionFailed`).
 * - Task: `TaskStateEntered`; per attempt `TaskScheduled`, `TaskStarted`, then `TaskSucceeded |
 *   TaskFailed | TaskTimedOut` (a Lambda Resource ARN writes `LambdaFunctionScheduled | Started |
 *   Succeeded | Failed | TimedOut` instead: the same count); `TaskStateExited` when it succeeds or is
 *   caught, none when the failure ends the execution. A retry writes no event of its own, only the next
 *   attempt's three: a Task that fails 4 times then is caught = 1 + 4 × 3 + 1 = 14.
 *   Stopped while an attempt runs: `TaskStateAborted` (seen for Tasks aborted inside a Map).
 * - Map (inline): `MapStateEntered`, `MapStateStarted` (again per retry), per iteration
 *   `MapIterationStarted` + `MapIterationSucceeded | MapIterationFailed`, the inner states, then
 *   `MapStateSucceeded` + `MapStateExited`, or `MapStateFailed` (+ `MapStateExited` if caught).
 * - Parallel: `ParallelStateEntered`, `ParallelStateStarted` (again per retry), the branches' states,
 *   then `ParallelStateExited`, or `ParallelStateFailed` (+ `ParallelStateExited` if caught).
 *
 * Known approximation: a Task that fails before invoking anything (an unresolvable `Parameters` path)
 * is counted as if it had been scheduled and started.
 */
class HistoryCounter {
  /** Per running state (by name and Map iteration): caught since entry, attempt running, failure pending. */
  private readonly running = new Map<string, { caught: boolean; attempt: boolean; pendingFailure: boolean }>();

  /** The number of AWS history events this library event stands for. */
  add(event: ExecutionEvent): number {
    switch (event.type) {
      case 'ExecutionStarted':
      case 'ExecutionSucceeded':
      case 'ExecutionTimeout':
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        return 1;
      case 'ParallelBranchStarted':
      case 'ParallelBranchSucceeded':
      case 'ParallelBranchFailed':
        return 0;
      case 'ExecutionFailed':
        return 1 + this.settlePendingFailures();
      case 'ExecutionAborted': {
        let aborted = 0;
        for (const frame of this.running.values()) if (frame.attempt) aborted += 1;
        this.running.clear();
        return 1 + aborted;
      }
      case 'StateEntered': {
        const type = event.state.type;
        const hasAttempts = type === 'Task' || type === 'Map' || type === 'Parallel';
        this.running.set(this.key(event), { caught: false, attempt: hasAttempts, pendingFailure: false });
        if (type === 'Task') return 1 + 2;
        if (type === 'Map' || type === 'Parallel') return 1 + 1;
        return 1;
      }
      case 'StateRetried': {
        const frame = this.running.get(this.key(event));
        if (frame) Object.assign(frame, { attempt: true, pendingFailure: false });
        return event.state.type === 'Task' ? 2 : event.state.type === 'Map' || event.state.type === 'Parallel' ? 1 : 0;
      }
      case 'StateFailed': {
        const frame = this.running.get(this.key(event));
        if (frame) frame.attempt = false;
        if (event.state.type === 'Task') return 1;
        if ((event.state.type === 'Map' || event.state.type === 'Parallel') && frame) frame.pendingFailure = true;
        return 0;
      }
      case 'StateCaught': {
        const frame = this.running.get(this.key(event));
        if (!frame) return 0;
        frame.caught = true;
        const failed = frame.pendingFailure ? 1 : 0;
        frame.pendingFailure = false;
        return failed;
      }
      case 'StateExited': {
        const key = this.key(event);
        const frame = this.running.get(key);
        this.running.delete(key);
        const type = event.state.type;
        if (type === 'Fail') return 0;
        if ((type === 'Task' || type === 'Map') && !frame?.caught) return 2;
        return 1;
      }
    }
    return 0;
  }

  private settlePendingFailures(): number {
    let failed = 0;
    for (const frame of this.running.values()) if (frame.pendingFailure) failed += 1;
    return failed;
  }

  private key(event: { state: { name: string }; index?: number }): string {
    return `${event.index ?? ''}/${event.state.name}`;
  }
}
