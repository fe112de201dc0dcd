import type { Client } from '@opensearch-project/opensearch';
import type { Mode, RunConfig } from '../runtime/config';
import type { RunDeps } from '../runtime/run-context';
import { addCounts, classify, confirm, DEFAULT_RANGE_DOCS, DIFFERENCE_CLASSES, emptyCounts, emptyFirstIds, isDifference, keepFirstIds, planRanges, rangeQuery, sliceRange, splitRange, type ClassCounts, type Difference, type DocumentClass, type FirstIds, type VerificationRange } from './verification';
import type { DayCount } from './coverage';
import type { CountComparison, DayDrift } from './parity';
import { countOf, idPages, versionsOf } from '../cluster/cluster-ops';

/**
 * The range loop shared by full verification (CheckParity) and the dry run's exact prediction
 * (PredictEveryDocument): ranges `parity.concurrency` at a time until none is left or the invocation's
 * time is up, the progress saved after each range so that the next invocation (the state machine loops
 * back) resumes from the last range finished; ranges an invocation that died had started are read again.
 */

/** Ids per page: a page of ids and versions is a few hundred KB. */
export const VERIFY_PAGE_SIZE = 5_000;
/** No range is started after this long in one invocation (the Lambda allows 900 s; a range takes seconds). */
export const DEFAULT_VERIFY_INVOCATION_SECONDS = 480;

export interface RangeProgress {
  readonly startedAt: string;
  queue: VerificationRange[];
  inFlight: VerificationRange[];
  verifiedRanges: number;
  splits: number;
  invocations: number;
  classes: ClassCounts;
  firstIds: FirstIds;
}

/** Full verification between invocations, on the run record: the counts and days found first, the ranges' progress. */
export interface VerificationProgress extends RangeProgress {
  readonly counts: CountComparison;
  readonly driftingDays: DayDrift[];
}

export function startRanges(deps: RunDeps, dateField: string | null, sourceDays: readonly DayCount[], targetDays: readonly DayCount[]): RangeProgress {
  return {
    startedAt: deps.now().toISOString(),
    queue: planRanges(dateField, sourceDays, targetDays, deps.verifyRangeDocs ?? DEFAULT_RANGE_DOCS),
    inFlight: [],
    verifiedRanges: 0,
    splits: 0,
    invocations: 0,
    classes: emptyCounts(),
    firstIds: emptyFirstIds(),
  };
}

/** A later invocation: what the one before had in flight is read again, first. */
export function resumeRanges<P extends RangeProgress>(progress: P): P {
  progress.queue = [...progress.inFlight, ...progress.queue];
  progress.inFlight = [];
  return progress;
}

export function rangesLeft(progress: RangeProgress): boolean {
  return progress.queue.length > 0 || progress.inFlight.length > 0;
}

export interface RangeTurn<P extends RangeProgress> {
  readonly deps: RunDeps;
  readonly config: RunConfig;
  readonly source: Client;
  readonly targetIndex: string;
  readonly progress: P;
  /** Look each difference up again before it counts. */
  readonly confirm: boolean;
  /** Saves the progress (one save at a time, in order). */
  save(progress: P): Promise<unknown>;
  /** Lists confirmed differences of a range; undefined: none are listed (the prediction). */
  readonly write?: (rangeId: string, chunk: number, differences: readonly Difference[]) => Promise<void>;
}

export async function verifyRangesInTurn<P extends RangeProgress>(turn: RangeTurn<P>): Promise<void> {
  const { deps, config, progress } = turn;
  progress.invocations += 1;
  const startedMs = deps.now().getTime();
  const budgetMs = (deps.verifyInvocationSeconds ?? DEFAULT_VERIFY_INVOCATION_SECONDS) * 1000;
  // A run recorded before parity.concurrency existed verifies at the default.
  const concurrency = config.parity.concurrency ?? 4;
  const clients = { source: turn.source, sourceIndex: config.source.index, target: deps.target, targetIndex: turn.targetIndex };
  let saves: Promise<unknown> = turn.save(snapshot(progress));
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
      confirm: turn.confirm,
      write: async (chunk, differences) => {
        await turn.write?.(range.id, chunk, differences);
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
        saves = saves.then(() => turn.save(state));
        return saves.then(() => undefined);
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
  await saves;
  if (failure !== undefined) throw failure;
}

function snapshot<T extends RangeProgress>(progress: T): T {
  return structuredClone(progress);
}

export interface VerifyClients {
  readonly source: Client;
  readonly sourceIndex: string;
  readonly target: Client;
  readonly targetIndex: string;
}

export interface VerifyOptions {
  readonly mode: Mode;
  readonly dateField: string | null;
  readonly runQuery: Record<string, unknown> | null;
  /** Ids per scroll page, per lookup and per confirmation batch: what memory holds at a time. */
  readonly pageSize: number;
  /** A date range holding more than this on either cluster is halved first. */
  readonly rangeDocs: number;
  /** Writes one chunk of confirmed differences (chunks numbered from 1 within the range). */
  readonly write: (chunk: number, differences: readonly Difference[]) => Promise<void>;
  /**
   * Look every difference up again before it counts (full verification: dual-write keeps writing). Off
   * for the dry run's exact prediction, which counts what it sees as of the dry run. @default true
   */
  readonly confirm?: boolean;
}

export type RangeOutcome =
  /** Too dense to read as one: its halves by date, or its slices by `_id`, take its place. */
  | { readonly kind: 'split'; readonly parts: readonly VerificationRange[] }
  | {
      readonly kind: 'verified';
      readonly counts: ClassCounts;
      readonly firstIds: FirstIds;
      /** The most ids held in memory at once (a page plus the candidates awaiting confirmation). */
      readonly peakIds: number;
    };

/**
 * Verifies one range both ways. Forward: every source page is looked up by id on the target. Reverse:
 * every target page is looked up by id on the source (only an id the source lacks is news there: the
 * rest was classified forward). Candidates are confirmed by a second lookup on both clusters, a page at
 * a time.
 */
export async function verifyRange(range: VerificationRange, clients: VerifyClients, options: VerifyOptions): Promise<RangeOutcome> {
  const query = rangeQuery(range, options.dateField, options.runQuery);
  if (!range.slice) {
    const [onSource, onTarget] = await Promise.all([
      countOf(clients.source, clients.sourceIndex, query),
      countOf(clients.target, clients.targetIndex, query),
    ]);
    const docs = Math.max(onSource, onTarget);
    if (docs > options.rangeDocs) {
      const parts = splitRange(range) ?? sliceRange(range, docs, options.rangeDocs);
      if (parts) return { kind: 'split', parts };
    }
  }

  const confirming = options.confirm ?? true;
  let counts = emptyCounts();
  let firstIds = emptyFirstIds();
  let candidates: string[] = [];
  let chunk = 0;
  let peakIds = 0;

  const flush = async (): Promise<void> => {
    if (candidates.length === 0) return;
    const ids = candidates;
    candidates = [];
    const [onSource, onTarget] = await Promise.all([
      versionsOf(clients.source, clients.sourceIndex, ids),
      versionsOf(clients.target, clients.targetIndex, ids),
    ]);
    const confirmed = confirm(
      options.mode,
      ids.map((id) => ({ id, sourceVersion: onSource.get(id) ?? null, targetVersion: onTarget.get(id) ?? null })),
    );
    counts = addCounts(counts, confirmed.counts);
    if (confirmed.differences.length > 0) {
      chunk += 1;
      await options.write(chunk, confirmed.differences);
      firstIds = keepFirstIds(firstIds, confirmed.differences);
    }
  };

  const pass = async (
    from: Client,
    fromIndex: string,
    other: Client,
    otherIndex: string,
    judge: (version: number, otherVersion: number | null) => DocumentClass | null,
  ): Promise<void> => {
    for await (const page of idPages(from, fromIndex, query, options.pageSize, range.slice)) {
      const found = await versionsOf(other, otherIndex, page.map((d) => d.id));
      const tally: Partial<ClassCounts> = {};
      for (const d of page) {
        const verdict = judge(d.version, found.get(d.id) ?? null);
        if (verdict === null) continue;
        if (isDifference(verdict) && confirming) candidates.push(d.id);
        else tally[verdict] = (tally[verdict] ?? 0) + 1;
      }
      counts = addCounts(counts, tally);
      peakIds = Math.max(peakIds, page.length + candidates.length);
      if (candidates.length >= options.pageSize) await flush();
    }
    await flush();
  };

  await pass(clients.source, clients.sourceIndex, clients.target, clients.targetIndex, (sourceVersion, targetVersion) =>
    classify(options.mode, sourceVersion, targetVersion) ?? null,
  );
  await pass(clients.target, clients.targetIndex, clients.source, clients.sourceIndex, (_targetVersion, sourceVersion) =>
    sourceVersion === null ? 'targetOnly' : null,
  );
  return { kind: 'verified', counts, firstIds, peakIds };
}
