/**
 * The catalogue of the state machines' functions: one entry per `lambdas/<dir>/`, whose `handler.ts` is
 * the Lambda entry and whose `<dir>.ts` exports the state's logic as the camel-case of `<dir>`
 * (`poll-task` → `pollTask`). The CDK construct takes each function's timeout, memory and access from it,
 * the ASL names it `${<PascalCase dir>FunctionArn}`, and the benchmarks' simulations look the logic up
 * by it (local/bench/state-logic.ts). test/infra checks it against the folders and the code. Data only:
 * nothing here imports a state.
 */

/** What a function reaches besides its log group and the ledger (which every function reads, and most write). */
export type StateAccess = 'target' | 'sourceSecrets' | 'runExecutions' | 'alarmTopic' | 'differences';

export interface StateFunction {
  /** Its folder under `lambdas/`. */
  readonly dir: string;
  /** What it does, in a line. */
  readonly does: string;
  /** Its Lambda timeout. */
  readonly timeoutSeconds: number;
  /** @default 256 */
  readonly memoryMb?: number;
  /** @default none */
  readonly access?: readonly StateAccess[];
  /** @default 'readWrite' */
  readonly ledger?: 'read' | 'readWrite';
}

export const STATE_FUNCTIONS: readonly StateFunction[] = [
  { dir: 'validate-input', does: 'schema-checks the input, builds the canonical request and fingerprint, creates the run record', timeoutSeconds: 120 },
  { dir: 'acquire-lock', does: 'takes the target index\'s lock for a live run', timeoutSeconds: 120, access: ['runExecutions'] },
  { dir: 'preflight', does: 'counts, histograms, foreign tasks, the version probe, the header and the guards', timeoutSeconds: 600, memoryMb: 512, access: ['target', 'sourceSecrets'] },
  { dir: 'predict-every-document', does: 'a dry run\'s exact prediction (probe "full"), every document as full verification reads them', timeoutSeconds: 900, memoryMb: 512, access: ['target', 'sourceSecrets'] },
  { dir: 'record-approval', does: 'records a dry run\'s approval', timeoutSeconds: 120 },
  { dir: 'check-approval', does: 'rail 1, raises the target\'s index.gc_deletes, and plans the run\'s tasks', timeoutSeconds: 120, access: ['target'] },
  { dir: 'acquire-task-slot', does: 'a run-level slot, then one of the target domain', timeoutSeconds: 120, access: ['runExecutions'] },
  { dir: 'launch-reindex', does: 'launches a task\'s approved request and records its task id', timeoutSeconds: 300, access: ['target', 'sourceSecrets'] },
  { dir: 'check-header', does: 'rail 2: the running task is the approved one', timeoutSeconds: 300, access: ['target'] },
  // Long-polls _tasks near the predicted end: the whole Lambda maximum.
  { dir: 'poll-task', does: 'one turn of a task\'s poll loop', timeoutSeconds: 900, memoryMb: 512, access: ['target'] },
  { dir: 'reconcile-task', does: 'a finished task\'s counters add up', timeoutSeconds: 300, access: ['target'] },
  { dir: 'release-task-slot', does: 'frees a task\'s slots', timeoutSeconds: 120 },
  { dir: 'record-task-failure', does: 'cancels a failed task, records it on its partition, says whether to retry it', timeoutSeconds: 300, access: ['target'] },
  { dir: 'reconcile-run', does: 'the tasks\' totals add up to the source baseline; ends the run with a failed task\'s error', timeoutSeconds: 120 },
  // Writes the list of differing ids full verification confirmed (DIFFERENCES_URL, the differences bucket).
  { dir: 'check-parity', does: 'counts, histograms and full verification (or the samples)', timeoutSeconds: 900, memoryMb: 512, access: ['target', 'sourceSecrets', 'differences'] },
  { dir: 'finish-run', does: 'records the end, restores index.gc_deletes, releases the lock', timeoutSeconds: 120, access: ['target'] },
  { dir: 'record-failure', does: 'every failure after validation: cancels the run\'s tasks, records, releases', timeoutSeconds: 300, access: ['target'] },
  { dir: 'abort-run', does: 'the cleanup after an execution ended without succeeding', timeoutSeconds: 300, access: ['target'] },
  // MonthlyBackfill's planner: reads the ledger (runs by target index) only.
  { dir: 'plan-months', does: 'MonthlyBackfill: the months due, those already done skipped', timeoutSeconds: 120, ledger: 'read' },
  // MonthlyBackfill's manual approval: stores the task token, publishes the dry run's header.
  { dir: 'request-approval', does: 'MonthlyBackfill: asks a person to approve a month\'s live run', timeoutSeconds: 120, access: ['alarmTopic'] },
];

/** `poll-task` → `PollTask`: the state's function name, the prefix of its `${PollTaskFunctionArn}` placeholder. */
export function stateName(dir: string): string {
  return dir
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** `poll-task` → `pollTask`: the name its `<dir>.ts` exports the logic under. */
export function logicName(dir: string): string {
  const name = stateName(dir);
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** The ASL placeholder of a state's function: `${PollTaskFunctionArn}` without `${}`. */
export function functionKey(dir: string): string {
  return `${stateName(dir)}FunctionArn`;
}
