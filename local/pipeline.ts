import './runner/polyfill';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { acquireLock } from '../lambdas/acquire-lock/acquire-lock';
import { abortRun } from '../lambdas/abort-run/abort-run';
import { checkApproval } from '../lambdas/check-approval/check-approval';
import { checkHeader } from '../lambdas/check-header/check-header';
import { checkParity } from '../lambdas/check-parity/check-parity';
import { finishRun } from '../lambdas/finish-run/finish-run';
import { launchReindex, sendApprovedRequest, type RequestBuilder } from '../lambdas/launch-reindex/launch-reindex';
import { pollTask } from '../lambdas/poll-task/poll-task';
import { preflight } from '../lambdas/preflight/preflight';
import { recordApproval } from '../lambdas/record-approval/record-approval';
import { causeMessage, recordFailure } from '../lambdas/record-failure/record-failure';
import { reconcile } from '../lambdas/reconcile/reconcile';
import { validateInput } from '../lambdas/validate-input/validate-input';
import { acquireTaskSlot } from '../lambdas/acquire-task-slot/acquire-task-slot';
import { checkPartitionHeader } from '../lambdas/check-partition-header/check-partition-header';
import { launchPartition } from '../lambdas/launch-partition/launch-partition';
import { partitionFailed } from '../lambdas/partition-failed/partition-failed';
import { pollPartition } from '../lambdas/poll-partition/poll-partition';
import { reconcilePartition } from '../lambdas/reconcile-partition/reconcile-partition';
import { reconcileRun } from '../lambdas/reconcile-run/reconcile-run';
import { releaseTaskSlot } from '../lambdas/release-task-slot/release-task-slot';
import { LOCAL_ENV_CREDENTIALS } from '../lambdas/shared/canonical-request';
import { createLedgerTable, Ledger, type JsonObject, type LockHolder, type RunRecord } from '../lambdas/shared/ledger';
import type { MetricName, RunDeps, RunLog, RunMetrics, StateInvocation } from '../lambdas/shared/run-context';
import { createSearchClient } from '../lambdas/shared/search-client';
import { runStateMachine, type RunStateMachineResult } from './runner/run-state-machine';

/**
 * Runs ReindexRun locally: the same ASL file as AWS, the same state logic in-process, against any
 * two clusters and a DynamoDB API (dynalite by default). Source credentials come from
 * SAFE_REINDEX_SOURCE_USERNAME / SAFE_REINDEX_SOURCE_PASSWORD.
 */

const here = dirname(fileURLToPath(import.meta.url));
export const REINDEX_RUN_ASL = join(here, '..', 'statemachines', 'reindex-run.asl.json');
export const DEFAULT_TABLE = 'safe-reindex-ledger';

export interface LocalRunOptions {
  /** Exactly the console input. */
  readonly input: unknown;
  readonly targetUrl: string;
  readonly ledgerEndpoint: string;
  readonly tableName?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Ctrl-C: the execution stops, its task is cancelled, its lock released, the run marked ABORTED. */
  readonly signal?: AbortSignal;
  readonly log?: RunLog;
  readonly metrics?: RunMetrics;
  /** Milliseconds for each Wait of the poll loop instead of the seconds chosen; @default the real wait */
  readonly pollWaitMs?: number;
  /** Retry backoffs in milliseconds instead of the ASL's; @default the real backoff */
  readonly retryIntervalMs?: number;
  /** Tests only: the launch's request builder (a faulty one proves rail 2). */
  readonly launchRequestBuilder?: RequestBuilder;
  /** Tests and benchmarks only: called before each state's logic runs, with its function key (`LaunchReindexFunctionArn`). */
  readonly beforeState?: (functionKey: string) => Promise<void> | void;
  readonly now?: () => Date;
  /** Reindex tasks writing into the target domain at once across all runs (a deployment setting on AWS); @default 4 */
  readonly maxTasksPerDomain?: number;
  /** Milliseconds for each Wait for a free task slot instead of the seconds chosen; @default pollWaitMs, else the real wait */
  readonly slotWaitMs?: number;
}

export interface LocalRunResult {
  readonly runId: string | undefined;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly error: string | null;
  readonly cause: string | null;
  readonly record: RunRecord | undefined;
  /** The execution's output when it SUCCEEDED (what `startExecution.sync:2` hands a parent as `Output`). */
  readonly output?: unknown;
  readonly execution: Pick<RunStateMachineResult, 'historyEvents' | 'stateTransitions' | 'intendedWaitSeconds'>;
}

/** Metrics kept in memory: the local runner prints them to stderr or tests read them. */
export function collectingMetrics(): RunMetrics & { emitted: Array<{ targetIndex: string; name: MetricName; value: number }> } {
  const emitted: Array<{ targetIndex: string; name: MetricName; value: number }> = [];
  return {
    emitted,
    emit(targetIndex, values) {
      for (const [name, value] of Object.entries(values)) emitted.push({ targetIndex, name: name as MetricName, value: value as number });
    },
  };
}

const silent: RunLog = { info: () => undefined, warn: () => undefined };

export function localCredentials(env: NodeJS.ProcessEnv): { username: string; password: string } | undefined {
  const username = env.SAFE_REINDEX_SOURCE_USERNAME;
  const password = env.SAFE_REINDEX_SOURCE_PASSWORD;
  return username && password ? { username, password } : undefined;
}

let localExecutions = 0;

/**
 * A local execution's id names this host and process, so a lock it left behind can be seen to be stale,
 * and is new for every execution (as on AWS): a second run under a used runId in the same process is a
 * reuse, not a retry of the first execution.
 */
export function localExecutionArn(runId: string): string {
  localExecutions += 1;
  return `arn:local:states:${hostname()}:${process.pid}:${runId}:${localExecutions}`;
}

function localProcessGone(executionArn: string | undefined): boolean {
  const match = executionArn ? /^arn:local:states:([^:]+):(\d+):/.exec(executionArn) : null;
  if (!match || match[1] !== hostname()) return false;
  try {
    process.kill(Number(match[2]), 0);
    return false;
  } catch {
    return true;
  }
}

/** A document client for a local DynamoDB API (dynalite): any region and credentials do. */
export function localDocumentClient(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
}

export async function localLedger(endpoint: string, tableName = DEFAULT_TABLE): Promise<Ledger> {
  const client = localDocumentClient(endpoint);
  await createLedgerTable(client, tableName);
  return new Ledger({ client, tableName });
}

export async function localDeps(options: LocalRunOptions, ledger: Ledger): Promise<RunDeps> {
  const env = options.env ?? process.env;
  const credentials = localCredentials(env);
  return {
    ledger,
    target: await createSearchClient({ url: options.targetUrl, requestTimeoutMs: 60_000 }),
    targetEndpoint: options.targetUrl,
    sourceClient: (config) => createSearchClient({ url: config.source.url, ...(credentials ? { auth: credentials } : {}) }),
    sourceCredentials: async () => credentials,
    credentialReference: () => (credentials ? LOCAL_ENV_CREDENTIALS : undefined),
    async isHolderFinished(holder: LockHolder) {
      return (await ledger.isRunFinished(holder.runId)) || localProcessGone(holder.executionArn);
    },
    ...(options.maxTasksPerDomain === undefined ? {} : { maxTasksPerDomain: options.maxTasksPerDomain }),
    metrics: options.metrics ?? collectingMetrics(),
    log: options.log ?? silent,
    now: options.now ?? (() => new Date()),
  };
}

export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
  const ledger = await localLedger(options.ledgerEndpoint, options.tableName);
  const deps = await localDeps(options, ledger);
  const runId = typeof (options.input as { runId?: unknown })?.runId === 'string' ? (options.input as { runId: string }).runId : undefined;
  const executionArn = localExecutionArn(runId ?? 'unnamed');
  const state = (fn: (invocation: StateInvocation, deps: RunDeps) => Promise<unknown>) => (payload: unknown) =>
    fn(payload as StateInvocation, deps);

  const lambdas: Record<string, (payload: unknown) => Promise<unknown>> = {
    ValidateInputFunctionArn: (payload) => validateInput(payload as { input: unknown; executionArn?: string }, deps),
    AcquireLockFunctionArn: state(acquireLock),
    PreflightFunctionArn: state(preflight),
    RecordApprovalFunctionArn: state(recordApproval),
    CheckApprovalFunctionArn: state(checkApproval),
    LaunchReindexFunctionArn: (payload) =>
      launchReindex(payload as StateInvocation, deps, options.launchRequestBuilder ?? sendApprovedRequest),
    CheckHeaderFunctionArn: state(checkHeader),
    PollTaskFunctionArn: state(pollTask),
    ReconcileFunctionArn: state(reconcile),
    CheckParityFunctionArn: state(checkParity),
    FinishRunFunctionArn: state(finishRun),
    RecordFailureFunctionArn: state(recordFailure),
    AcquireTaskSlotFunctionArn: state(acquireTaskSlot),
    LaunchPartitionFunctionArn: (payload) =>
      launchPartition(payload as StateInvocation, deps, options.launchRequestBuilder ?? sendApprovedRequest),
    CheckPartitionHeaderFunctionArn: state(checkPartitionHeader),
    PollPartitionFunctionArn: state(pollPartition),
    ReconcilePartitionFunctionArn: state(reconcilePartition),
    ReleaseTaskSlotFunctionArn: state(releaseTaskSlot),
    PartitionFailedFunctionArn: state(partitionFailed),
    ReconcileRunFunctionArn: state(reconcileRun),
  };
  const waits: Record<string, number> = {};
  if (options.pollWaitMs !== undefined) Object.assign(waits, { WaitForProgress: options.pollWaitMs, WaitForPartition: options.pollWaitMs });
  const slotWait = options.slotWaitMs ?? options.pollWaitMs;
  if (slotWait !== undefined) waits.WaitForTaskSlot = slotWait;
  const hook = options.beforeState;
  const result = await runStateMachine({
    definition: JSON.parse(readFileSync(REINDEX_RUN_ASL, 'utf8')) as object,
    input: options.input,
    executionName: runId ?? 'unnamed',
    stateMachineName: 'ReindexRun',
    context: { Execution: { Id: executionArn, Name: runId ?? 'unnamed' } },
    lambdas: hook
      ? Object.fromEntries(
          Object.entries(lambdas).map(([key, fn]) => [key, async (payload: unknown) => (await hook(key), fn(payload))]),
        )
      : lambdas,
    ...(Object.keys(waits).length === 0 ? {} : { waitTimeOverrides: waits }),
    ...(options.retryIntervalMs === undefined ? {} : { retryIntervalOverrides: retryOverrides(options.retryIntervalMs) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });

  // What the execution status-change rule does on AWS: a stopped, timed-out or failed execution never
  // leaves its task running or its lock held (a run that recorded its failure keeps it).
  if (result.status !== 'SUCCEEDED' && runId) {
    await abortRun({ runId, executionArn, status: result.status }, deps).catch((err: unknown) =>
      deps.log.warn('cleanup after the execution ended failed', { runId, error: (err as Error).message }),
    );
  }
  const record = runId ? await ledger.getRun(runId) : undefined;
  const ownRecord = record && record.executionArn === executionArn ? record : undefined;
  return {
    runId,
    status: result.status === 'SUCCEEDED' ? 'SUCCEEDED' : result.status === 'ABORTED' ? 'ABORTED' : 'FAILED',
    error: result.status === 'SUCCEEDED' ? null : result.status === 'ABORTED' ? 'Aborted' : (result.error ?? 'RunFailed'),
    cause: result.status === 'SUCCEEDED' ? null : (ownRecord?.cause ?? (causeMessage(result.cause) || null)),
    record: ownRecord,
    ...(result.status === 'SUCCEEDED' ? { output: result.output } : {}),
    execution: {
      historyEvents: result.historyEvents,
      stateTransitions: result.stateTransitions,
      intendedWaitSeconds: result.intendedWaitSeconds,
    },
  };
}

function retryOverrides(ms: number): Record<string, number> {
  type Machine = { States: Record<string, { Type: string; ItemProcessor?: Machine }> };
  const tasks = (machine: Machine): string[] =>
    Object.entries(machine.States).flatMap(([name, s]) => [...(s.Type === 'Task' ? [name] : []), ...(s.ItemProcessor ? tasks(s.ItemProcessor) : [])]);
  return Object.fromEntries(tasks(JSON.parse(readFileSync(REINDEX_RUN_ASL, 'utf8')) as Machine).map((name) => [name, ms]));
}


export type { JsonObject };
