import { censusOf, reindexTasksInto, resolveIndex, indexingPressureLimit, sampleIds, sampleSourceSizes, versionsOf, type IndexCensus } from '../shared/cluster/cluster-ops';
import { AUTO_BATCH_SAMPLE, autoBatchSize, type AutoBatchSize } from '../shared/planning/batch-size';
import { withBatchSize } from '../shared/planning/canonical-request';
import { requestFingerprint } from '../shared/planning/request-fingerprint';
import { isPartitioned, type RunConfig } from '../shared/runtime/config';
import { expectedCounts, planFingerprint, planKey, planPartitions, type PartitionPlan, type RecordedPlan } from '../shared/planning/partitions';
import { sampleSeed } from '../shared/checks/parity';
import { coverageOf } from '../shared/checks/coverage';
import { thousands } from '../shared/checks/counters';
import { ForeignReindexRunningError, InvalidInputError, SourceIndexMissingError, TargetNotEmptyError, VersioningContractBrokenError } from '../shared/runtime/errors';
import { renderHeader, sentSettings, type ApprovalStatus } from '../shared/planning/header';
import type { Approval, Baselines } from '../shared/ledger/ledger';
import { probe, versioningLooksBroken, type ProbeResult } from '../shared/checks/probe';
import { reach } from '../shared/cluster/search-client';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { decideRetention, gcDeletesOf } from '../shared/cluster/tombstones';


/**
 * Steps 3 and 4: reach both clusters, take the baselines, refuse a foreign reindex into the target,
 * probe versions, render the header, then apply the guards. Reads only: nothing is written to a cluster.
 */
export async function preflight({ state }: StateInvocation, deps: RunDeps): Promise<{ sourceCount: number; targetCount: number }> {
  const { runId, targetIndex, dryRun, fingerprint } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const source = await deps.sourceClient(config);

  const [sourceInfo, targetInfo] = await Promise.all([reach(source, 'source'), reach(deps.target, 'target')]);

  const resolved = await resolveIndex(deps.target, targetIndex);
  if (resolved.indices.length > 1) {
    throw new InvalidInputError(
      `target.index "${targetIndex}" is an alias of ${resolved.indices.length} indices (${resolved.indices.join(', ')}): name one index`,
      'target.index',
    );
  }

  const [sourceCensus, targetCensus] = await Promise.all([
    censusOf(source, config.source.index, config.dateField, config.source.query),
    censusOf(deps.target, targetIndex, config.dateField, null),
  ]);
  if (!sourceCensus) {
    throw new SourceIndexMissingError(`source index ${config.source.index} does not exist on ${config.source.url}`);
  }
  const target = targetCensus ?? { count: 0, days: [], withoutDate: 0 };

  const foreign = await reindexTasksInto(deps.target, targetIndex);
  if (foreign.length > 0) {
    throw new ForeignReindexRunningError(
      `${foreign.length} reindex task(s) already write into ${targetIndex}: ` +
        foreign.map((t) => `${t.taskId} (X-Opaque-Id ${t.opaqueId ?? 'none'}; ${t.description.replace(/\s+/g, ' ')})`).join('; ') +
        '. Cancel them (POST _tasks/<id>/_cancel) or wait, then start again.',
    );
  }

  const gcDeletes = targetCensus ? await gcDeletesOf(deps.target, targetIndex) : undefined;
  const probed = await probeVersions(deps, source, config, targetIndex, sourceCensus.count, target.count, fingerprint);
  const baselines: Baselines = {
    sourceCount: sourceCensus.count,
    targetCount: target.count,
    sourceDays: sourceCensus.days,
    targetDays: target.days,
    sourceWithoutDate: sourceCensus.withoutDate,
    sourceVersion: `${sourceInfo.distribution} ${sourceInfo.version}`,
    targetVersion: `${targetInfo.distribution} ${targetInfo.version}`,
    targetExists: targetCensus !== undefined,
    at: deps.now().toISOString(),
  };

  const approval = dryRun ? undefined : await deps.ledger.getApproval(fingerprint, deps.now(), config.guards.dryRunMaxAgeHours);
  const plan = isPartitioned(config) ? partitionPlanOf(config, sourceCensus, approval?.found ? approval.approval.plan : undefined) : undefined;
  const batch = await batchSizeOf(deps, source, config, fingerprint, dryRun, approval?.found ? approval.approval : undefined);
  const request = batch ? withBatchSize(config.canonicalRequest, batch.batchSize) : config.canonicalRequest;
  // What the operator reads and approves: it covers the resolved batch size, and each partition's query.
  const requested = batch ? requestFingerprint(config, request, deps.targetEndpoint).fingerprint : fingerprint;
  const shownFingerprint = plan ? planFingerprint(requested, plan.partitions) : requested;
  const header = renderHeader({
    runId,
    dryRun,
    source: { url: config.source.url, index: config.source.index, credentialsReference: credentialsReferenceOf(deps, config) },
    target: { endpoint: deps.targetEndpoint, index: targetIndex },
    mode: config.mode,
    sent: sentSettings(request),
    ...(config.batchSize === 'auto' ? { batch: batch ?? null } : {}),
    sourceCount: sourceCensus.count,
    targetCount: target.count,
    coverage: coverageOf(target.days),
    probe: probed.result,
    fingerprint: shownFingerprint,
    approval: approvalStatus(dryRun, approval?.found ? approval.approval : approval?.approval, approval?.found ?? false, config.guards.dryRunMaxAgeHours),
    parity: { mode: config.parity.mode, sampleSize: config.parity.sampleSize, concurrency: config.parity.concurrency },
    tombstones: {
      current: gcDeletes ?? null,
      retention: config.guards.tombstoneRetention,
      raise: gcDeletes !== undefined && decideRetention(gcDeletes, config.guards.tombstoneRetention).kind === 'raise',
    },
  });
  if (plan) header.push(...planLines(plan));
  await deps.ledger.updateRun(runId, {
    fingerprint: shownFingerprint,
    baselines,
    probe: probed.result,
    header,
    ...(plan ? { plan } : {}),
    ...(batch ? { batch } : {}),
  });
  deps.log.info('pre-flight done', { runId, sourceCount: sourceCensus.count, targetCount: target.count, header });

  if (config.mode === 'overwrite' && target.count > 0) {
    const coverage = coverageOf(target.days);
    throw new TargetNotEmptyError(
      `overwrite mode would replace documents on a target that already holds ${thousands(target.count)}` +
        (coverage.firstDay ? ` (from ${coverage.firstDay} to ${coverage.lastDay}, ${coverage.fullDays} full days)` : '') +
        ': internal versioning lets older source copies win. Use mode merge.',
    );
  }
  if (probed.broken && !config.guards.allowBrokenVersioning) {
    throw new VersioningContractBrokenError(probed.broken);
  }
  return { sourceCount: sourceCensus.count, targetCount: target.count };
}

/**
 * `batchSize: "auto"`: a dry run measures a seeded random sample of the source documents (within the
 * run's query) and reads the target's indexing-pressure limit; a live run takes the size its approval
 * holds, never a new measurement (none without an approval: CheckApproval then refuses the run).
 */
async function batchSizeOf(
  deps: RunDeps,
  source: Awaited<ReturnType<RunDeps['sourceClient']>>,
  config: RunConfig,
  fingerprint: string,
  dryRun: boolean,
  approval: Approval | undefined,
): Promise<AutoBatchSize | undefined> {
  if (config.batchSize !== 'auto') return undefined;
  if (!dryRun) return approval?.batch;
  const [sample, indexingPressureBytes] = await Promise.all([
    sampleSourceSizes(source, config.source.index, AUTO_BATCH_SAMPLE, sampleSeed(fingerprint, 'batch'), config.source.query),
    indexingPressureLimit(deps.target),
  ]);
  return autoBatchSize(sample, config.source.index, {
    ...(indexingPressureBytes === undefined ? {} : { indexingPressureBytes }),
    concurrentTasks: isPartitioned(config) ? (config.maxConcurrency ?? 1) : 1,
  });
}

async function probeVersions(
  deps: RunDeps,
  source: Awaited<ReturnType<RunDeps['sourceClient']>>,
  config: RunConfig,
  targetIndex: string,
  sourceCount: number,
  targetCount: number,
  fingerprint: string,
): Promise<{ result: ProbeResult | null; broken: string | undefined }> {
  if (targetCount === 0 || config.parity.sampleSize === 0) return { result: null, broken: undefined };
  const sample = await sampleIds(deps.target, targetIndex, config.parity.sampleSize, sampleSeed(fingerprint, 'probe'), null);
  const onSource = await versionsOf(source, config.source.index, sample.map((s) => s.id));
  const pairs = sample.map((s) => ({ id: s.id, targetVersion: s.version, sourceVersion: onSource.get(s.id) ?? null }));
  const verdict = versioningLooksBroken(pairs);
  return {
    result: probe({ pairs, sourceCount, targetCount, mode: config.mode }),
    broken: verdict.broken ? verdict.reason : undefined,
  };
}

function credentialsReferenceOf(deps: RunDeps, config: RunConfig): string | null {
  if (config.source.credentialsSecret) return config.source.credentialsSecret;
  const refs = deps.credentialReference(config);
  return refs ? `${refs.username.replace(/^\{\{|\}\}$/g, '')} / ${refs.password.replace(/^\{\{|\}\}$/g, '')}` : null;
}

function approvalStatus(dryRun: boolean, approval: Approval | undefined, found: boolean, maxAgeHours: number): ApprovalStatus {
  if (dryRun) return { kind: 'dry-run' };
  if (!approval) return { kind: 'missing' };
  const validUntil = new Date(Date.parse(approval.approvedAt) + maxAgeHours * 3_600_000).toISOString();
  const base = { dryRunId: approval.runId, approvedAt: approval.approvedAt, validUntil };
  return found ? { kind: 'approved', ...base } : { kind: 'expired', ...base };
}

/**
 * The dry run plans from the source's daily histogram; the live run keeps the approved plan (never
 * re-plans) and only refreshes its expected counts from today's histogram.
 */
function partitionPlanOf(config: RunConfig, census: IndexCensus, approved: RecordedPlan | undefined): RecordedPlan {
  const fresh = planPartitions({
    days: census.days,
    withoutDate: census.withoutDate,
    dateField: config.dateField,
    partitions: config.partitions,
    query: config.source.query,
  });
  const keys = approved ? approved.partitions.map(({ expected: _e, ...key }) => key) : planKey(fresh);
  const asPlan: PartitionPlan = {
    dateField: config.dateField,
    requested: fresh.requested,
    single: approved ? approved.single : fresh.single,
    partitions: keys.map((k) => ({ ...k }) as PartitionPlan['partitions'][number]),
    notes: approved ? approved.notes : fresh.notes,
  };
  const counts = expectedCounts(asPlan, census.days, census.withoutDate);
  return {
    requested: asPlan.requested,
    single: asPlan.single,
    partitions: keys.map((k, i) => ({ ...k, expected: counts[i]?.count ?? 0 })),
    notes: asPlan.notes,
  };
}

function planLines(plan: RecordedPlan): string[] {
  const lines = [`partitions (${JSON.stringify(plan.requested)}): ${plan.partitions.length} task(s)`];
  for (const p of plan.partitions) {
    const range = p.kind === 'range' ? `[${p.start ?? '-∞'}, ${p.end ?? '+∞'})` : p.kind === 'missing-date' ? 'without the date field' : 'every document';
    lines.push(`  ${p.id}  ${range.padEnd(54)} expected ${thousands(p.expected)}`);
  }
  for (const note of plan.notes) lines.push(`  note: ${note}`);
  return lines;
}
