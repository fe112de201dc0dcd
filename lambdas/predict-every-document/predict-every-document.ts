import { censusOf } from '../shared/cluster/cluster-ops';
import type { RunConfig } from '../shared/runtime/config';
import { exactProbeLines, withProbeLines } from '../shared/planning/header';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';
import { comparedCount, type ClassCounts } from '../shared/checks/verification';
import { rangesLeft, resumeRanges, startRanges, verifyRangesInTurn, type RangeProgress } from '../shared/checks/verify-ranges';

/**
 * A dry run with `probe: "full"`, between the pre-flight and the approval: the exact prediction. Every
 * document of the run's scope is compared on both clusters by id and version, as full verification
 * does (the same ranges and pages, no confirming lookup: it counts what it sees as of the dry run), over
 * as many invocations as it takes. The result replaces the sample's probe on the run record, so the
 * approval records it, and its lines replace the sample's in the header.
 */

export interface PredictionStep {
  readonly done: boolean;
}

/** What each source document's class means for the reindex of that mode. */
export function exactPrediction(mode: RunConfig['mode'], classes: ClassCounts) {
  const created = classes.missing;
  const updated = mode === 'merge' ? classes.regression : mode === 'overwrite' ? classes.equal + classes.targetNewer : 0;
  const versionConflicts = comparedCount(classes) - created - updated;
  return { created, updated, versionConflicts };
}

export async function predictEveryDocument({ state }: StateInvocation, deps: RunDeps): Promise<PredictionStep> {
  const { runId, targetIndex } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const source = await deps.sourceClient(config);
  const recorded = record.exactProbe;
  let progress: RangeProgress;
  if (recorded) {
    progress = resumeRanges(recorded);
  } else {
    const [sourceCensus, targetCensus] = await Promise.all([
      censusOf(source, config.source.index, config.dateField, config.source.query),
      censusOf(deps.target, targetIndex, config.dateField, config.source.query),
    ]);
    progress = startRanges(deps, config.dateField, sourceCensus?.days ?? [], targetCensus?.days ?? []);
  }
  await verifyRangesInTurn({
    deps,
    config,
    source,
    targetIndex,
    progress,
    confirm: false,
    save: (exactProbe) => deps.ledger.updateRun(runId, { exactProbe }),
  });
  if (rangesLeft(progress)) return { done: false };

  const c = progress.classes;
  const predicted = exactPrediction(config.mode, c);
  const at = deps.now().toISOString();
  const counts = { equal: c.equal, sourceNewer: c.regression + c.sourceNewerByDesign, targetNewer: c.targetNewer, targetOnly: c.targetOnly };
  const compared = comparedCount(c);
  const point = (x: number) => ({ low: x, high: x });
  // In the shape of the sample's probe (so the approval and the live run read it as they read that one), exact.
  const probe = {
    mode: 'full' as const,
    at,
    sampled: compared,
    counts,
    examples: [],
    estimatedOverlap: compared - c.missing,
    predicted,
    interval: { confidence: 1, created: point(predicted.created), updated: point(predicted.updated), versionConflicts: point(predicted.versionConflicts) },
    ranges: progress.verifiedRanges,
    invocations: progress.invocations,
  };
  const lines = exactProbeLines({ compared, targetOnly: c.targetOnly, predicted, counts, at });
  const header = withProbeLines(record.header ?? [], lines);
  await deps.ledger.updateRun(runId, { probe, header });
  deps.log.info('exact prediction done', { runId, predicted, compared, prediction: lines });
  return { done: true };
}
