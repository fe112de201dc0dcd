import type { Client } from '@opensearch-project/opensearch';
import type { RunConfig } from '../runtime/config';
import type { RunDeps } from '../runtime/run-context';
import { verifyRange } from './verify-range';
import {
  addCounts,
  DEFAULT_RANGE_DOCS,
  DIFFERENCE_CLASSES,
  emptyCounts,
  emptyFirstIds,
  keepFirstIds,
  planRanges,
  type ClassCounts,
  type Difference,
  type FirstIds,
  type VerificationRange,
} from './verification';
import type { DayCount } from './coverage';
import type { CountComparison, DayDrift } from './parity';

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
