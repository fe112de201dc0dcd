/** Helpers the partition states share (issue 9): the slots, the iteration's partition, the approved request, the stop path. */
import type { CanonicalRequest } from './canonical-request';
import { cancelTask } from './cluster-ops';
import type { RunConfig } from './config';
import { DryRunRequiredError } from './errors';
import { listPartitions, runSlotDomain } from './partitioned-run';
import { TaskSlots } from './task-slots';
import { loadRun, type RunDeps, type StateInvocation } from './run-context';

/**
 * Seconds before the first retry for a slot, doubled on each further try up to {@link SLOT_WAIT_MAX_SECONDS}:
 * a partition waiting an hour for a slot costs ~30 tries (~270 history events), not 360.
 */
export const SLOT_WAIT_SECONDS = 15;
export const SLOT_WAIT_MAX_SECONDS = 120;

export function nextSlotWait(previous: number | undefined): number {
  return previous && previous > 0 ? Math.min(SLOT_WAIT_MAX_SECONDS, previous * 2) : SLOT_WAIT_SECONDS;
}

/** The run's partition concurrency as it stands: maxConcurrency, lowered by the target's rejections. */
export interface RunConcurrency {
  readonly current: number;
  readonly changes: ReadonlyArray<{ readonly at: string; readonly from: number; readonly to: number; readonly partitionId: string; readonly reason: string }>;
}

export async function currentConcurrency(deps: RunDeps, runId: string): Promise<number> {
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;
  return (record.concurrency as RunConcurrency | undefined)?.current ?? config.maxConcurrency ?? 1;
}

/**
 * The target rejects writes (es_rejected_execution_exception, growing retries.bulk): one partition task
 * fewer for this run from now on (never below 1). Running tasks are not cut off: their run-level slots
 * above the new maximum are simply not handed out again. Recorded on the run and logged.
 */
export async function lowerConcurrency(deps: RunDeps, runId: string, partitionId: string, reason: string): Promise<number> {
  const record = await loadRun(deps, runId);
  const config = record.config as unknown as RunConfig;
  const now = (record.concurrency as RunConcurrency | undefined) ?? { current: config.maxConcurrency ?? 1, changes: [] };
  if (now.current <= 1) return now.current;
  const next: RunConcurrency = {
    current: now.current - 1,
    changes: [...now.changes, { at: deps.now().toISOString(), from: now.current, to: now.current - 1, partitionId, reason }],
  };
  await deps.ledger.updateRun(runId, { concurrency: next as unknown as Record<string, unknown> });
  deps.log.warn('the target rejects writes: lowering the run\'s partition concurrency', { runId, partitionId, from: now.current, to: next.current, reason });
  return next.current;
}

/** Whether a failure or a task answer shows the target rejecting writes. */
export function isRejection(text: string): boolean {
  return /es_rejected_execution_exception|rejected_execution_exception/.test(text);
}

export function slotsOf(deps: RunDeps): TaskSlots {
  return new TaskSlots({ client: deps.ledger.client, tableName: deps.ledger.tableName });
}

export function partitionOf(state: StateInvocation['state']): string {
  if (!state.partition) throw new Error('a partition state ran without $.partition');
  return state.partition.id;
}

export async function approvedRequest(deps: RunDeps, fingerprint: string, config: RunConfig): Promise<CanonicalRequest> {
  const lookup = await deps.ledger.getApproval(fingerprint, deps.now(), config.guards.dryRunMaxAgeHours);
  if (!lookup.found) throw new DryRunRequiredError(`the approval for fingerprint ${fingerprint} is gone (${lookup.reason})`);
  return lookup.approval.canonicalRequest as unknown as CanonicalRequest;
}

/** Failure and abort paths of a partitioned run: cancel every partition task that may run, release every slot. */
export async function stopPartitions(deps: RunDeps, runId: string): Promise<void> {
  const parts = await listPartitions(deps.ledger, runId);
  for (const p of parts) if (p.taskId) await cancelTask(deps.target, p.taskId);
  await releaseRunTaskSlots(deps, runId);
}

/** Every task slot the run holds, of the target domain and of the run itself (a single-task run holds one too). */
export async function releaseRunTaskSlots(deps: RunDeps, runId: string): Promise<void> {
  const slots = slotsOf(deps);
  await slots.releaseAllTaskSlots({ domain: deps.targetEndpoint, runId });
  await slots.releaseAllTaskSlots({ domain: runSlotDomain(deps.targetEndpoint, runId), runId });
}
