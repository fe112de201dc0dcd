import { type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { partitionOf, releaseTaskSlots } from '../shared/task-loop/task-states';

/** Frees this iteration's domain slot and run-level slot (idempotent). */
export async function releaseTaskSlot({ state }: StateInvocation, deps: RunDeps): Promise<{ released: true }> {
  await releaseTaskSlots(deps, state.run.runId, partitionOf(state));
  return { released: true };
}
