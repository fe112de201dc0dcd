import './runner/polyfill';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planMonthsState, type PlanMonthsInvocation } from '../lambdas/plan-months/plan-months';
import type { RunLog, RunMetrics } from '../lambdas/shared/run-context';
import { requestApproval, type ApprovalRequest } from '../lambdas/request-approval/request-approval';
import { DEFAULT_TABLE, localDocumentClient, localLedger, runLocal } from './pipeline';
import { createChildExecutions, START_EXECUTION_SYNC2, type ChildExecution, type ChildRunner } from './runner/child-executions';
import { runStateMachine, type ExecutionEvent, type RunTotals } from './runner/run-state-machine';
import {
  defaultTaskTokens,
  LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN,
  taskTokenContext,
  type OnTaskToken,
  type TaskTokenRegistry,
} from './runner/task-tokens';

/**
 * Runs MonthlyBackfill locally: the same ASL file as AWS, PlanMonths in-process on the local ledger,
 * each month's ReindexRun (dry, then live) through `runLocal` against the same target and ledger as a
 * `startExecution.sync:2` child, and the manual approval through the in-process task-token registry
 * (`onTaskToken` receives what the SNS topic would; answer with `sendTaskSuccess` / `sendTaskFailure`
 * from `./runner/task-tokens`, or on the `tokens` registry given).
 */

const here = dirname(fileURLToPath(import.meta.url));
export const MONTHLY_BACKFILL_ASL = join(here, '..', 'statemachines', 'monthly-backfill.asl.json');
/** What `${ReindexRunStateMachineArn}` stands for locally. */
export const LOCAL_REINDEX_RUN_ARN = 'arn:aws:states:local:000000000000:stateMachine:ReindexRun';
/** What `${AlarmTopicArn}` stands for locally. */
export const LOCAL_ALARM_TOPIC_ARN = 'arn:aws:sns:local:000000000000:safe-reindex-alarms';

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

/** Substitutes `${Name}` placeholders whose whole value is a placeholder, as CDK's definitionSubstitutions do. */
export function substitute(definition: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof definition === 'string') {
    const match = /^\$\{([A-Za-z0-9_]+)\}$/.exec(definition);
    return match && values[match[1]!] !== undefined ? values[match[1]!] : definition;
  }
  if (Array.isArray(definition)) return definition.map((item) => substitute(item, values));
  if (typeof definition === 'object' && definition !== null) {
    return Object.fromEntries(Object.entries(definition).map(([key, value]) => [key, substitute(value, values)]));
  }
  return definition;
}

export async function runMonthlyBackfillLocal(options: MonthlyBackfillLocalOptions): Promise<MonthlyBackfillLocalResult> {
  const tableName = options.tableName ?? DEFAULT_TABLE;
  const ledger = await localLedger(options.ledgerEndpoint, tableName);
  const tokens = options.tokens ?? defaultTaskTokens;
  const executionName = options.executionName ?? `backfill-${Date.now().toString(36)}`;

  const reindexRun: ChildRunner =
    options.childRunner ??
    (async ({ input, signal }) => {
      const result = await runLocal({
        input,
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
    runners: { [LOCAL_REINDEX_RUN_ARN]: reindexRun },
    ...(options.signal ? { signal: options.signal } : {}),
  });

  const onTaskToken: OnTaskToken =
    options.onTaskToken ??
    (({ token }) => {
      throw new Error(`manual approval requested (token ${token.slice(0, 8)}…) but no onTaskToken was given`);
    });

  const taskFailures: TaskFailure[] = [];
  const expire = tokens.expireOnExecutionEnd();
  const definition = substitute(JSON.parse(readFileSync(MONTHLY_BACKFILL_ASL, 'utf8')), {
    ReindexRunStateMachineArn: LOCAL_REINDEX_RUN_ARN,
  }) as object;

  const result = await runStateMachine({
    definition,
    input: options.input,
    executionName,
    stateMachineName: 'MonthlyBackfill',
    context: taskTokenContext(),
    lambdas: {
      PlanMonthsFunctionArn: (payload) =>
        planMonthsState(payload as PlanMonthsInvocation, { ledger, ...(options.now ? { now: options.now } : {}) }),
    },
    services: {
      [START_EXECUTION_SYNC2]: children.service,
      [LAMBDA_INVOKE_WAIT_FOR_TASK_TOKEN]: tokens.lambdaInvokeService((_functionName, payload) => {
        const request = payload as ApprovalRequest;
        return requestApproval(request, {
          ledger,
          documentClient: localDocumentClient(options.ledgerEndpoint),
          tableName,
          topicArn: LOCAL_ALARM_TOPIC_ARN,
          // What a subscriber of the alarm topic receives.
          publish: async (topicArn, subject, message) =>
            onTaskToken({ token: request.taskToken, topicArn, subject, message, json: JSON.parse(message) as unknown }),
          now: options.now ?? (() => new Date()),
        });
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
