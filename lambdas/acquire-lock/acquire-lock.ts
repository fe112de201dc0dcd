import { RunInProgressError } from '../shared/runtime/errors';
import type { RunDeps, StateInvocation } from '../shared/runtime/run-context';

/** Step 2: one live run per target index; a lock whose holder has finished is taken over (and recorded). */
export async function acquireLock({ state, executionArn }: StateInvocation, deps: RunDeps): Promise<{ acquired: true }> {
  const { runId, targetIndex } = state.run;
  const result = await deps.ledger.acquireLock({
    targetIndex,
    runId,
    now: deps.now(),
    isHolderFinished: (holder) => deps.isHolderFinished(holder),
    ...(executionArn ? { executionArn } : {}),
  });
  if (!result.acquired) {
    const { holder } = result;
    throw new RunInProgressError(
      `target index ${targetIndex} is locked by live run ${holder.runId} since ${holder.since}` +
        `${holder.executionArn ? ` (execution ${holder.executionArn})` : ''}: wait for it to finish or stop it`,
    );
  }
  if (result.takeover) {
    deps.log.warn('took over a lock left by a finished run', { runId, targetIndex, takeover: result.takeover });
  } else {
    deps.log.info('lock acquired', { runId, targetIndex });
  }
  return { acquired: true };
}
