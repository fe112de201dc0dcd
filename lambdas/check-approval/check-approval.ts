import type { RunConfig } from '../shared/config';
import { DryRunRequiredError } from '../shared/errors';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';

/** Step 6, rail 1: a live run launches only what a dry run approved, recently enough. */
export async function checkApproval({ state }: StateInvocation, deps: RunDeps): Promise<{ approvedBy: string }> {
  const { runId, fingerprint, requestHash } = state.run;
  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  const maxAge = config.guards.dryRunMaxAgeHours;
  const lookup = await deps.ledger.getApproval(fingerprint, deps.now(), maxAge);
  if (!lookup.found) {
    throw new DryRunRequiredError(
      lookup.reason === 'expired' && lookup.approval
        ? `the dry run ${lookup.approval.runId} approved this request at ${lookup.approval.approvedAt}, more than ${maxAge} h ago ` +
            `(guards.dryRunMaxAgeHours): run the same input with dryRun true again, read the header, then start the live run`
        : `no dry run approved this exact request (fingerprint ${fingerprint}): any change to index, query, mode, batch size ` +
            `or throttle needs a new dry run. Run the same input with dryRun true, read the header, then start the live run`,
    );
  }
  if (lookup.approval.requestHash !== requestHash) {
    throw new DryRunRequiredError(`the approval for fingerprint ${fingerprint} holds another request hash: run a new dry run`);
  }
  await deps.ledger.updateRun(runId, { approvedBy: { runId: lookup.approval.runId, approvedAt: lookup.approval.approvedAt } });
  deps.log.info('approval found', { runId, approvedBy: lookup.approval.runId });
  return { approvedBy: lookup.approval.runId };
}
