import './runner/polyfill';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { causeMessage } from '../lambdas/shared/runtime/errors';
import { WHOLE_INDEX_PARTITION_ID } from '../lambdas/shared/planning/partitions';
import { createLedgerTable } from './ledger/table';
import { Ledger, type JsonObject, type PartitionItem, type RunRecord } from '../lambdas/shared/ledger/ledger';
import type { MetricName, RunLog, RunMetrics } from '../lambdas/shared/runtime/run-context';
import { ensureCloudAssembly, type CloudAssembly } from './lambda/cloud-assembly';
import { localFunctions } from './lambda/local-functions';
import { endLocalExecution, registerLocalExecution } from './ledger/ledger';
import { runStateMachine, type RunStateMachineResult } from './runner/run-state-machine';

/**
 * Runs ReindexRun locally as it is deployed: the state machine definition from the synthesised
 * template (DefinitionSubstitutions applied), each Task's function run from its bundled asset by the
 * local Lambda service (`./lambda`), against any two clusters and a DynamoDB API (dynalite by
 * default). Source credentials come from SAFE_REINDEX_SOURCE_USERNAME / SAFE_REINDEX_SOURCE_PASSWORD.
 */

const here = dirname(fileURLToPath(import.meta.url));
/** The ASL source file (the synthesised template carries it with its substitutions applied). */
export const REINDEX_RUN_ASL = join(here, '..', 'statemachines', 'reindex-run.asl.json');
export const DEFAULT_TABLE = 'safe-reindex-ledger';

export interface LocalRunOptions {
  /** Exactly the console input. */
  readonly input: unknown;
  readonly targetUrl: string;
  readonly ledgerEndpoint: string;
  readonly tableName?: string;
  /** SAFE_REINDEX_SOURCE_USERNAME / _PASSWORD are read from here; @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Ctrl-C: the execution stops, its task is cancelled, its lock released, the run marked ABORTED. */
  readonly signal?: AbortSignal;
  /** The functions' log lines (Powertools JSON), as CloudWatch Logs would receive them. */
  readonly log?: RunLog;
  /** The functions' EMF metrics, as CloudWatch would receive them. */
  readonly metrics?: RunMetrics;
  /** Milliseconds for each Wait of the poll loop instead of the seconds chosen; @default the real wait */
  readonly pollWaitMs?: number;
  /** Retry backoffs in milliseconds instead of the ASL's; @default the real backoff */
  readonly retryIntervalMs?: number;
  /** Tests and benchmarks only: called before each Task invokes its function, with the function's substitution key (`LaunchReindexFunctionArn`). */
  readonly beforeState?: (functionKey: string) => Promise<void> | void;
  /** Reindex tasks writing into the target domain at once across all runs (MAX_TASKS_PER_DOMAIN); @default the template's */
  readonly maxTasksPerDomain?: number;
  /** Milliseconds for each Wait for a free task slot instead of the seconds chosen; @default pollWaitMs, else the real wait */
  readonly slotWaitMs?: number;
  /** The synthesised assembly to run; @default the project's, synthesised when stale */
  readonly assembly?: CloudAssembly;
  /** The folder standing for the differences bucket: `<folder>/<run id>/differences/`. @default runs/ */
  readonly differencesDirectory?: string;
  /** Seconds after which one CheckParity invocation starts no new range; @default the handler's (480) */
  readonly verifyInvocationSeconds?: number;
  /** Documents above which a verification range is halved or sliced; @default the handler's (200,000) */
  readonly verifyRangeDocs?: number;
}

export interface LocalRunResult {
  readonly runId: string | undefined;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly error: string | null;
  readonly cause: string | null;
  readonly record: RunRecord | undefined;
  /** The run's reindex tasks as the ledger holds them: one item per partition (a run without partitions: one, `all`). */
  readonly tasks: readonly PartitionItem[];
  /** The id of the last task launched, when the run has one task (no partitions). */
  readonly taskId: string | undefined;
  /** The execution's output when it SUCCEEDED (what `startExecution.sync:2` hands a parent as `Output`). */
  readonly output?: unknown;
  readonly executionArn: string;
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

let localExecutions = 0;

/**
 * A local execution's ARN, shaped as AWS's (`...:execution:ReindexRun:<name>`), new for every
 * execution: a second run under a used runId is a reuse, not a retry of the first execution. The name
 * carries the process id, so that executions of several processes on one ledger never share an ARN.
 */
export function localExecutionArn(stateMachineArn: string, runId: string): string {
  localExecutions += 1;
  const name = `${runId.slice(0, 60)}-${process.pid}-${localExecutions}`;
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
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

const silent: RunLog = { info: () => undefined, warn: () => undefined };

export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
  const assembly = options.assembly ?? (await ensureCloudAssembly());
  const machine = assembly.stateMachines['ReindexRun'];
  if (!machine) throw new Error(`${assembly.templateFile} has no ReindexRun state machine`);
  const tableName = options.tableName ?? DEFAULT_TABLE;
  const ledger = await localLedger(options.ledgerEndpoint, tableName);
  const runId = typeof (options.input as { runId?: unknown })?.runId === 'string' ? (options.input as { runId: string }).runId : undefined;
  const executionArn = localExecutionArn(machine.arn, runId ?? 'unnamed');
  const executionName = executionArn.slice(executionArn.lastIndexOf(':') + 1);

  const functions = localFunctions(
    assembly,
    {
      targetUrl: options.targetUrl,
      ledgerEndpoint: options.ledgerEndpoint,
      tableName,
      ...(options.env ? { env: options.env } : {}),
      ...(options.maxTasksPerDomain === undefined ? {} : { maxTasksPerDomain: options.maxTasksPerDomain }),
      ...(options.differencesDirectory === undefined ? {} : { differencesDirectory: options.differencesDirectory }),
      ...(options.verifyInvocationSeconds === undefined ? {} : { verifyInvocationSeconds: options.verifyInvocationSeconds }),
      ...(options.verifyRangeDocs === undefined ? {} : { verifyRangeDocs: options.verifyRangeDocs }),
    },
    { log: options.log ?? silent, ...(options.metrics ? { metrics: options.metrics } : {}) },
  );
  const hook = options.beforeState;
  const lambdas = hook
    ? Object.fromEntries(
        Object.entries(functions).map(([name, fn]) => [
          name,
          async (payload: unknown) => (await hook(machine.functionKeys[name] ?? name), fn(payload)),
        ]),
      )
    : functions;

  const waits: Record<string, number> = {};
  if (options.pollWaitMs !== undefined) Object.assign(waits, { WaitForProgress: options.pollWaitMs, WaitForPartition: options.pollWaitMs });
  const slotWait = options.slotWaitMs ?? options.pollWaitMs;
  if (slotWait !== undefined) Object.assign(waits, { WaitForTaskSlot: slotWait, WaitForSingleTaskSlot: slotWait });

  await registerLocalExecution(options.ledgerEndpoint, { executionArn, stateMachineArn: machine.arn, name: executionName, pid: process.pid });
  let result: RunStateMachineResult;
  try {
    result = await runStateMachine({
      definition: machine.definition,
      input: options.input,
      executionName,
      stateMachineName: 'ReindexRun',
      context: { Execution: { Id: executionArn, Name: executionName } },
      lambdas,
      ...(Object.keys(waits).length === 0 ? {} : { waitTimeOverrides: waits }),
      ...(options.retryIntervalMs === undefined ? {} : { retryIntervalOverrides: retryOverrides(machine.definition, options.retryIntervalMs) }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    await endLocalExecution(options.ledgerEndpoint, executionArn, 'FAILED').catch(() => undefined);
    throw err;
  }
  await endLocalExecution(options.ledgerEndpoint, executionArn, result.status);

  // What the execution status-change rule does on AWS: the AbortRun function, given the EventBridge
  // event, cancels the task and releases the lock of a stopped, timed-out or failed execution (a run
  // that recorded its failure keeps it).
  if (result.status !== 'SUCCEEDED' && runId) {
    const abortRun = Object.entries(functions).find(([name]) => /^[A-Za-z]*AbortRunFunction[0-9A-F]{8}$/.test(name))?.[1];
    const event = {
      version: '0',
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: { executionArn, stateMachineArn: machine.arn, name: executionName, status: result.status, input: JSON.stringify(options.input) },
    };
    await abortRun?.(event).catch((err: unknown) =>
      (options.log ?? silent).warn('cleanup after the execution ended failed', { runId, error: (err as Error).message }),
    );
  }
  const record = runId ? await ledger.getRun(runId) : undefined;
  const ownRecord = record && record.executionArn === executionArn ? record : undefined;
  const tasks = ownRecord && !ownRecord.dryRun ? await ledger.listPartitions(ownRecord.runId) : [];
  return {
    runId,
    tasks,
    taskId: tasks.length === 1 && tasks[0]!.partitionId === WHOLE_INDEX_PARTITION_ID ? tasks[0]!.taskIds.at(-1) : undefined,
    status: result.status === 'SUCCEEDED' ? 'SUCCEEDED' : result.status === 'ABORTED' ? 'ABORTED' : 'FAILED',
    error: result.status === 'SUCCEEDED' ? null : result.status === 'ABORTED' ? 'Aborted' : (result.error ?? 'RunFailed'),
    cause: result.status === 'SUCCEEDED' ? null : (ownRecord?.cause ?? (causeMessage(result.cause) || null)),
    record: ownRecord,
    ...(result.status === 'SUCCEEDED' ? { output: result.output } : {}),
    executionArn,
    execution: {
      historyEvents: result.historyEvents,
      stateTransitions: result.stateTransitions,
      intendedWaitSeconds: result.intendedWaitSeconds,
    },
  };
}

/** Every Task state (Map iterations included) with the same retry backoff. */
function retryOverrides(definition: object, ms: number): Record<string, number> {
  type Machine = { States: Record<string, { Type: string; ItemProcessor?: Machine; Iterator?: Machine }> };
  const tasks = (machine: Machine): string[] =>
    Object.entries(machine.States).flatMap(([name, s]) => [
      ...(s.Type === 'Task' ? [name] : []),
      ...(s.ItemProcessor ? tasks(s.ItemProcessor) : []),
      ...(s.Iterator ? tasks(s.Iterator) : []),
    ]);
  return Object.fromEntries(tasks(definition as Machine).map((name) => [name, ms]));
}

export type { JsonObject };
