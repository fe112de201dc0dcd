import type { Client } from '@opensearch-project/opensearch';
import { censusOf, refresh, sampleIds, versionsOf } from '../shared/cluster/cluster-ops';
import type { RunConfig } from '../shared/runtime/config';
import { ParityFailedError } from '../shared/runtime/errors';
import {
  compareCounts,
  countProblem,
  daysProblem,
  forwardSample,
  histogramDrift,
  parityVerdict,
  reverseSample,
  sampleSeed,
} from '../shared/checks/parity';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { comparedCount, verificationProblem } from '../shared/checks/verification';
import { rangesLeft, resumeRanges, startRanges, verifyRangesInTurn, type VerificationProgress } from '../shared/checks/verify-ranges';

/** What the state machine's loop reads: `done` false sends it back to CheckParity. */
export interface ParityStep {
  readonly ok: true;
  readonly done: boolean;
}


/**
 * Step 11: after a refresh, counts within tolerance and no drifting day, and then either full
 * verification (the default: every document of the run's scope, both ways, over as many invocations as
 * it takes) or the sample (`parity.mode: "sample"`: sampled source ids on the target, sampled target ids on
 * the source). A verify-only run does the same without the refresh: it writes nothing.
 */
export async function checkParity({ state }: StateInvocation, deps: RunDeps): Promise<ParityStep> {
  const { runId, targetIndex, fingerprint } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const source = await deps.sourceClient(config);
  if (config.parity.mode === 'sample') {
    if (!config.verifyOnly) await refresh(deps.target, targetIndex);
    await sampleParity(deps, config, source, runId, targetIndex, fingerprint);
    return { ok: true, done: true };
  }

  const recorded = record.verification;
  let progress: VerificationProgress;
  if (recorded) {
    progress = resumeRanges(recorded);
  } else {
    if (!config.verifyOnly) await refresh(deps.target, targetIndex);
    progress = await startVerification(deps, config, source, targetIndex);
  }
  await verifyRangesInTurn({
    deps,
    config,
    source,
    targetIndex,
    progress,
    confirm: true,
    save: (verification) => deps.ledger.updateRun(runId, { verification }),
    write: async (rangeId, chunk, differences) => {
      if (!deps.differences) throw new Error('full verification found differences but this deployment names no DIFFERENCES_URL to list them in');
      await deps.differences.write(runId, rangeId, chunk, differences);
    },
  });
  if (rangesLeft(progress)) return { ok: true, done: false };
  await concludeVerification(deps, config, runId, targetIndex, progress);
  return { ok: true, done: true };
}

async function startVerification(deps: RunDeps, config: RunConfig, source: Client, targetIndex: string): Promise<VerificationProgress> {
  const query = config.source.query;
  const [sourceCensus, targetCensus] = await Promise.all([
    censusOf(source, config.source.index, config.dateField, query),
    censusOf(deps.target, targetIndex, config.dateField, query),
  ]);
  return {
    ...startRanges(deps, config.dateField, sourceCensus?.days ?? [], targetCensus?.days ?? []),
    counts: compareCounts(sourceCensus?.count ?? 0, targetCensus?.count ?? 0, config.parity.countTolerance),
    driftingDays: histogramDrift(sourceCensus?.days ?? [], targetCensus?.days ?? [], config.parity.countTolerance),
  };
}

async function concludeVerification(deps: RunDeps, config: RunConfig, runId: string, targetIndex: string, progress: VerificationProgress): Promise<void> {
  const { counts, driftingDays: days, classes, firstIds } = progress;
  const differing = classes.regression + classes.missing + classes.targetOnly;
  const location = deps.differences?.locationOf(runId);
  const problems = [countProblem(counts), daysProblem(days), verificationProblem(classes, firstIds)].filter((p): p is string => p !== undefined);
  const ok = problems.length === 0;
  const parity = {
    ok,
    mode: 'full',
    counts,
    driftingDays: days,
    verification: {
      compared: comparedCount(classes),
      classes,
      firstIds,
      ranges: progress.verifiedRanges,
      splits: progress.splits,
      invocations: progress.invocations,
      startedAt: progress.startedAt,
      finishedAt: deps.now().toISOString(),
      ...(differing > 0 && location ? { differences: location } : {}),
    },
  };
  await deps.ledger.updateRun(runId, { parity });
  deps.metrics.emit(targetIndex, { ParityDrift: counts.drift, VerifiedDifferences: differing });
  if (!ok) {
    const cause = problems.join('; ') + (differing > 0 && location ? `; every differing id is listed in ${location}` : '');
    deps.log.warn('parity failed', { runId, cause });
    throw new ParityFailedError(cause);
  }
  deps.log.info('parity holds: every document verified', {
    runId,
    sourceCount: counts.sourceCount,
    targetCount: counts.targetCount,
    compared: comparedCount(classes),
    ranges: progress.verifiedRanges,
    mode: config.mode,
  });
}

async function sampleParity(deps: RunDeps, config: RunConfig, source: Client, runId: string, targetIndex: string, fingerprint: string): Promise<void> {
  const query = config.source.query;
  const [sourceCensus, targetCensus] = await Promise.all([
    censusOf(source, config.source.index, config.dateField, query),
    censusOf(deps.target, targetIndex, config.dateField, query),
  ]);
  const counts = compareCounts(sourceCensus?.count ?? 0, targetCensus?.count ?? 0, config.parity.countTolerance);
  const days = histogramDrift(sourceCensus?.days ?? [], targetCensus?.days ?? [], config.parity.countTolerance);

  const n = config.parity.sampleSize;
  const [fromSource, fromTarget] = await Promise.all([
    sampleIds(source, config.source.index, n, sampleSeed(fingerprint, 'forward'), query),
    sampleIds(deps.target, targetIndex, n, sampleSeed(fingerprint, 'reverse'), query),
  ]);
  const [onTarget, onSource] = await Promise.all([
    versionsOf(deps.target, targetIndex, fromSource.map((d) => d.id)),
    versionsOf(source, config.source.index, fromTarget.map((d) => d.id)),
  ]);
  const forward = forwardSample(
    fromSource.map((d) => ({ id: d.id, sourceVersion: d.version, targetVersion: onTarget.get(d.id) ?? null })),
    config.mode,
  );
  const reverse = reverseSample(fromTarget.map((d) => ({ id: d.id, targetVersion: d.version, sourceVersion: onSource.get(d.id) ?? null })));
  const verdict = parityVerdict({ counts, days, forward, reverse });

  const parity = {
    ok: verdict.ok,
    mode: 'sample',
    counts,
    driftingDays: days,
    forward: { checked: forward.checked, missing: forward.missing, behind: forward.behind },
    reverse: { checked: reverse.checked, targetOnly: reverse.targetOnly },
  };
  await deps.ledger.updateRun(runId, { parity });
  deps.metrics.emit(targetIndex, { ParityDrift: counts.drift, SampleMissing: verdict.sampleMissing });
  if (!verdict.ok) {
    deps.log.warn('parity failed', { runId, cause: verdict.cause });
    throw new ParityFailedError(verdict.cause);
  }
  deps.log.info('parity holds', { runId, sourceCount: counts.sourceCount, targetCount: counts.targetCount, sampled: forward.checked + reverse.checked });
}
