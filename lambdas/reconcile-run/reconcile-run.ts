import { reconcile as reconcileCounters } from '../shared/checks/counters';
import { CounterMismatchError, ReindexFailedError, taskFailureError } from '../shared/runtime/errors';
import type { PartitionItem, PartitionSummary } from '../shared/ledger/ledger';
import { sumCounters, WHOLE_INDEX_PARTITION_ID } from '../shared/planning/partitions';
import { loadRun, type RunDeps, type StateInvocation } from '../shared/runtime/run-context';

/**
 * After the Map: every task reconciled, and the sum of their totals is the source baseline. A task that
 * failed for good ends the run with its own error (the whole index: its own message too).
 */
export async function reconcileRun({ state }: StateInvocation, deps: RunDeps): Promise<{ total: number }> {
  const { runId, targetIndex } = state.run;
  const record = await loadRun(deps, runId);
  const config = record.config;
  const parts = await deps.ledger.listPartitions(runId);
  const summary = parts.map(partitionSummary);
  const sum = sumCounters(parts.map((p) => p.counters));
  const failed = parts.filter((p) => p.status !== 'SUCCEEDED');
  const sourceBaseline = (record.baselines as { sourceCount: number } | undefined)?.sourceCount ?? 0;
  const verdict = reconcileCounters({ counters: sum, failures: [], sourceBaseline, tolerance: config.parity.countTolerance });
  const firstFailures = parts.flatMap((p) => p.firstFailures ?? []).slice(0, 10);
  const lastErrorOf = (p: PartitionItem) => p.errors[p.errors.length - 1];
  const mismatched = !verdict.ok && verdict.error === 'CounterMismatch';
  // The run's counters are those of its tasks' results: a task lost or cancelled before its end has none.
  const reconciled = parts.every((p) => p.counters?.arithmetic !== undefined);
  await deps.ledger.updateRun(runId, {
    ...(reconciled ? { counters: { ...sum, arithmetic: verdict.arithmetic, firstFailures } } : {}),
    partitions: summary,
  });
  deps.metrics.emit(targetIndex, {
    Created: sum.created,
    Updated: sum.updated,
    VersionConflicts: sum.versionConflicts,
    Failures: sum.failures,
    CounterMismatch: mismatched || failed.some((p) => lastErrorOf(p)?.error === 'CounterMismatch') ? 1 : 0,
  });
  if (failed.length > 0) {
    const first = failed[0]!;
    const last = lastErrorOf(first);
    const message =
      parts.length === 1 && first.partitionId === WHOLE_INDEX_PARTITION_ID
        ? (last?.cause ?? 'the task did not reconcile: no attempt recorded')
        : `${failed.length} of ${parts.length} partition(s) did not reconcile: ${failed.map((p) => `${p.partitionId} ${p.status}`).join(', ')}; ${first.partitionId}: ${last?.cause ?? 'no attempt recorded'}`;
    throw taskFailureError(last?.error ?? 'ReindexFailed', message);
  }
  if (!verdict.ok) {
    const message = `${parts.length === 1 ? '' : `sum of ${parts.length} partitions: `}${verdict.cause} (${verdict.arithmetic})`;
    throw verdict.error === 'CounterMismatch' ? new CounterMismatchError(message) : new ReindexFailedError(message);
  }
  deps.log.info('run reconciles', { runId, tasks: parts.length, arithmetic: verdict.arithmetic });
  return { total: sum.total };
}

function partitionSummary(p: PartitionItem): PartitionSummary {
  return JSON.parse(
    JSON.stringify({
      id: p.partitionId,
      kind: p.kind,
      start: p.start,
      end: p.end,
      expected: p.expected,
      status: p.status,
      attempts: p.attempts,
      taskIds: p.taskIds,
      launchedAt: p.launchedAt,
      counters: p.counters,
      errors: p.errors.length ? p.errors : undefined,
      stall: p.stall,
    }),
  ) as PartitionSummary;
}
