import { restoreTombstones } from '../shared/cluster/tombstones';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';

/** Step 12 on success: final record, the target's tombstone retention restored, lock released. */
export async function finishRun({ state }: StateInvocation, deps: RunDeps): Promise<{ status: string }> {
  const { runId, targetIndex } = state.run;
  const record = await loadRun(deps, runId);
  const finished = await deps.ledger.finishRun(runId, {
    status: 'SUCCEEDED',
    ...(record.counters ? { counters: record.counters } : {}),
    ...(record.parity ? { parity: record.parity } : {}),
  });
  if (!state.run.dryRun) {
    await restoreTombstones(deps, targetIndex, runId);
    await deps.ledger.releaseLock(targetIndex, runId);
  }
  deps.log.info('run finished', { runId, status: finished.status });
  return { status: finished.status };
}
