import { runSlotDomain } from '../shared/partitioned-run';
import { type RunDeps, type StateInvocation } from '../shared/run-context';
import { slotsOf, partitionOf } from '../shared/partition-states';

/** Frees this partition's domain slot and run-level slot (idempotent). */
export async function releaseTaskSlot({ state }: StateInvocation, deps: RunDeps): Promise<{ released: true }> {
  const { runId } = state.run;
  const partitionId = partitionOf(state);
  const slots = slotsOf(deps);
  await slots.releaseTaskSlot({ domain: deps.targetEndpoint, runId, partitionId });
  await slots.releaseTaskSlot({ domain: runSlotDomain(deps.targetEndpoint, runId), runId, partitionId });
  return { released: true };
}
