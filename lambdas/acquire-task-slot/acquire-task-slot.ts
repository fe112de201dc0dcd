import { runSlotDomain } from '../shared/planning/partitions';
import { DEFAULT_MAX_TASKS_PER_DOMAIN } from '../shared/ledger/task-slots';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { currentConcurrency, nextSlotWait, slotsOf, partitionOf } from '../shared/task-loop/task-states';

/**
 * A run-level slot (max = the run's concurrency: maxConcurrency, lowered by rejections), then a slot of the
 * target domain (max = maxTasksPerDomain, across all runs). Without a free one: wait and try again.
 */
export async function acquireTaskSlot({ state, executionArn }: StateInvocation, deps: RunDeps): Promise<{ acquired: boolean; waitSeconds: number }> {
  const { runId } = state.run;
  const partitionId = partitionOf(state);
  const slots = slotsOf(deps);
  // As for the lock: locally the holder's record is terminal or its process gone; on AWS its execution stopped.
  const isHolderFinished = (holder: { runId: string; since: string; executionArn?: string }) =>
    deps.isHolderFinished({ targetIndex: '', runId: holder.runId, since: holder.since, ...(holder.executionArn ? { executionArn: holder.executionArn } : {}) });
  const common = { runId, partitionId, now: deps.now(), isHolderFinished, ...(executionArn ? { executionArn } : {}) };
  const own = await slots.acquireTaskSlot({ ...common, domain: runSlotDomain(deps.targetEndpoint, runId), max: currentConcurrency(await loadRun(deps, runId)) });
  if (!own.acquired) return { acquired: false, waitSeconds: nextSlotWait(state.slot?.waitSeconds) };
  const domain = await slots.acquireTaskSlot({
    ...common,
    domain: deps.targetEndpoint,
    max: deps.maxTasksPerDomain ?? DEFAULT_MAX_TASKS_PER_DOMAIN,
  });
  if (domain.acquired && domain.reclaimed) deps.log.warn('reclaimed a task slot from a finished run', { runId, partitionId, reclaim: domain.reclaimed });
  if (!domain.acquired) {
    deps.log.info('waiting for a task slot of the target domain', { runId, partitionId, holders: domain.holders.map((h) => `${h.runId}/${h.partitionId}`) });
    return { acquired: false, waitSeconds: nextSlotWait(state.slot?.waitSeconds) };
  }
  deps.log.info('task slot acquired', { runId, partitionId, slot: domain.slot });
  return { acquired: true, waitSeconds: 0 };
}
