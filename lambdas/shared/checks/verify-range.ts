import type { Client } from '@opensearch-project/opensearch';
import { countOf, idPages, versionsOf } from '../cluster/cluster-ops';
import type { Mode } from '../runtime/config';
import {
  addCounts,
  classify,
  confirm,
  emptyCounts,
  emptyFirstIds,
  isDifference,
  keepFirstIds,
  rangeQuery,
  sliceRange,
  splitRange,
  type ClassCounts,
  type Difference,
  type DocumentClass,
  type FirstIds,
  type VerificationRange,
} from './verification';

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
