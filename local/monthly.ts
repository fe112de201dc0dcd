import './runner/polyfill';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunLog, RunMetrics } from '../lambdas/shared/runtime/run-context';
import { ensureCloudAssembly, type CloudAssembly } from './lambda/cloud-assembly';
import { localFunctions } from './lambda/local-functions';
import { startLocalTopic } from './lambda/local-topic';
import { DEFAULT_TABLE, localLedger, runLocal } from './pipeline';
import { createChildExecutions, START_EXECUTION_SYNC2, type ChildExecution, type ChildRunner } from './runner/child-executions';
import { lambdaKey, runStateMachine, type ExecutionEvent, type RunTotals } from './runner/run-state-machine';
import {
  defaultTaskTokens,
  LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN,
  taskTokenContext,
  type OnTaskToken,
  type TaskTokenRegistry,
} from './runner/task-tokens';

/**
 * Runs MonthlyBackfill locally as it is deployed: the definition from the synthesised template,
 * PlanMonths and RequestApproval run from their bundled assets on the local ledger, each month's
 * ReindexRun (dry, then live) through `runLocal` against the same target and ledger as a
 * `startExecution.sync:2` child, and the manual approval through the in-process task-token registry
 * (`onTaskToken` receives what a subscriber of the alarm topic would, with the task token; answer with
 * `sendTaskSuccess` / `sendTaskFailure` from `./runner/task-tokens`, or on the `tokens` registry given).
 */

const here = dirname(fileURLToPath(import.meta.url));
/** The ASL source file (the synthesised template carries it with its substitutions applied). */
export const MONTHLY_BACKFILL_ASL = join(here, '..', 'statemachines', 'monthly-backfill.asl.json');

export interface MonthlyBackfillLocalOptions {
  /** Exactly the console input of MonthlyBackfill. */
  readonly input: unknown;
  readonly targetUrl: string;
  readonly ledgerEndpoint: string;
  readonly tableName?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The execution name (child run ids derive from it). @default `backfill-<time>` */
  readonly executionName?: string;
  /** The execution's start time for PlanMonths ("previous", the current month). @default now */
  readonly now?: () => Date;
  /** Manual approval: called with the SNS message and its token once a month's dry run succeeded. */
  readonly onTaskToken?: OnTaskToken;
  /** @default the module-level registry that `sendTaskSuccess` / `sendTaskFailure` answer */
  readonly tokens?: TaskTokenRegistry;
  /** Ctrl-C: the backfill stops, and so does the running child (its task cancelled, its run ABORTED). */
  readonly signal?: AbortSignal;
  readonly log?: RunLog;
  readonly metrics?: RunMetrics;
  /** Passed to each child run: milliseconds per poll Wait. */
  readonly pollWaitMs?: number;
  /** Passed to each child run: retry backoffs in milliseconds. */
  readonly retryIntervalMs?: number;
  /** Replaces the child runner (tests): the default runs ReindexRun through `runLocal`. */
  readonly childRunner?: ChildRunner;
  readonly onEvent?: (event: ExecutionEvent, totals: RunTotals) => void;
  /** The synthesised assembly to run; @default the project's, synthesised when stale */
  readonly assembly?: CloudAssembly;
}

/** A Task failure seen by the parent (before any Catch), as AWS's TaskFailed history event has it. */
export interface TaskFailure {
  readonly state: string;
  readonly error: string;
  readonly cause: string;
}

export interface MonthlyBackfillLocalResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly executionArn: string;
  /** Every ReindexRun started, in order, as DescribeExecution reports it. */
  readonly children: readonly ChildExecution[];
  readonly taskFailures: readonly TaskFailure[];
  readonly historyEvents: number;
  readonly stateTransitions: number;
}

export async function runMonthlyBackfillLocal(options: MonthlyBackfillLocalOptions): Promise<MonthlyBackfillLocalResult> {
  const assembly = options.assembly ?? (await ensureCloudAssembly());
  const machine = assembly.stateMachines['MonthlyBackfill'];
  const reindexRunArn = assembly.stateMachines['ReindexRun']?.arn;
  if (!machine || !reindexRunArn) throw new Error(`${assembly.templateFile} lacks the MonthlyBackfill or ReindexRun state machine`);
  const tableName = options.tableName ?? DEFAULT_TABLE;
  await localLedger(options.ledgerEndpoint, tableName);
  const tokens = options.tokens ?? defaultTaskTokens;
  const executionName = options.executionName ?? `backfill-${Date.now().toString(36)}`;

  const reindexRun: ChildRunner =
    options.childRunner ??
    (async ({ input, signal }) => {
      const result = await runLocal({
        input,
        assembly,
        targetUrl: options.targetUrl,
        ledgerEndpoint: options.ledgerEndpoint,
        tableName,
        ...(options.env ? { env: options.env } : {}),
        ...(options.log ? { log: options.log } : {}),
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.pollWaitMs === undefined ? {} : { pollWaitMs: options.pollWaitMs }),
        ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
        ...(signal ? { signal } : {}),
      });
      if (result.status === 'SUCCEEDED') return { status: 'SUCCEEDED', output: result.output };
      return {
        status: result.status,
        ...(result.error === null ? {} : { error: result.error }),
        ...(result.cause === null ? {} : { cause: result.cause }),
      };
    });
  const children = createChildExecutions({
    runners: { [reindexRunArn]: reindexRun },
    ...(options.signal ? { signal: options.signal } : {}),
  });

  const onTaskToken: OnTaskToken =
    options.onTaskToken ??
    (({ token }) => {
      throw new Error(`manual approval requested (token ${token.slice(0, 8)}…) but no onTaskToken was given`);
    });
  // The tokens of approval requests whose message is not delivered yet, oldest first: RequestApproval
  // keeps the token out of the message (it is in the ledger), so the local subscriber is handed it here.
  const awaitingMessage: string[] = [];
  const topic = await startLocalTopic(async ({ topicArn, subject, message }) => {
    const token = awaitingMessage.shift();
    if (token === undefined) return;
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      json = undefined;
    }
    try {
      await onTaskToken({ token, topicArn, ...(subject === undefined ? {} : { subject }), message, ...(json === undefined ? {} : { json }) });
    } catch (err) {
      tokens.sendTaskFailure(token, 'States.TaskFailed', (err as Error).message);
    }
  });
  const functions = localFunctions(
    assembly,
    { targetUrl: options.targetUrl, ledgerEndpoint: options.ledgerEndpoint, tableName, snsEndpoint: topic.endpoint, ...(options.env ? { env: options.env } : {}) },
    { ...(options.log ? { log: options.log } : {}), ...(options.metrics ? { metrics: options.metrics } : {}) },
  );

  const taskFailures: TaskFailure[] = [];
  const expire = tokens.expireOnExecutionEnd();
  const startTime = (options.now ?? (() => new Date()))().toISOString();

  let result: Awaited<ReturnType<typeof runStateMachine>>;
  try {
    result = await runStateMachine({
      definition: machine.definition,
      input: options.input,
      executionName,
      stateMachineName: 'MonthlyBackfill',
      context: { ...taskTokenContext(), Execution: { StartTime: startTime } },
      lambdas: functions,
      services: {
        [START_EXECUTION_SYNC2]: children.service,
        [LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN]: tokens.lambdaInvokeService(async (functionName, payload) => {
          const fn = functions[lambdaKey(functionName)];
          if (!fn) throw Object.assign(new Error(`Function not found: ${functionName}`), { name: 'Lambda.ResourceNotFoundException' });
          const token = (payload as { taskToken?: unknown } | null)?.taskToken;
          if (typeof token === 'string') awaitingMessage.push(token);
          try {
            return await fn(payload);
          } catch (err) {
            if (typeof token === 'string') awaitingMessage.splice(awaitingMessage.indexOf(token), 1);
            throw err;
          }
        }),
      },
      ...(options.signal ? { signal: options.signal } : {}),
      onEvent: (event, totals) => {
        if (event.type === 'StateFailed' && event.state.type === 'Task') {
          taskFailures.push({ state: event.state.name, error: event.Error, cause: String(event.Cause ?? '') });
        }
        expire(event);
        options.onEvent?.(event, totals);
      },
    });
  } finally {
    await topic.stop();
  }

  return {
    status: result.status,
    ...(result.output === undefined ? {} : { output: result.output }),
    ...(result.error === undefined ? {} : { error: result.error }),
    ...(result.cause === undefined ? {} : { cause: result.cause }),
    executionArn: result.executionArn,
    children: children.executions,
    taskFailures,
    historyEvents: result.historyEvents,
    stateTransitions: result.stateTransitions,
  };
}
