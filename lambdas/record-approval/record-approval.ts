import { withBatchSize } from '../shared/planning/canonical-request';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';

/**
 * Step 5: a dry run records its approval (fingerprint, canonical request, baselines, probe, and a
 * partitioned run's plan or an "auto" batch size as resolved, with the fingerprint that covers them) and launches nothing. Returns the
 * fingerprint the operator approves: the one the header showed.
 */
export async function recordApproval({ state }: StateInvocation, deps: RunDeps): Promise<{ approvedUntil: string; fingerprint: string }> {
  const { runId, fingerprint, requestHash } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const approvedAt = deps.now();
  await deps.ledger.putApproval({
    fingerprint,
    runId,
    // With an "auto" batch size: the request with the size the pre-flight resolved, which the live run sends.
    canonicalRequest: record.batch ? withBatchSize(config.canonicalRequest, record.batch.batchSize) : config.canonicalRequest,
    requestHash,
    baselines: record.baselines ?? {},
    probe: record.probe ?? {},
    ...(record.plan ? { plan: record.plan } : {}),
    ...(record.batch ? { batch: record.batch } : {}),
    ...(record.plan || record.batch ? { planFingerprint: record.fingerprint } : {}),
    approvedAt: approvedAt.toISOString(),
    maxAgeHours: config.guards.dryRunMaxAgeHours,
  });
  await deps.ledger.finishRun(runId, { status: 'SUCCEEDED' });
  const approvedUntil = new Date(approvedAt.getTime() + config.guards.dryRunMaxAgeHours * 3_600_000).toISOString();
  deps.log.info('dry run approved', { runId, fingerprint: record.fingerprint, approvedUntil });
  return { approvedUntil, fingerprint: record.fingerprint };
}
