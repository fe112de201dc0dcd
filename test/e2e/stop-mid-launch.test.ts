import { describe, expect, it } from 'vitest';
import { cancelUnrecordedTasks } from '../../lambdas/abort-run/abort-run';
import { launchReindex } from '../../lambdas/launch-reindex/launch-reindex';
import { buildCanonicalRequest } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { RunAlreadyFinishedError } from '../../lambdas/shared/ledger/ledger';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { RunDeps } from '../../lambdas/shared/runtime/run-context';
import { collectingMetrics } from '../../local/pipeline';
import { seedWorkedExample } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { cancellationOf, fileLedgerTable, finishedTask, ledgerOf, runningTaskId } from '../support/e2e-harness';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

/**
 * A console stop can land between a launch and the write of its task id: the task runs and no ledger
 * item names it yet. The cleanup then cancels every task writing into the run's index under the run's
 * own tag, and a launch that answers after the run was marked ended cancels its own task. The real
 * handlers' logic on the real target and the local ledger.
 */

const servers = localServers();
const HASH = 'b'.repeat(64);

async function throttledSource(): Promise<string> {
  const index = uniqueIndex('stop-launch');
  await seedWorkedExample({ source: clientFor(servers.source.url), index, shape: { missing: 50, targetOlder: 0, equal: 0, targetNewer: 0 } });
  return index;
}

/** A remote reindex tagged `tag` (X-Opaque-Id), one document per ten seconds: running when looked at. */
async function launchTagged(sourceIndex: string, dest: string, tag: string): Promise<string> {
  const { body } = await clientFor(defaultTarget().url).transport.request(
    {
      method: 'POST',
      path: '/_reindex',
      querystring: { wait_for_completion: false, requests_per_second: 0.1 },
      body: { conflicts: 'proceed', source: { remote: { host: servers.source.url }, index: sourceIndex, size: 1 }, dest: { index: dest, version_type: 'external' } },
    },
    { headers: { 'X-Opaque-Id': `${tag}/${HASH}` } },
  );
  return (body as { task: string }).task;
}

async function depsWith(): Promise<RunDeps> {
  return {
    ledger: await ledgerOf(fileLedgerTable),
    target: clientFor(defaultTarget().url),
    targetEndpoint: defaultTarget().url,
    sourceClient: async () => clientFor(servers.source.url),
    sourceCredentials: async () => undefined,
    credentialReference: () => undefined,
    isHolderFinished: async () => false,
    metrics: collectingMetrics(),
    log: { info: () => undefined, warn: () => undefined },
    now: () => new Date(),
  };
}

async function liveRun(deps: RunDeps, runId: string, sourceIndex: string, targetIndex: string): Promise<void> {
  const config = parseRunConfig(
    { runId, source: { url: servers.source.url, index: sourceIndex }, target: { index: targetIndex }, dryRun: false, batchSize: 1, requestsPerSecond: 0.1 },
    { endpoint: defaultTarget().url },
  );
  const canonicalRequest = buildCanonicalRequest(config);
  await deps.ledger.createRun({
    runId,
    targetIndex,
    dryRun: false,
    config: { ...config, canonicalRequest },
    fingerprint: 'f',
    requestHash: 'h',
    startedAt: new Date().toISOString(),
    approvedBy: { runId: `${runId}-dry`, approvedAt: new Date().toISOString(), fingerprint: 'f', canonicalRequest },
  });
  // What CheckApproval plans for a run without partitions: its one whole-index task.
  await deps.ledger.putPartitions(runId, [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query: null, expected: 3, maxAttempts: 1 }], new Date());
  const lock = await deps.ledger.acquireLock({ targetIndex, runId, now: new Date(), isHolderFinished: async () => false });
  expect(lock.acquired).toBe(true);
}

describe('a stop that lands while a task is being launched', () => {
  it('the cleanup cancels the tasks of the run the ledger does not name yet, single-task and partition, and no one else\'s', async () => {
    const deps = await depsWith();
    const sourceIndex = await throttledSource();
    const targetIndex = uniqueIndex('stop-launch-dest');
    const runId = `${targetIndex}-live`;
    await liveRun(deps, runId, sourceIndex, targetIndex);
    const own = await launchTagged(sourceIndex, targetIndex, runId);
    const partition = await launchTagged(sourceIndex, targetIndex, `${runId}.p02`);
    const stranger = await launchTagged(sourceIndex, targetIndex, `${runId}x`);
    try {
      const cancelled = await cancelUnrecordedTasks(deps, targetIndex, runId);

      expect(cancelled.sort()).toEqual([own, partition].sort());
      for (const taskId of [own, partition]) expect(cancellationOf(await finishedTask(taskId))).toBeDefined();
      const { body } = await clientFor(defaultTarget().url).tasks.get({ task_id: stranger });
      expect((body as { completed: boolean }).completed).toBe(false);
    } finally {
      await clientFor(defaultTarget().url).tasks.cancel({ task_id: stranger }).catch(() => undefined);
    }
  });

  it('leaves every task alone when the lock of the index is no longer the run\'s', async () => {
    const deps = await depsWith();
    const sourceIndex = await throttledSource();
    const targetIndex = uniqueIndex('stop-launch-dest');
    const runId = `${targetIndex}-live`;
    const task = await launchTagged(sourceIndex, targetIndex, runId);
    try {
      expect(await cancelUnrecordedTasks(deps, targetIndex, runId)).toEqual([]);
      const { body } = await clientFor(defaultTarget().url).tasks.get({ task_id: task });
      expect((body as { completed: boolean }).completed).toBe(false);
    } finally {
      await clientFor(defaultTarget().url).tasks.cancel({ task_id: task }).catch(() => undefined);
    }
  });

  it('a launch that answers after the run was marked ABORTED cancels the task it just started', async () => {
    const deps = await depsWith();
    const sourceIndex = await throttledSource();
    const targetIndex = uniqueIndex('stop-launch-dest');
    const runId = `${targetIndex}-live`;
    await liveRun(deps, runId, sourceIndex, targetIndex);
    await deps.ledger.finishRun(runId, { status: 'ABORTED', error: 'Aborted', cause: 'the execution ended ABORTED' });

    const run = { runId, dryRun: false, targetIndex, fingerprint: 'f', requestHash: 'h' };
    await expect(launchReindex({ state: { run, partition: { id: WHOLE_INDEX_PARTITION_ID, kind: 'all' } } }, deps)).rejects.toBeInstanceOf(
      RunAlreadyFinishedError,
    );

    const taskId = await runningTaskId(deps.ledger, runId);
    expect(taskId).toBeDefined();
    expect(cancellationOf(await finishedTask(taskId!))).toBeDefined();
  });
});
