import { buildCanonicalRequest } from '../shared/planning/canonical-request';
import { requestFingerprint } from '../shared/planning/request-fingerprint';
import { parseRunConfig } from '../shared/runtime/config';
import { InvalidInputError } from '../shared/runtime/errors';
import { RunIdAlreadyUsedError } from '../shared/ledger/ledger';
import type { RunDeps, RunRef } from '../shared/runtime/run-context';

/**
 * Step 1: schema-check the input, build the canonical request and its fingerprint, create the run
 * record. Bad input throws InvalidInput before anything is written.
 */
export async function validateInput(
  invocation: { input: unknown; executionArn?: string },
  deps: RunDeps,
): Promise<RunRef> {
  const config = parseRunConfig(invocation.input, { endpoint: deps.targetEndpoint, maxTasksPerDomain: deps.maxTasksPerDomain ?? 4 });
  const canonical = buildCanonicalRequest(config, deps.credentialReference(config), { remoteExternal: deps.remoteExternal === true });
  // A partitioned run's request is the base request plus the partitions spec; the dry run's plan is
  // recorded in its approval and the live run launches exactly that plan (and so for an "auto" batch size).
  const { hash, fingerprint } = requestFingerprint(config, canonical, deps.targetEndpoint);
  const run: RunRef = {
    runId: config.runId,
    // A verify-only run writes nothing: to every later state it is as a dry run (no lock, nothing to restore).
    dryRun: config.dryRun || config.verifyOnly,
    targetIndex: config.target.index,
    fingerprint,
    requestHash: hash,
    verifyOnly: config.verifyOnly,
    probeFull: config.probe === 'full' && config.dryRun && !config.verifyOnly,
  };
  try {
    await deps.ledger.createRun({
      runId: run.runId,
      targetIndex: run.targetIndex,
      dryRun: run.dryRun,
      config: { ...config, canonicalRequest: canonical, targetEndpoint: deps.targetEndpoint },
      fingerprint: run.fingerprint,
      requestHash: run.requestHash,
      startedAt: deps.now().toISOString(),
      ...(invocation.executionArn ? { executionArn: invocation.executionArn } : {}),
    });
  } catch (err) {
    if (!(err instanceof RunIdAlreadyUsedError)) throw err;
    const existing = await deps.ledger.getRun(run.runId);
    // The same execution retried after its write landed: not a reuse.
    if (!existing || !invocation.executionArn || existing.executionArn !== invocation.executionArn) {
      throw new InvalidInputError(
        `runId "${run.runId}" is already used by an earlier run (status ${existing?.status ?? 'unknown'}): every run needs its own id, e.g. ${run.runId}-2`,
        'runId',
      );
    }
  }
  deps.log.info('input validated', { runId: run.runId, dryRun: run.dryRun, fingerprint: run.fingerprint });
  return run;
}
