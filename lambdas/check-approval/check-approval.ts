import { isPartitioned } from '../shared/runtime/config';
import { planFingerprint, WHOLE_INDEX_MAX_ATTEMPTS, WHOLE_INDEX_PARTITION_ID } from '../shared/planning/partitions';
import { requestFingerprint } from '../shared/planning/request-fingerprint';
import { loadRun, type PartitionRef, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { DryRunRequiredError } from '../shared/runtime/errors';
import { retainTombstones } from '../shared/cluster/tombstones';

/**
 * Step 6, rail 1: a live run launches only what a dry run approved, recently enough; then (step 6a) the
 * target keeps delete tombstones for the run. Its answer is the run's plan of tasks, each run by one
 * iteration of the same Map: the approved partitions, or, for a run without `partitions`, one partition
 * holding every document of the run's scope (the approved request unchanged).
 */
export async function checkApproval(
  { state }: StateInvocation,
  deps: RunDeps,
): Promise<{ approvedBy: string; partitions: PartitionRef[]; maxConcurrency: number }> {
  const { runId, fingerprint, requestHash } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
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
  const approved = lookup.approval.plan;
  // With an "auto" batch size the approval holds the request with the size its dry run resolved, and the
  // fingerprint it showed covers that request.
  let requested = fingerprint;
  if (config.batchSize === 'auto') {
    const { batch, canonicalRequest, planFingerprint: shown } = lookup.approval;
    if (!batch || !shown) {
      throw new DryRunRequiredError(`the approval for fingerprint ${fingerprint} holds no resolved batch size: run a new dry run`);
    }
    if (canonicalRequest.body.source.size !== batch.batchSize) {
      throw new DryRunRequiredError(
        `the approved request's batch size (${String(canonicalRequest.body.source.size)}) is not the one its dry run resolved (${batch.batchSize}): run a new dry run`,
      );
    }
    requested = requestFingerprint(config, canonicalRequest, deps.targetEndpoint).fingerprint;
    if (!isPartitioned(config) && requested !== shown) {
      throw new DryRunRequiredError(`the approved request does not match its fingerprint ${shown}: run a new dry run`);
    }
  }
  if (isPartitioned(config)) {
    if (!approved || !lookup.approval.planFingerprint) {
      throw new DryRunRequiredError(`the approval for fingerprint ${fingerprint} holds no partition plan: run a new dry run`);
    }
    if (planFingerprint(requested, approved.partitions) !== lookup.approval.planFingerprint) {
      throw new DryRunRequiredError(`the approved partition plan does not match its fingerprint ${lookup.approval.planFingerprint}: run a new dry run`);
    }
  }
  // The fingerprint the dry run showed: it covers the plan of a partitioned run and an "auto" batch size.
  const approvedFingerprint = lookup.approval.planFingerprint ?? lookup.approval.fingerprint;
  if (config.approvedFingerprint !== undefined && config.approvedFingerprint !== approvedFingerprint) {
    throw new DryRunRequiredError(
      `this run launches the dry run of fingerprint ${config.approvedFingerprint}, but the approval now holds ${approvedFingerprint} ` +
        `(dry run ${lookup.approval.runId} at ${lookup.approval.approvedAt}${isPartitioned(config) ? ', which planned the partitions again' : ''}): ` +
        `read that dry run's header, then start the live run with its fingerprint`,
    );
  }
  // Before any task launches, once for all of the run's tasks: deletes stay deleted while it runs.
  const tombstones = await retainTombstones(deps, {
    runId,
    targetIndex: state.run.targetIndex,
    retention: config.guards.tombstoneRetention,
    acceptResurrectedDeletes: config.guards.acceptResurrectedDeletes,
  });
  await deps.ledger.updateRun(runId, {
    fingerprint: approvedFingerprint,
    ...(tombstones ? { tombstones } : {}),
    // What the launches send, however long after this check they come (slot waits, late partitions).
    approvedBy: { runId: lookup.approval.runId, approvedAt: lookup.approval.approvedAt, fingerprint: approvedFingerprint, canonicalRequest: lookup.approval.canonicalRequest },
  });
  deps.log.info('approval found', { runId, approvedBy: lookup.approval.runId });
  if (!isPartitioned(config)) {
    const sourceCount = record.baselines?.sourceCount ?? 0;
    const query = lookup.approval.canonicalRequest.body.source.query ?? null;
    await deps.ledger.putPartitions(
      runId,
      [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query, expected: sourceCount, maxAttempts: WHOLE_INDEX_MAX_ATTEMPTS }],
      deps.now(),
    );
    return { approvedBy: lookup.approval.runId, partitions: [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all' }], maxConcurrency: 1 };
  }

  // The live run launches the approved plan, with the expected counts of its own pre-flight.
  if (!approved) throw new DryRunRequiredError(`the approval for fingerprint ${fingerprint} holds no partition plan: run a new dry run`);
  const fresh = record.plan;
  const expected = new Map((fresh?.partitions ?? approved.partitions).map((p) => [p.id, p.expected]));
  const partitions = approved.partitions.map((p) => ({ ...p, expected: expected.get(p.id) ?? p.expected }));
  await deps.ledger.putPartitions(runId, partitions, deps.now());
  return {
    approvedBy: lookup.approval.runId,
    partitions: partitions.map((p) => ({ id: p.id, kind: p.kind, ...(p.start ? { start: p.start } : {}), ...(p.end ? { end: p.end } : {}) })),
    maxConcurrency: config.maxConcurrency ?? 1,
  };
}
