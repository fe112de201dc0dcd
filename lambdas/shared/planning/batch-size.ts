/**
 * The batch size of a remote reindex (`source.size`) from the source documents' size: large enough that
 * each scroll round trip to the source carries about {@link AUTO_BATCH_TARGET_BYTES}, small enough that
 * no batch nears the target's in-memory buffer for a remote response, and never above the source's
 * scroll ceiling. Both ceilings are pinned in test/contract/remote-batch-limits.test.ts.
 */

/** The target's buffer for one scroll response of a remote source (the REST client's default, 100 MiB). */
export const REMOTE_RESPONSE_BUFFER_BYTES = 100 * 1024 * 1024;
/** The source's default index.max_result_window, which also caps a scroll batch. */
export const SCROLL_BATCH_CEILING = 10_000;
/** Source documents the dry run measures. */
export const AUTO_BATCH_SAMPLE = 100;
/** What one batch aims to carry. */
export const AUTO_BATCH_TARGET_BYTES = 16 * 1024 * 1024;
/** A batch never plans for more than a quarter of the buffer, whatever the largest sampled document. */
const BUFFER_SHARE = 4;
/**
 * The target rejects (429) a bulk whose bytes, with the other bulks in flight on the node, exceed its
 * indexing-pressure limit (`indexing_pressure.memory.limit`, 10% of the heap by default): the run's
 * concurrent tasks together plan for at most half of it.
 */
const PRESSURE_SHARE = 2;
/** What the scroll response adds to each document's _source: _index, _type, _id, _version, _score, sort. */
const HIT_OVERHEAD_BYTES = 128;

export interface SampledDocument {
  readonly id: string;
  /** Bytes of its `_source` as JSON. */
  readonly sourceBytes: number;
}

export interface AutoBatchSize {
  readonly batchSize: number;
  /** Documents measured, their mean and largest `_source`, in bytes. */
  readonly sampled: number;
  readonly meanBytes: number;
  readonly maxBytes: number;
  /** What bounds the figure: the bytes per batch aimed at, the buffer, the target's indexing pressure, or the scroll ceiling. */
  readonly boundBy: 'target-bytes' | 'response-buffer' | 'indexing-pressure' | 'scroll-ceiling';
  /** The target's smallest per-node indexing-pressure limit, when it reports one, and the tasks that share it. */
  readonly indexingPressureBytes?: number;
  readonly concurrentTasks?: number;
}

export interface TargetLimits {
  /** The smallest `indexing_pressure.memory.limit_in_bytes` of the target's nodes; absent when not reported. */
  readonly indexingPressureBytes?: number;
  /** Tasks the run writes with at once (its maxConcurrency). @default 1 */
  readonly concurrentTasks?: number;
  /** @default SCROLL_BATCH_CEILING */
  readonly scrollCeiling?: number;
}

/** Rounded down to two significant digits: the figure is read in the header, and small changes in the sample do not move it. */
function roundDown(n: number): number {
  if (n < 100) return Math.max(1, Math.floor(n));
  const step = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.floor(n / step) * step;
}

/**
 * The batch size for documents like `sample`: about {@link AUTO_BATCH_TARGET_BYTES} per batch; even if every
 * document were as large as the largest sampled, at most a quarter of the response buffer and, with the
 * run's concurrent tasks, half of the target's indexing-pressure limit; at most the scroll ceiling. An
 * empty sample (an empty source) keeps the server's default of 1,000.
 */
export function autoBatchSize(sample: readonly SampledDocument[], index: string, limits: TargetLimits = {}): AutoBatchSize {
  const scrollCeiling = limits.scrollCeiling ?? SCROLL_BATCH_CEILING;
  const concurrentTasks = limits.concurrentTasks ?? 1;
  const pressure = limits.indexingPressureBytes;
  const context = pressure === undefined ? {} : { indexingPressureBytes: pressure, concurrentTasks };
  if (sample.length === 0) return { batchSize: 1000, sampled: 0, meanBytes: 0, maxBytes: 0, boundBy: 'target-bytes', ...context };
  const perHit = sample.map((d) => d.sourceBytes + HIT_OVERHEAD_BYTES + index.length + d.id.length);
  const mean = perHit.reduce((a, b) => a + b, 0) / perHit.length;
  const max = Math.max(...perHit);
  const bounds: Array<[number, AutoBatchSize['boundBy']]> = [
    [AUTO_BATCH_TARGET_BYTES / mean, 'target-bytes'],
    [REMOTE_RESPONSE_BUFFER_BYTES / BUFFER_SHARE / max, 'response-buffer'],
    ...(pressure === undefined ? [] : [[pressure / PRESSURE_SHARE / concurrentTasks / max, 'indexing-pressure'] as [number, AutoBatchSize['boundBy']]]),
    [scrollCeiling, 'scroll-ceiling'],
  ];
  // The smallest bound wins; at a tie the scroll ceiling names it (it is the fixed one).
  const [raw, boundBy] = bounds.reduce((a, b) => (b[0] < a[0] || (b[0] === a[0] && b[1] === 'scroll-ceiling') ? b : a));
  const sourceBytes = sample.map((d) => d.sourceBytes);
  return {
    batchSize: Math.min(scrollCeiling, roundDown(raw)),
    sampled: sample.length,
    meanBytes: Math.round(sourceBytes.reduce((a, b) => a + b, 0) / sample.length),
    maxBytes: Math.max(...sourceBytes),
    boundBy,
    ...context,
  };
}
