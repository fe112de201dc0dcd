import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { endLocalExecution, registerLocalExecution } from '../../local/ledger/ledger';
import { runLocal, type LocalRunResult } from '../../local/pipeline';
import { expectedCounters, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { cancellationOf, countOf, described, finishedTask, ledgerOf, fileProxiedClusters, runOptions, stopFileProxiedClusters, seededIndex, type FileProxiedClusters } from '../support/e2e-harness';
import { defaultTarget, localServers } from '../support/servers';

/**
 * The guards of the pre-flight (overwrite on a non-empty target, a broken versioning contract) and the
 * live-run lock (one live run per target index, stale locks taken over, Ctrl-C releases it) on the real
 * clusters.
 */

const servers = localServers();
const shape: WorkedExampleShape = { missing: 150, targetOlder: 10, equal: 30, targetNewer: 10 };

let clusters: FileProxiedClusters | undefined;

afterEach(async () => {
  clusters?.reset();
  clusters = undefined;
});

afterAll(stopFileProxiedClusters);

function seeded(prefix: string, seedShape: WorkedExampleShape = shape) {
  return seededIndex(prefix, seedShape);
}

function inputFor(index: string, extra: Record<string, unknown> = {}) {
  return { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100, ...extra };
}

/** A pid that no process has any more: a child that already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child.pid;
}

describe('guards', () => {
  it('overwrite on a non-empty target fails TargetNotEmpty with the count and days in the cause, and writes nothing', async () => {
    // Prepare
    const { index, tableName } = await seeded('guards-overwrite');
    clusters = await fileProxiedClusters();
    const options = runOptions(tableName, clusters.target.url);
    const input = { ...inputFor(index), source: { url: clusters.source.url, index }, mode: 'overwrite' };
    const targetDocs = shape.targetOlder + shape.equal + shape.targetNewer;

    // Act
    const dry = await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } });
    const live = await runLocal({ ...options, input: { ...input, runId: `${index}-live`, dryRun: false } });

    // Assess
    for (const run of [dry, live]) {
      expect([run.status, run.error]).toEqual(['FAILED', 'TargetNotEmpty']);
      expect(run.cause).toContain(`already holds ${targetDocs}`);
      expect(run.cause).toContain('from 2026-05-27 to 2026-05-31');
      expect(run.record).toMatchObject({ status: 'FAILED', error: 'TargetNotEmpty' });
      expect(run.taskId).toBeUndefined();
    }
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(described(clusters.source.writeRequests())).toEqual([]);
    expect(await countOf(defaultTarget().url, index)).toBe(targetDocs);
    expect(await (await ledgerOf(tableName)).getLock(index)).toBeUndefined();
  });

  it('a target holding the ids at internal versions fails VersioningContractBroken; allowBrokenVersioning lets the source win', async () => {
    // Prepare: the source at application versions 1000+, the target written by a dual-write without external versions.
    const brokenShape: WorkedExampleShape = { missing: 40, targetOlder: 0, equal: 0, targetNewer: 0 };
    const { index, docs, tableName } = await seeded('guards-versioning', brokenShape);
    const lines = docs.flatMap((d) => [{ index: { _index: index, _id: d.id } }, { timestamp: d.timestamp, writer: 'dual-write (internal)' }]);
    const bulk = await clientFor(defaultTarget().url).bulk({ body: lines, refresh: true });
    expect((bulk.body as { errors: boolean }).errors).toBe(false);
    const options = runOptions(tableName);

    // Act
    const refused = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-dry` } });
    const allowed = { ...inputFor(index), guards: { allowBrokenVersioning: true } };
    const dry = await runLocal({ ...options, input: { ...allowed, runId: `${index}-dry-allowed` } });
    const live = await runLocal({ ...options, input: { ...allowed, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([refused.status, refused.error]).toEqual(['FAILED', 'VersioningContractBroken']);
    expect(refused.cause).toContain('lower _version on the target');
    expect(refused.cause).toContain('(target 1, source 100');
    expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.counters).toMatchObject({ total: 40, created: 0, updated: 40, versionConflicts: 0, failures: 0 });
  });
});

describe('the live-run lock', () => {
  it('a second live run on the same target while the first polls fails RunInProgress; the first still succeeds', async () => {
    // Prepare
    const { index, tableName } = await seeded('locks-concurrent');
    const options = runOptions(tableName);
    const dry = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const ledger = await ledgerOf(tableName);
    const runA = `${index}-live-a`;
    let runB: LocalRunResult | undefined;
    let holderWhileB: string | undefined;
    const beforeState = async (key: string) => {
      if (key !== 'PollTaskFunctionArn' || runB) return;
      runB = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-live-b`, dryRun: false } });
      holderWhileB = (await ledger.getLock(index))?.runId;
    };

    // Act
    const a = await runLocal({ ...options, beforeState, input: { ...inputFor(index), runId: runA, dryRun: false } });

    // Assess
    expect([runB?.status, runB?.error]).toEqual(['FAILED', 'RunInProgress']);
    expect(runB?.cause).toContain(`locked by live run ${runA}`);
    expect(runB?.record).toMatchObject({ status: 'FAILED', error: 'RunInProgress' });
    expect(runB?.taskId).toBeUndefined();
    expect(holderWhileB).toBe(runA);
    expect([a.status, a.error, a.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(a.record?.counters).toMatchObject({ ...expectedCounters(shape), failures: 0 });
    expect(await ledger.getLock(index)).toBeUndefined();
  });

  it('a lock left by a run whose record is terminal is taken over, and the takeover is recorded', async () => {
    // Prepare: a live run that failed, then its lock written back as if it had crashed before releasing it.
    const { index, tableName } = await seeded('locks-stale-record');
    const options = runOptions(tableName);
    const dry = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const crashedId = `${index}-crashed`;
    const crashed = await runLocal({ ...options, input: { ...inputFor(index, { batchSize: 7 }), runId: crashedId, dryRun: false } });
    expect(crashed.record?.status).toBe('FAILED');
    const ledger = await ledgerOf(tableName);
    const left = await ledger.acquireLock({ targetIndex: index, runId: crashedId, now: new Date(), isHolderFinished: async () => false });
    expect(left.acquired).toBe(true);

    // Act
    const live = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.lockTakeover).toMatchObject({ previousRunId: crashedId });
    expect(live.record?.counters).toMatchObject({ ...expectedCounters(shape), failures: 0 });
    expect(await ledger.getLock(index)).toBeUndefined();
  });

  it('a lock whose local execution process is gone is taken over; one whose process lives is not', async () => {
    // Prepare
    const { index, tableName } = await seeded('locks-stale-pid');
    const options = runOptions(tableName);
    const dry = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const ledger = await ledgerOf(tableName);
    // Each holder is an execution the local runner registered, as Step Functions knows every execution.
    const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:ReindexRun';
    const take = async (runId: string, pid: number) => {
      const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}-${pid}`;
      await registerLocalExecution(servers.ledgerEndpoint, { executionArn, stateMachineArn, name: `${runId}-${pid}`, pid });
      const taken = await ledger.acquireLock({ targetIndex: index, runId, executionArn, now: new Date(), isHolderFinished: async () => false });
      return { ...taken, executionArn };
    };
    const alive = await take('alive-holder', process.pid);
    expect(alive.acquired).toBe(true);
    const whileAlive = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-live-1`, dryRun: false } });
    await ledger.releaseLock(index, 'alive-holder');
    await endLocalExecution(servers.ledgerEndpoint, alive.executionArn, 'SUCCEEDED');
    const ghost = await take('ghost-holder', deadPid());
    expect(ghost.acquired).toBe(true);
    const ghostArn = ghost.executionArn;

    // Act
    const live = await runLocal({ ...options, input: { ...inputFor(index), runId: `${index}-live-2`, dryRun: false } });

    // Assess
    expect([whileAlive.status, whileAlive.error]).toEqual(['FAILED', 'RunInProgress']);
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.lockTakeover).toMatchObject({ previousRunId: 'ghost-holder', previousExecutionArn: ghostArn });
    expect(await ledger.getLock(index)).toBeUndefined();
  });

  it('Ctrl-C during the poll loop cancels the reindex, releases the lock and marks the run ABORTED; a rerun then completes it', async () => {
    // Prepare: throttled to one batch of 50 a second, so the task is mid-way when the signal comes.
    const total = 300;
    const { index, tableName } = await seeded('locks-ctrl-c', { missing: total, targetOlder: 0, equal: 0, targetNewer: 0 });
    const options = runOptions(tableName);
    const input = inputFor(index, { batchSize: 50, requestsPerSecond: 50 });
    const dry = await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    const ctrlC = new AbortController();
    const beforeState = (key: string) => {
      if (key === 'PollTaskFunctionArn') ctrlC.abort();
    };

    // Act
    const aborted = await runLocal({ ...options, signal: ctrlC.signal, beforeState, input: { ...input, runId: `${index}-live`, dryRun: false } });

    // Assess
    expect([aborted.status, aborted.error]).toEqual(['ABORTED', 'Aborted']);
    expect(aborted.record?.status).toBe('ABORTED');
    const done = await finishedTask(aborted.taskId!);
    expect(cancellationOf(done), JSON.stringify(done)).toBe('by user request');
    const written = await countOf(defaultTarget().url, index);
    expect(written).toBeLessThan(total);
    const ledger = await ledgerOf(tableName);
    expect(await ledger.getLock(index)).toBeUndefined();

    const rerun = await runLocal({ ...options, input: { ...input, runId: `${index}-live-2`, dryRun: false } });
    expect([rerun.status, rerun.error, rerun.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(rerun.record?.counters).toMatchObject({ total, created: total - written, versionConflicts: written, updated: 0, failures: 0 });
  });
});
