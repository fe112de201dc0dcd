import { censusOf, refresh, sampleIds, versionsOf } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { ParityFailedError } from '../shared/errors';
import type { JsonObject } from '../shared/ledger';
import { compareCounts, forwardSample, histogramDrift, parityVerdict, reverseSample } from '../shared/parity';
import { sampleSeed } from '../preflight/preflight';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';

/**
 * Step 11: after a refresh, the target matches the source: counts within tolerance, no drifting day,
 * sampled source ids present on the target (merge mode: at a version at least the source's), and
 * sampled target ids present on the source (a target-only id is a lost dual-write or a resurrected delete).
 */
export async function checkParity({ state }: StateInvocation, deps: RunDeps): Promise<{ ok: true }> {
  const { runId, targetIndex, fingerprint } = state.run;
  const config = (await loadRun(deps, runId)).config as unknown as RunConfig;
  const source = await deps.sourceClient(config);
  const query = config.source.query;
  await refresh(deps.target, targetIndex);

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
    counts,
    driftingDays: days,
    forward: { checked: forward.checked, missing: forward.missing, behind: forward.behind },
    reverse: { checked: reverse.checked, targetOnly: reverse.targetOnly },
  };
  await deps.ledger.updateRun(runId, { parity: parity as unknown as JsonObject });
  deps.metrics.emit(targetIndex, { ParityDrift: counts.drift, SampleMissing: verdict.sampleMissing });
  if (!verdict.ok) {
    deps.log.warn('parity failed', { runId, cause: verdict.cause });
    throw new ParityFailedError(verdict.cause);
  }
  deps.log.info('parity holds', { runId, sourceCount: counts.sourceCount, targetCount: counts.targetCount, sampled: forward.checked + reverse.checked });
  return { ok: true };
}
