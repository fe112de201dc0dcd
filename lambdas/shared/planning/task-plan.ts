/**
 * A run's plan of tasks: the request of one partition, its X-Opaque-Id run tag, the plan's
 * fingerprint, and the run-level slot key (the same `TaskSlots` semaphore, keyed on a per-run path of
 * the target endpoint). Each partition's item in the ledger is `PartitionItem` (ledger.ts).
 */
import { createHash } from 'node:crypto';
import { requestHash, stableJson, type CanonicalRequest } from './canonical-request';
import { ZERO_COUNTERS, type Counters } from '../checks/counters';
import type { PartitionKey, PartitionsRequest, SourceQuery } from './partitions';

/** Attempts of one partition (first run included) before it is left FAILED and the run fails. */
export const PARTITION_MAX_ATTEMPTS = 3;

/**
 * The one partition of a run without `partitions`: every document of its scope, the approved request
 * unchanged, tagged with the run id alone (`X-Opaque-Id: <runId>/<hash>`). It gets one attempt: a lost
 * or failed whole-index task ends the run with its own error, and the operator decides the rerun.
 */
export const WHOLE_INDEX_PARTITION_ID = 'all';
export const WHOLE_INDEX_MAX_ATTEMPTS = 1;

/** The hash a partitioned run's fingerprint covers: the base request plus the partitions spec. */
export function partitionedRequestHash(base: CanonicalRequest, spec: PartitionsRequest): string {
  return createHash('sha256').update(stableJson({ request: requestHash(base), partitions: spec })).digest('hex');
}

/**
 * A partitioned run's fingerprint: the request fingerprint (base request, partitions spec, target) plus
 * each partition's id, bounds and query, so that a dry run approves the concrete plan. Counts are not in it.
 */
export function planFingerprint(requestFingerprint: string, plan: ReadonlyArray<PartitionKey & { readonly expected?: number }>): string {
  const keys = plan.map(({ expected: _expected, ...key }) => key);
  return createHash('sha256').update(stableJson({ fingerprint: requestFingerprint, partitions: keys })).digest('hex');
}

/** One partition's request: the approved canonical request with `source.query` = the partition's query. */
export function partitionRequest(approved: CanonicalRequest, query: SourceQuery | null): CanonicalRequest {
  const { query: _old, ...source } = approved.body.source;
  return { ...approved, body: { ...approved.body, source: query === null ? source : { ...source, query } } };
}

/** The run id a partition's task carries in `X-Opaque-Id` (`<runId>.<pid>/<hash>`, the whole index `<runId>/<hash>`; run ids allow '.'). */
export function partitionTag(runId: string, partitionId: string): string {
  return partitionId === WHOLE_INDEX_PARTITION_ID ? runId : `${runId}.${partitionId}`;
}

/** Whether an `X-Opaque-Id` run tag is one of this run's tasks (the whole index, or one of its partitions). */
export function isRunTag(runId: string, tag: string | undefined): boolean {
  return tag === runId || (tag !== undefined && tag.startsWith(`${runId}.`) && /^p\d+$/.test(tag.slice(runId.length + 1)));
}

/** The run-level slots of a run: the target endpoint with a per-run path (its own domain key). */
export function runSlotDomain(targetEndpoint: string, runId: string): string {
  const url = new URL(targetEndpoint);
  return `${url.protocol}//${url.host}/_safe-reindex-run/${runId}`;
}

export function sumCounters(all: ReadonlyArray<Counters | undefined>): Counters {
  return all.reduce<Counters>(
    (sum, c) =>
      c === undefined
        ? sum
        : {
            total: sum.total + c.total,
            created: sum.created + c.created,
            updated: sum.updated + c.updated,
            deleted: sum.deleted + c.deleted,
            noops: sum.noops + c.noops,
            versionConflicts: sum.versionConflicts + c.versionConflicts,
            failures: sum.failures + c.failures,
          },
    ZERO_COUNTERS,
  );
}

