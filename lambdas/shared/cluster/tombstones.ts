import { errors, type Client } from '@opensearch-project/opensearch';
import { TombstoneRetentionUnavailableError } from '../runtime/errors';
import { durationMs } from '../runtime/config';
import type { TombstoneRetention } from '../ledger/ledger';
import type { RunDeps } from '../runtime/run-context';
import { call, classifyClusterError, errorType, isNotFound, statusOf } from './search-client';

/**
 * Tombstone retention (docs/design.md step 6a). A document the application deletes on the target
 * leaves a tombstone that remembers its version for `index.gc_deletes` (60 s by default). A remote
 * reindex reads the source through a scroll snapshot, so it still carries the deleted document when
 * it reaches it; with the tombstone gone, `version_type: external` finds nothing to compare with and
 * creates the document again (counted as `created`). So before the first task of a live run launches,
 * the target keeps tombstones longer than any task of the run can run, and gets its own value back
 * when the run ends. Tombstones live in the primary's heap: a failover, relocation or restart loses
 * them whatever the setting, which is why parity is the backstop.
 */

export const GC_DELETES = 'index.gc_deletes';
/** What the servers use when the index does not set it. */
export const SERVER_DEFAULT_GC_DELETES = '60s';

/** A whole number of hours as a time value, at least `ms` long. */
export function hoursAtLeast(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 3_600_000))}h`;
}

export interface GcDeletesSetting {
  /** The concrete index the name resolved to. */
  readonly index: string;
  /** The index's own value, or null when it does not set one. */
  readonly explicit: string | null;
  /** What is in force: the index's own value, else the server default. */
  readonly effective: string;
}

/** `index.gc_deletes` of an index as it is now; undefined when the index does not exist (yet). */
export async function gcDeletesOf(client: Client, index: string): Promise<GcDeletesSetting | undefined> {
  let body: Record<string, { settings?: Record<string, string>; defaults?: Record<string, string> }>;
  try {
    ({ body } = (await client.indices.getSettings({ index, name: GC_DELETES, flat_settings: true, include_defaults: true })) as { body: typeof body });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw classifyClusterError(err, `GET ${index}/_settings/${GC_DELETES}`);
  }
  const [concrete, entry] = Object.entries(body)[0] ?? [];
  if (!concrete || !entry) return undefined;
  const explicit = entry.settings?.[GC_DELETES] ?? null;
  return { index: concrete, explicit, effective: explicit ?? entry.defaults?.[GC_DELETES] ?? SERVER_DEFAULT_GC_DELETES };
}

/** Sets (or, with null, removes) the index's own `index.gc_deletes`; a refusal keeps the server's reason. */
async function putGcDeletes(client: Client, index: string, value: string | null): Promise<void> {
  await call(`PUT ${index}/_settings ${GC_DELETES}`, () => client.indices.putSettings({ index, body: { index: { gc_deletes: value } } as Record<string, unknown> }));
}

/** What a run decides about the setting, before any request: pure. */
export type RetentionDecision =
  | { readonly kind: 'keep'; readonly reason: string }
  | { readonly kind: 'raise'; readonly to: string };

export function decideRetention(current: GcDeletesSetting, retention: string): RetentionDecision {
  const now = durationMs(current.effective);
  const wanted = durationMs(retention) ?? 0;
  if (now !== undefined && now >= wanted) return { kind: 'keep', reason: `${GC_DELETES} is ${current.effective}, already at least ${retention}` };
  return { kind: 'raise', to: retention };
}

/**
 * Before the first task launches: raise the target's `index.gc_deletes` to the run's retention if it is
 * shorter, and keep the index's original value with the lock. A lock taken over from a dead run keeps
 * the original that run recorded (the value from before it). A setting the target refuses to change
 * fails the run, unless the input accepts the risk (`guards.acceptResurrectedDeletes`).
 */
export async function retainTombstones(
  deps: RunDeps,
  run: { runId: string; targetIndex: string; retention: string; acceptResurrectedDeletes: boolean },
): Promise<TombstoneRetention | undefined> {
  const { runId, targetIndex, retention } = run;
  const current = await gcDeletesOf(deps.target, targetIndex);
  if (!current) {
    deps.log.info('tombstones: the target index does not exist yet (the reindex creates it); nothing to retain', { runId, targetIndex });
    return undefined;
  }
  const lock = await deps.ledger.getLock(targetIndex);
  const inherited = lock?.runId === runId ? lock.tombstones : undefined;
  const decision = decideRetention(current, retention);
  const at = deps.now().toISOString();
  // What the lock holds when this run changes nothing: a value a dead run raised stays recorded, so that this run restores it.
  const unchanged: TombstoneRetention = inherited ?? { index: current.index, original: current.explicit, at, runId };
  if (decision.kind === 'keep') {
    const kept = unchanged;
    await deps.ledger.setLockTombstones(targetIndex, runId, kept);
    deps.log.info('tombstones: retention kept', { runId, targetIndex, gcDeletes: current.effective, reason: decision.reason });
    return kept;
  }
  const recorded: TombstoneRetention = {
    index: current.index,
    original: inherited ? inherited.original : current.explicit,
    raisedTo: decision.to,
    at,
    runId,
  };
  // Recorded before the change: a run that dies right after it still leaves the original to restore.
  await deps.ledger.setLockTombstones(targetIndex, runId, recorded);
  try {
    await putGcDeletes(deps.target, current.index, decision.to);
  } catch (err) {
    // 429, 5xx and no answer arrive as TransientCluster (retried); a 4xx answer is the target refusing.
    if (!(err instanceof errors.ResponseError)) throw err;
    await deps.ledger.setLockTombstones(targetIndex, runId, unchanged);
    const reason = `HTTP ${statusOf(err)} ${errorType(err)}`;
    if (!run.acceptResurrectedDeletes) {
      throw new TombstoneRetentionUnavailableError(
        `the target refused to raise ${GC_DELETES} of ${current.index} from ${current.effective} to ${retention} (${reason}): a document the ` +
          `application deletes while the run has not yet copied it would come back. Allow the pipeline to update this index's settings, ` +
          `or set guards.acceptResurrectedDeletes to run anyway and rely on parity to find them`,
      );
    }
    deps.log.warn('tombstones: retention could not be raised; the input accepts that deletes may come back', { runId, targetIndex, reason });
    return undefined;
  }
  deps.log.info('tombstones: retention raised', { runId, targetIndex, from: current.effective, to: decision.to, original: recorded.original });
  return recorded;
}

/**
 * The retention a task that has run `runningMs` needs when the one in force is too short for it (past
 * half of it): four times its running time, in whole hours. Only a value this pipeline raised is
 * extended (an index's own longer value is left to its owner).
 */
export function extendedRetention(runningMs: number, configured: string, raisedTo: string | undefined): string | undefined {
  if (!raisedTo) return undefined;
  const inForce = Math.max(durationMs(configured) ?? 0, durationMs(raisedTo) ?? 0);
  return runningMs * 2 <= inForce ? undefined : hoursAtLeast(runningMs * 4);
}

/**
 * While a task runs longer than half the retention, the retention grows to twice its running time, so a
 * delete made when the task started is still remembered when the scroll reaches the end.
 */
export async function extendTombstoneRetention(deps: RunDeps, run: { runId: string; targetIndex: string; retention: string }, runningMs: number): Promise<void> {
  // Most polls end here, without a ledger read.
  if (runningMs * 2 <= (durationMs(run.retention) ?? 0)) return;
  const lock = await deps.ledger.getLock(run.targetIndex);
  const recorded = lock?.runId === run.runId ? lock.tombstones : undefined;
  const to = extendedRetention(runningMs, run.retention, recorded?.raisedTo);
  if (!recorded || !to) return;
  // Changed first, recorded second: a failed change must not leave a value on the lock the index never had.
  await putGcDeletes(deps.target, recorded.index, to);
  await deps.ledger.setLockTombstones(run.targetIndex, run.runId, { ...recorded, raisedTo: to, at: deps.now().toISOString() });
  deps.log.info('tombstones: retention extended for a long task', { runId: run.runId, targetIndex: run.targetIndex, from: recorded.raisedTo, to });
}

/**
 * When the run ends, however it ends (before the lock is released): the index gets its original value
 * back, unless someone changed the setting since this run raised it (then it is left as they set it).
 * A run that never raised it changes nothing.
 */
export async function restoreTombstones(deps: RunDeps, targetIndex: string, runId: string): Promise<void> {
  const lock = await deps.ledger.getLock(targetIndex);
  const recorded = lock?.runId === runId ? lock.tombstones : undefined;
  if (!recorded?.raisedTo) return;
  const current = await gcDeletesOf(deps.target, recorded.index);
  if (!current) return;
  if (current.explicit !== recorded.raisedTo) {
    deps.log.warn('tombstones: the setting was changed during the run; left as it is', { runId, targetIndex, now: current.effective, raisedTo: recorded.raisedTo });
    return;
  }
  await putGcDeletes(deps.target, recorded.index, recorded.original);
  deps.log.info('tombstones: retention restored', { runId, targetIndex, to: recorded.original ?? 'the server default' });
}
