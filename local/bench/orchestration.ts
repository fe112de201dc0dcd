import { readFileSync } from 'node:fs';
import { MODELLED_VERIFY_DOCS_PER_SECOND, modelledCheckParity } from './modelled-verification';
import type { Client } from '@opensearch-project/opensearch';
import { checkHeader } from '../../lambdas/check-header/check-header';
import { pollTask } from '../../lambdas/poll-task/poll-task';
import { validateInput } from '../../lambdas/validate-input/validate-input';
import { opaqueId } from '../../lambdas/shared/planning/canonical-request';
import { WHOLE_INDEX_MAX_ATTEMPTS, WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { Ledger } from '../../lambdas/shared/ledger/ledger';
import type { PollState, RunDeps, StateInvocation } from '../../lambdas/shared/runtime/run-context';
import { collectingMetrics, localLedger, REINDEX_RUN_ASL } from '../pipeline';
import { createSimulatedClock, runStateMachine, type SimulatedClock } from '../runner/run-state-machine';
import { modelledIndexSettings } from './modelled-settings';
import { stateLogicByKey } from './state-logic';

/**
 * Figure 2: what the poll loop costs over a whole reindex, on a simulated clock.
 *
 * Real: the ASL file, the runner (aws-local-stepfunctions, AWS's history-event rules), and the handlers
 * ValidateInput, AcquireLock, AcquireTaskSlot, CheckHeader, PollTask (adaptive wait via nextPoll, ledger
 * snapshot per poll, foreign-task listing, stall check), ReconcileTask, ReleaseTaskSlot, ReconcileRun and
 * FinishRun, writing to the real local ledger: the run's one whole-index task in the Map, as it runs.
 * Modelled: the reindex task itself (a progress model answering `_tasks/{id}`, `_tasks?actions=*reindex`
 * and long-polls on the simulated clock) and four stubs that need real clusters or a dry run:
 * Preflight (writes the source baseline), CheckApproval (writes the whole-index plan as the real one
 * does), LaunchReindex (records the task id and launch time as the real one does, sends nothing),
 * CheckParity (full verification modelled: `modelledCheckParity`).
 */

/** Worked example of docs/design.md: 84,986,805 = 70,798,760 created + 634,962 updated + 13,553,083 conflicts, 5 h. */
export const WORKED_EXAMPLE = { created: 70_798_760, updated: 634_962, versionConflicts: 13_553_083, seconds: 5 * 3600 };

export interface ProgressModel {
  readonly label: string;
  readonly total: number;
  /** Seconds before the first batch lands (total is 0 until then). */
  readonly startupSeconds: number;
  /** Docs written (created) in the first phase, at `writeRate`. */
  readonly created: number;
  readonly writeRate: number;
  /** The dual-write days at the end: updated + version conflicts, at `lateRate`. */
  readonly updated: number;
  readonly versionConflicts: number;
  readonly lateRate: number;
  readonly batch: number;
}

/**
 * The worked example lasting `hours`: the first ~83% are created documents, the dual-write days at the
 * end are mostly version conflicts and go `lateSpeedup` times faster (nothing is written), and the whole
 * run averages the worked example's 4,722 docs/s.
 */
export function workedExampleModel(hours: number, lateSpeedup: number, endEarlySeconds = 0): ProgressModel {
  const seconds = hours * 3600 - endEarlySeconds;
  const scale = seconds / WORKED_EXAMPLE.seconds;
  const created = Math.round(WORKED_EXAMPLE.created * scale);
  const updated = Math.round(WORKED_EXAMPLE.updated * scale);
  const versionConflicts = Math.round(WORKED_EXAMPLE.versionConflicts * scale);
  const late = updated + versionConflicts;
  const startupSeconds = 2;
  const writeRate = (created + late / lateSpeedup) / (seconds - startupSeconds);
  return {
    label: `${hours} h${endEarlySeconds ? ` - ${endEarlySeconds} s` : ''}, ${(created + late).toLocaleString('en-US')} docs, last ${Math.round((100 * late) / (created + late))}% (conflicts) ${lateSpeedup}x faster`,
    total: created + late,
    startupSeconds,
    created,
    writeRate,
    updated,
    versionConflicts,
    lateRate: writeRate * lateSpeedup,
    batch: 1000,
  };
}

export function completionSeconds(m: ProgressModel): number {
  return m.startupSeconds + m.created / m.writeRate + (m.updated + m.versionConflicts) / m.lateRate;
}

/** The task's counters `t` seconds after launch, in whole batches as the server reports them. */
export function countersAt(m: ProgressModel, t: number) {
  const end = completionSeconds(m);
  if (t >= end) return { completed: true, total: m.total, created: m.created, updated: m.updated, version_conflicts: m.versionConflicts };
  if (t < m.startupSeconds) return { completed: false, total: 0, created: 0, updated: 0, version_conflicts: 0 };
  const run = t - m.startupSeconds;
  const writeEnd = m.created / m.writeRate;
  let done = run <= writeEnd ? run * m.writeRate : m.created + (run - writeEnd) * m.lateRate;
  done = Math.min(m.total - 1, Math.floor(done / m.batch) * m.batch);
  const created = Math.min(done, m.created);
  const late = done - created;
  const updated = Math.floor((late * m.updated) / (m.updated + m.versionConflicts));
  return { completed: false, total: m.total, created, updated, version_conflicts: late - updated };
}

/** Modelled round trip of one `_tasks` read (Lambda in the VPC to the domain). */
const TASK_READ_MS = 50;

/** A target Client that answers the task reads from the model on the simulated clock. */
function modelledTarget(m: ProgressModel, clock: SimulatedClock, task: { id: string; launchedAtMs: number; opaqueId: string; description: string }): Client {
  const status = () => {
    const c = countersAt(m, (clock.now() - task.launchedAtMs) / 1000);
    return { completed: c.completed, status: { total: c.total, created: c.created, updated: c.updated, deleted: 0, noops: 0, version_conflicts: c.version_conflicts, batches: Math.ceil((c.total && c.created + c.updated + c.version_conflicts) / m.batch) } };
  };
  const view = () => {
    const { completed, status: s } = status();
    const info = { description: task.description, headers: { 'X-Opaque-Id': task.opaqueId }, status: s };
    return completed ? { completed, task: info, response: { ...s, failures: [], timed_out: false } } : { completed, task: info };
  };
  return {
    indices: modelledIndexSettings(),
    tasks: {
      async get(params: { task_id: string; wait_for_completion?: boolean; timeout?: string }) {
        if (params.wait_for_completion) {
          // A long-poll answers when the task completes, or after the timeout (then the poll re-reads it).
          const limitMs = Number.parseInt(params.timeout ?? '0', 10) * 1000;
          const endMs = task.launchedAtMs + completionSeconds(m) * 1000;
          clock.advance(Math.min(limitMs, Math.max(0, endMs - clock.now())));
        }
        clock.advance(TASK_READ_MS);
        return { body: view() };
      },
      async list() {
        const s = status();
        return s.completed
          ? { body: { nodes: {} } }
          : { body: { nodes: { sim: { tasks: { [task.id]: { description: task.description, headers: { 'X-Opaque-Id': task.opaqueId }, status: s.status } } } } } };
      },
      async cancel() {
        return { body: {} };
      },
    },
  } as unknown as Client;
}

export interface SimulationResult {
  readonly label: string;
  readonly policy: string;
  readonly status: string;
  readonly error: string | undefined;
  readonly simulatedHours: number;
  readonly completedAtSeconds: number;
  /** Seconds between the task's completion and the poll that saw it; null if never seen. */
  readonly lateSeconds: number | null;
  readonly stateTransitions: number;
  readonly transitionsPerHour: number;
  readonly historyEvents: number;
  readonly polls: number;
  readonly realMs: number;
}

export type WaitPolicy = { kind: 'adaptive' } | { kind: 'fixed'; seconds: number };

let simulationCounter = 0;

export async function simulateRun(options: {
  ledgerEndpoint: string;
  tableName: string;
  model: ProgressModel;
  policy: WaitPolicy;
}): Promise<SimulationResult> {
  const started = Date.now();
  const { model, policy } = options;
  simulationCounter += 1;
  const runId = `sim-${process.pid}-${simulationCounter}`;
  const targetIndex = `calls-sim-${simulationCounter}`;
  const startMs = Date.UTC(2026, 5, 1, 0, 0, 0);
  const clock = createSimulatedClock(startMs);
  const ledger: Ledger = await localLedger(options.ledgerEndpoint, options.tableName);
  const taskId = 'sim-node:1';
  let target: Client | undefined;

  const deps = (): RunDeps => ({
    ledger,
    get target() {
      if (!target) throw new Error('the modelled task has not been launched');
      return target;
    },
    // Its own domain per simulation: the task slot of a run stopped by the history limit stays held.
    targetEndpoint: `https://opensearch-${simulationCounter}.sim.internal`,
    sourceClient: async () => {
      throw new Error('the simulation reads no source');
    },
    sourceCredentials: async () => undefined,
    credentialReference: () => undefined,
    isHolderFinished: (holder) => ledger.isRunFinished(holder.runId),
    metrics: collectingMetrics(),
    log: { info: () => undefined, warn: () => undefined },
    now: () => new Date(clock.now()),
  });
  const d = deps();
  const state = (fn: (invocation: StateInvocation, deps: RunDeps) => Promise<unknown>) => (payload: unknown) => fn(payload as StateInvocation, d);
  const withPolicy = (fn: (invocation: StateInvocation, deps: RunDeps) => Promise<PollState>) => async (payload: unknown) => {
    const result = await fn(payload as StateInvocation, d);
    if (result.completed) noticedAtMs ??= clock.now();
    polls += 1;
    return policy.kind === 'adaptive' ? result : { ...result, waitSeconds: policy.seconds, longPollSeconds: 0 };
  };
  let noticedAtMs: number | undefined;
  let launchedAtMs: number | undefined;
  let polls = 0;

  const definition = JSON.parse(readFileSync(REINDEX_RUN_ASL, 'utf8')) as object;
  const real = await stateLogicByKey();
  const lambdas: Record<string, (payload: unknown) => Promise<unknown>> = {
    // Every state's real logic from the state catalogue, unless modelled below.
    ...Object.fromEntries(functionKeysOf(definition).map((key) => [key, state(real[key]!)])),
    ValidateInputFunctionArn: (payload) => validateInput(payload as { input: unknown; executionArn?: string }, d),
    // Modelled: needs both clusters. Records the baseline the header check and reconciliation read.
    PreflightFunctionArn: async (payload) => {
      const { state: s } = payload as StateInvocation;
      await ledger.updateRun(s.run.runId, { baselines: { sourceCount: model.total, targetCount: model.updated + model.versionConflicts } });
      return { sourceCount: model.total, targetCount: model.updated + model.versionConflicts };
    },
    RecordApprovalFunctionArn: async () => ({ approvedUntil: new Date(clock.now() + 86_400_000).toISOString() }),
    // Modelled: a live run under a dry run's approval; its plan is the whole index, as the real one writes it.
    CheckApprovalFunctionArn: async () => {
      const whole = { id: WHOLE_INDEX_PARTITION_ID, kind: 'all' as const, query: null, expected: model.total, maxAttempts: WHOLE_INDEX_MAX_ATTEMPTS };
      const { config } = (await ledger.getRun(runId))!;
      const approvedAt = new Date(clock.now()).toISOString();
      await ledger.updateRun(runId, { approvedBy: { runId: `${runId}-dry`, approvedAt, fingerprint: 'modelled', canonicalRequest: config.canonicalRequest } });
      await ledger.putPartitions(runId, [whole], new Date(clock.now()));
      return { approvedBy: `${runId}-dry`, partitions: [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all' }], maxConcurrency: 1 };
    },
    // Modelled: records what the real launch records, sends nothing, starts the progress model.
    LaunchReindexFunctionArn: async (payload) => {
      const { state: s } = payload as StateInvocation;
      launchedAtMs = clock.now();
      target = modelledTarget(model, clock, {
        id: taskId,
        launchedAtMs,
        opaqueId: opaqueId(s.run.runId, s.run.requestHash),
        description: `reindex from [host=es7.sim.internal port=9200 query={"match_all":{}}][calls-2026-05] to [${targetIndex}]`,
      });
      const at = new Date(launchedAtMs);
      await ledger.recordPartitionTask(s.run.runId, WHOLE_INDEX_PARTITION_ID, { taskId, taskIds: [taskId], attempts: 1, launchedAt: at.toISOString(), sentRequestHash: s.run.requestHash }, at);
      await ledger.updateRun(s.run.runId, { status: 'RUNNING' });
      return { taskId };
    },
    CheckHeaderFunctionArn: withPolicy(checkHeader),
    PollTaskFunctionArn: withPolicy(pollTask),
    // Modelled: parity needs both clusters. Full verification of the run's documents at the rate figure 8 measures.
    CheckParityFunctionArn: modelledCheckParity(model.total, MODELLED_VERIFY_DOCS_PER_SECOND, (ms) => clock.advance(ms)),
  };

  const input = {
    runId,
    source: { url: 'http://es7.sim.internal:9200', index: 'calls-2026-05' },
    target: { index: targetIndex },
    dateField: 'timestamp',
    batchSize: model.batch,
    dryRun: false,
  };
  const executionArn = `arn:local:states:bench:${process.pid}:${runId}`;
  const result = await runStateMachine({
    definition,
    input,
    executionName: runId,
    stateMachineName: 'ReindexRun',
    context: { Execution: { Id: executionArn, Name: runId } },
    lambdas,
    clock,
  });
  const end = clock.now();
  const hours = (end - startMs) / 3_600_000;
  const completedAtMs = (launchedAtMs ?? startMs) + completionSeconds(model) * 1000;
  return {
    label: model.label,
    policy: policy.kind === 'adaptive' ? 'adaptive (real nextPoll)' : `fixed ${policy.seconds} s`,
    status: result.status,
    error: result.error,
    simulatedHours: hours,
    completedAtSeconds: completionSeconds(model),
    lateSeconds: noticedAtMs === undefined ? null : (noticedAtMs - completedAtMs) / 1000,
    stateTransitions: result.stateTransitions,
    transitionsPerHour: result.stateTransitions / hours,
    historyEvents: result.historyEvents,
    polls,
    realMs: Date.now() - started,
  };
}

/** Every `${KeyFunctionArn}` a Task of the definition names, nested states included. */
function functionKeysOf(machine: object): string[] {
  const keys: string[] = [];
  const states = (machine as { States?: Record<string, Record<string, unknown>> }).States ?? {};
  for (const state of Object.values(states)) {
    const name = (state['Parameters'] as { FunctionName?: unknown } | undefined)?.FunctionName;
    if (state['Type'] === 'Task' && typeof name === 'string') keys.push(name.replace(/^\$\{|\}$/g, ''));
    const nested = state['ItemProcessor'] ?? state['Iterator'];
    if (typeof nested === 'object' && nested !== null) keys.push(...functionKeysOf(nested));
  }
  return keys;
}
