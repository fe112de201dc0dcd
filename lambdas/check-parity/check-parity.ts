import type { Client } from '@opensearch-project/opensearch';
import { censusOf, refresh, sampleIds, versionsOf } from '../shared/cluster-ops';
import type { RunConfig } from '../shared/config';
import { ParityFailedError } from '../shared/errors';
import type { JsonObject } from '../shared/ledger';
import {
  compareCounts,
  countProblem,
  daysProblem,
  forwardSample,
  histogramDrift,
  parityVerdict,
  reverseSample,
  type CountComparison,
  type DayDrift,
} from '../shared/parity';
import { sampleSeed } from '../preflight/preflight';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/run-context';
import {
  addCounts,
  comparedCount,
  DEFAULT_RANGE_DOCS,
  DIFFERENCE_CLASSES,
  emptyCounts,
  emptyFirstIds,
  keepFirstIds,
  planRanges,
  verificationProblem,
  type ClassCounts,
  type FirstIds,
  type VerificationRange,
} from '../shared/verification';
import { verifyRange } from './verify-range';

/** Ids per page of full verification: a page of ids and versions is a few hundred KB. */
export const VERIFY_PAGE_SIZE = 5_000;
/** No range is started after this long in one invocation (the Lambda allows 900 s; a range takes seconds). */
export const DEFAULT_VERIFY_INVOCATION_SECONDS = 480;

/** What the state machine's loop reads: `done` false sends it back to CheckParity. */
export interface ParityStep {
  readonly ok: true;
  readonly done: boolean;
}

/** Full verification between invocations, on the run record. */
interface VerificationProgress {
  readonly startedAt: string;
  readonly counts: CountComparison;
  readonly driftingDays: DayDrift[];
  queue: VerificationRange[];
  inFlight: VerificationRange[];
  verifiedRanges: number;
  splits: number;
  invocations: number;
  classes: ClassCounts;
  firstIds: FirstIds;
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
  const config = record.config as unknown as RunConfig;
  const source = await deps.sourceClient(config);
  if (config.parity.mode === 'sample') {
    if (!config.verifyOnly) await refresh(deps.target, targetIndex);
    await sampleParity(deps, config, source, runId, targetIndex, fingerprint);
    return { ok: true, done: true };
  }

  let progress = record.verification as unknown as VerificationProgress | undefined;
  if (!progress) {
    if (!config.verifyOnly) await refresh(deps.target, targetIndex);
    progress = await startVerification(deps, config, source, targetIndex);
  } else {
    // Ranges an invocation that died had started are verified again from their start.
    progress.queue = [...progress.inFlight, ...progress.queue];
    progress.inFlight = [];
  }
  progress.invocations += 1;
  await verifyRanges(deps, config, source, runId, targetIndex, progress);
  if (progress.queue.length > 0 || progress.inFlight.length > 0) return { ok: true, done: false };
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
    startedAt: deps.now().toISOString(),
    counts: compareCounts(sourceCensus?.count ?? 0, targetCensus?.count ?? 0, config.parity.countTolerance),
    driftingDays: histogramDrift(sourceCensus?.days ?? [], targetCensus?.days ?? [], config.parity.countTolerance),
    queue: planRanges(config.dateField, sourceCensus?.days ?? [], targetCensus?.days ?? [], deps.verifyRangeDocs ?? DEFAULT_RANGE_DOCS),
    inFlight: [],
    verifiedRanges: 0,
    splits: 0,
    invocations: 0,
    classes: emptyCounts(),
    firstIds: emptyFirstIds(),
  };
}

/**
 * Verifies ranges `parity.concurrency` at a time until none is left or the invocation's time is up (the
 * first ones always start, so every invocation makes progress). The progress is written after each range,
 * one write at a time, so a later invocation resumes from the last range finished.
 */
async function verifyRanges(
  deps: RunDeps,
  config: RunConfig,
  source: Client,
  runId: string,
  targetIndex: string,
  progress: VerificationProgress,
): Promise<void> {
  const startedMs = deps.now().getTime();
  const budgetMs = (deps.verifyInvocationSeconds ?? DEFAULT_VERIFY_INVOCATION_SECONDS) * 1000;
  // A run recorded before parity.concurrency existed verifies at the default.
  const concurrency = config.parity.concurrency ?? 4;
  const clients = { source, sourceIndex: config.source.index, target: deps.target, targetIndex };
  let writes: Promise<unknown> = deps.ledger.updateRun(runId, { verification: snapshot(progress) });
  let failure: unknown;
  let started = 0;
  const running = new Set<Promise<void>>();

  const start = (range: VerificationRange): void => {
    progress.inFlight.push(range);
    started += 1;
    const work = verifyRange(range, clients, {
      mode: config.mode,
      dateField: config.dateField,
      runQuery: config.source.query,
      pageSize: VERIFY_PAGE_SIZE,
      rangeDocs: deps.verifyRangeDocs ?? DEFAULT_RANGE_DOCS,
      write: async (chunk, differences) => {
        if (!deps.differences) throw new Error('full verification found differences but this deployment names no DIFFERENCES_URL to list them in');
        await deps.differences.write(runId, range.id, chunk, differences);
      },
    })
      .then((outcome) => {
        progress.inFlight = progress.inFlight.filter((r) => r.id !== range.id);
        if (outcome.kind === 'split') {
          progress.queue.unshift(...outcome.parts);
          progress.splits += 1;
        } else {
          progress.verifiedRanges += 1;
          progress.classes = addCounts(progress.classes, outcome.counts);
          progress.firstIds = keepFirstIds(
            progress.firstIds,
            DIFFERENCE_CLASSES.flatMap((c) => outcome.firstIds[c].map((id) => ({ id, class: c, sourceVersion: null, targetVersion: null }))),
          );
        }
        const state = snapshot(progress);
        writes = writes.then(() => deps.ledger.updateRun(runId, { verification: state }));
        return writes.then(() => undefined);
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => running.delete(work));
    running.add(work);
  };

  for (;;) {
    const inTime = deps.now().getTime() - startedMs < budgetMs;
    while (failure === undefined && running.size < concurrency && progress.queue.length > 0 && (inTime || started < concurrency)) {
      start(progress.queue.shift()!);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  await writes;
  if (failure !== undefined) throw failure;
}

function snapshot(progress: VerificationProgress): JsonObject {
  return structuredClone(progress) as unknown as JsonObject;
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
  await deps.ledger.updateRun(runId, { parity: parity as unknown as JsonObject });
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
  await deps.ledger.updateRun(runId, { parity: parity as unknown as JsonObject });
  deps.metrics.emit(targetIndex, { ParityDrift: counts.drift, SampleMissing: verdict.sampleMissing });
  if (!verdict.ok) {
    deps.log.warn('parity failed', { runId, cause: verdict.cause });
    throw new ParityFailedError(verdict.cause);
  }
  deps.log.info('parity holds', { runId, sourceCount: counts.sourceCount, targetCount: counts.targetCount, sampled: forward.checked + reverse.checked });
}
