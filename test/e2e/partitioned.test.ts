import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { runLocal } from '../../local/pipeline';
import { expectedCounters, seedWorkedExample, type WorkedExampleShape } from '../../local/seed/worked-example';
import { reindexTasksInto } from '../../lambdas/shared/cluster/cluster-ops';
import { clientFor } from '../support/client';
import { fileLedgerTable, ledgerItems, ledgerOf, runOptions } from '../support/e2e-harness';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';

/** Partitioned runs on the real local clusters. */

const shape: WorkedExampleShape = { missing: 400, targetOlder: 25, equal: 60, targetNewer: 15 };
/** Documents the worked example lacks: some without the date field, one exactly at each UTC day start of May. */
const WITHOUT_DATE = 7;
const DAY_STARTS = 31;

async function seedWithEdges(index: string): Promise<void> {
  const source = clientFor(localServers().source.url);
  await seedWorkedExample({ source, target: clientFor(defaultTarget().url), index, shape });
  const lines: unknown[] = [];
  for (let i = 1; i <= WITHOUT_DATE; i++) lines.push({ index: { _index: index, _id: `nodate-${i}` } }, { caller: `nodate ${i}` });
  for (let d = 1; d <= DAY_STARTS; d++) {
    const day = `2026-05-${String(d).padStart(2, '0')}T00:00:00.000Z`;
    lines.push({ index: { _index: index, _id: `edge-${d}` } }, { timestamp: day, caller: `edge ${d}` });
  }
  const { body } = await source.bulk({ body: lines as Record<string, unknown>[], refresh: 'true' });
  expect((body as { errors: boolean }).errors).toBe(false);
}

const extras = WITHOUT_DATE + DAY_STARTS;
/** The shared target, through the pipeline's own listing of reindex tasks writing into an index. */
const target = clientFor(defaultTarget().url);
const COUNTER_KEYS = ['total', 'created', 'updated', 'deleted', 'noops', 'versionConflicts', 'failures'] as const;
const pick = (c: Partial<Record<(typeof COUNTER_KEYS)[number], unknown>> | undefined) => Object.fromEntries(COUNTER_KEYS.map((k) => [k, c?.[k]]));

/** The task slot items of the ledger that someone holds (any domain, any run). */
async function heldSlots(tableName: string): Promise<Array<Record<string, unknown>>> {
  return (await ledgerItems(tableName)).filter((item) => String(item.pk).startsWith('SLOTS#') && item.holder);
}

/**
 * Samples, every 25 ms until stopped, the reindex tasks writing into these indices for a live run
 * (`<index>-live` tags, single-task or partition); `stop()` gives the most seen at once.
 */
function sampleLiveTasks(indices: readonly string[]): { stop(): Promise<number> } {
  let maxSeen = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const tasks = (await Promise.all(indices.map((index) => reindexTasksInto(target, index)))).flat();
      const live = tasks.filter((t) => indices.some((index) => [`${index}-live/`, `${index}-live.`].some((tag) => t.opaqueId?.startsWith(tag))));
      maxSeen = Math.max(maxSeen, live.length);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    async stop() {
      sampling = false;
      await sampler;
      return maxSeen;
    },
  };
}

describe('partitioned ReindexRun on the real local clusters', () => {
  it('a partitioned run gives exactly the counters of the single-task run; undated and boundary documents are copied once', async () => {
    const single = uniqueIndex('calls-single');
    const parted = uniqueIndex('calls-parted');
    const tableName = fileLedgerTable;
    await Promise.all([seedWithEdges(single), seedWithEdges(parted)]);
    const common = runOptions(tableName);
    const base = (index: string) => ({ source: { url: localServers().source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 });

    expect((await runLocal({ ...common, input: { ...base(single), runId: `${single}-dry` } })).status).toBe('SUCCEEDED');
    const one = await runLocal({ ...common, input: { ...base(single), runId: `${single}-live`, dryRun: false } });
    expect([one.status, one.error, one.cause]).toEqual(['SUCCEEDED', null, null]);

    const input = { ...base(parted), partitions: 4, maxConcurrency: 3 };
    const dry = await runLocal({ ...common, input: { ...input, runId: `${parted}-dry` } });
    expect([dry.status, dry.error, dry.cause]).toEqual(['SUCCEEDED', null, null]);
    const plan = dry.record!.plan!;
    expect(plan.partitions.map((p) => p.kind)).toEqual(['range', 'range', 'range', 'range', 'missing-date']);
    expect(plan.partitions.reduce((sum, p) => sum + p.expected, 0)).toBe(expectedCounters(shape).total + extras);
    expect(dry.record?.header?.some((line) => line.startsWith('partitions (4): 5 task(s)'))).toBe(true);

    const live = await runLocal({ ...common, input: { ...input, runId: `${parted}-live`, dryRun: false } });
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);

    const expected = expectedCounters(shape);
    expect(pick(one.record?.counters)).toEqual({
      total: expected.total + extras,
      created: expected.created + extras,
      updated: expected.updated,
      deleted: 0,
      noops: 0,
      versionConflicts: expected.versionConflicts,
      failures: 0,
    });
    expect(pick(live.record?.counters)).toEqual(pick(one.record?.counters));
    expect(live.record?.parity).toMatchObject({ ok: true });

    // Each partition: its own task, reconciled; the undated documents all in the missing-date partition.
    const parts = live.record!.partitions!;
    expect(parts).toHaveLength(5);
    expect(parts.every((p) => p.status === 'SUCCEEDED' && p.taskIds.length === 1)).toBe(true);
    expect(new Set(parts.map((p) => p.taskIds[0])).size).toBe(5);
    expect(parts.find((p) => p.kind === 'missing-date')?.counters?.total).toBe(WITHOUT_DATE);
    expect(parts.reduce((sum, p) => sum + (p.counters?.total ?? 0), 0)).toBe(expected.total + extras);
    const items = await (await ledgerOf(tableName)).listPartitions(`${parted}-live`);
    expect(items.map((p) => p.status)).toEqual(Array(5).fill('SUCCEEDED'));

    // Boundary and undated documents are on the target exactly once (ids are unique; counted by id).
    const ids = [...Array.from({ length: WITHOUT_DATE }, (_, i) => `nodate-${i + 1}`), ...Array.from({ length: DAY_STARTS }, (_, d) => `edge-${d + 1}`)];
    const { body } = await clientFor(defaultTarget().url).mget({ index: parted, body: { ids } });
    expect((body as { docs: Array<{ found: boolean }> }).docs.every((d) => d.found)).toBe(true);
    // A boundary document matched by two ranges would be counted twice by the partition totals above.
  });

  it('a dry run approves the plan: a re-plan changes the fingerprint, and a live run pinned to the earlier one launches nothing', async () => {
    const index = uniqueIndex('calls-plan-fp');
    const tableName = fileLedgerTable;
    await seedWithEdges(index);
    const options = runOptions(tableName);
    const input = { source: { url: localServers().source.url, index }, target: { index }, dateField: 'timestamp', partitions: 2 };
    const first = await runLocal({ ...options, input: { ...input, runId: `${index}-dry-1` } });
    expect([first.status, first.error]).toEqual(['SUCCEEDED', null]);
    const firstFingerprint = (first.output as { approval: { fingerprint: string } }).approval.fingerprint;
    expect(first.record?.fingerprint).toBe(firstFingerprint);
    expect(first.record?.header?.find((line) => line.startsWith('fingerprint'))).toContain(firstFingerprint);

    // Dual-write lands 600 documents on May 2nd: the same input now plans another boundary.
    const source = clientFor(localServers().source.url);
    const lines: unknown[] = [];
    for (let i = 0; i < 600; i++) lines.push({ index: { _index: index, _id: `late-${i}` } }, { timestamp: '2026-05-02T12:00:00.000Z', caller: `late ${i}` });
    expect(((await source.bulk({ body: lines as Record<string, unknown>[], refresh: 'true' })).body as { errors: boolean }).errors).toBe(false);
    const second = await runLocal({ ...options, input: { ...input, runId: `${index}-dry-2` } });
    expect([second.status, second.error]).toEqual(['SUCCEEDED', null]);
    const secondFingerprint = (second.output as { approval: { fingerprint: string } }).approval.fingerprint;
    expect(secondFingerprint).not.toBe(firstFingerprint);

    const stale = await runLocal({ ...options, input: { ...input, runId: `${index}-live-1`, dryRun: false, approvedFingerprint: firstFingerprint } });
    expect([stale.status, stale.error]).toEqual(['FAILED', 'DryRunRequired']);
    expect(stale.cause).toContain(`launches the dry run of fingerprint ${firstFingerprint}, but the approval now holds ${secondFingerprint}`);
    expect(await reindexTasksInto(target, index)).toEqual([]);
    expect(await (await ledgerOf(tableName)).listPartitions(`${index}-live-1`)).toEqual([]);

    const live = await runLocal({ ...options, input: { ...input, runId: `${index}-live-2`, dryRun: false, approvedFingerprint: secondFingerprint } });
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(live.record?.fingerprint).toBe(secondFingerprint);
    expect(pick(live.record?.counters)).toMatchObject({ total: expectedCounters(shape).total + extras + 600, failures: 0 });
  });

  it.each([
    ['a single-task run', {}, 'LaunchReindexFunctionArn'],
    ['a partitioned run', { partitions: 3, maxConcurrency: 1 }, 'LaunchReindexFunctionArn'],
  ])('%s launches what rail 1 approved even when the approval item is gone by launch time (expired and deleted during a slot wait)', async (_, extra, launchState) => {
    const index = uniqueIndex('calls-late-launch');
    const tableName = fileLedgerTable;
    await seedWithEdges(index);
    const options = runOptions(tableName);
    const input = { source: { url: localServers().source.url, index }, target: { index }, dateField: 'timestamp', ...extra };
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    const ledger = await ledgerOf(tableName);
    let deleted = 0;

    const live = await runLocal({
      ...options,
      input: { ...input, runId: `${index}-live`, dryRun: false },
      beforeState: async (key) => {
        if (key !== launchState || deleted > 0) return;
        // Every approval this dry run recorded (the approvals of the file's other runs stay).
        const approvals = (await ledgerItems(tableName)).filter((item) => String(item.pk).startsWith('DRYRUN#') && item.runId === `${index}-dry`);
        for (const item of approvals) await ledger.client.send(new DeleteCommand({ TableName: tableName, Key: { pk: item.pk, sk: item.sk } }));
        deleted = approvals.length;
      },
    });

    expect(deleted).toBe(1);
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(pick(live.record?.counters)).toMatchObject({ total: expectedCounters(shape).total + extras, failures: 0 });
  });

  it('two partitioned runs started together on one target never run more reindex tasks than maxTasksPerDomain', async () => {
    const a = uniqueIndex('calls-sem-a');
    const b = uniqueIndex('calls-sem-b');
    const tableName = fileLedgerTable;
    await Promise.all([seedWithEdges(a), seedWithEdges(b)]);
    const options = { ...runOptions(tableName), maxTasksPerDomain: 2 };
    const input = (index: string) => ({
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 20,
      requestsPerSecond: 100,
      partitions: 4,
      maxConcurrency: 2,
    });
    for (const index of [a, b]) {
      const dry = await runLocal({ ...options, input: { ...input(index), runId: `${index}-dry` } });
      expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    }

    const sampling = sampleLiveTasks([a, b]);
    const live = (index: string) => runLocal({ ...options, input: { ...input(index), runId: `${index}-live`, dryRun: false } });
    const [runA, runB] = await Promise.all([live(a), live(b)]);
    const maxSeen = await sampling.stop();
    expect([runA.status, runA.error, runA.cause]).toEqual(['SUCCEEDED', null, null]);
    expect([runB.status, runB.error, runB.cause]).toEqual(['SUCCEEDED', null, null]);
    // Four partition tasks were wanted at once (two runs × maxConcurrency 2): the domain's two slots bound them.
    // (With maxTasksPerDomain 4 the same runs are seen at 4.)
    expect(maxSeen).toBe(2);
    for (const run of [runA, runB]) expect(pick(run.record?.counters)).toMatchObject({ total: expectedCounters(shape).total + extras, failures: 0 });
  });

  it('a partition whose task is cancelled from outside is rerun alone; the others keep their one task and the target ends exact', async () => {
    const index = uniqueIndex('calls-retry');
    const tableName = fileLedgerTable;
    await seedWithEdges(index);
    const input = {
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 20,
      requestsPerSecond: 50,
      partitions: 3,
      maxConcurrency: 3,
    };
    const options = runOptions(tableName);
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    const runId = `${index}-live`;
    let cancelled: string | undefined;
    const live = await runLocal({
      ...options,
      input: { ...input, runId, dryRun: false },
      beforeState: async (key) => {
        if (key !== 'PollTaskFunctionArn' || cancelled) return;
        for (const task of await reindexTasksInto(target, index)) {
          if (task.opaqueId?.startsWith(`${runId}.p02/`)) {
            cancelled = task.taskId;
            await rest(defaultTarget().url, 'POST', `/_tasks/${task.taskId}/_cancel`);
          }
        }
      },
    });
    expect(cancelled).toBeDefined();
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const parts = live.record!.partitions!;
    expect(parts.map((p) => [p.id, p.status, p.attempts])).toEqual([
      ['p01', 'SUCCEEDED', 1],
      ['p02', 'SUCCEEDED', 2],
      ['p03', 'SUCCEEDED', 1],
      ['p04', 'SUCCEEDED', 1],
    ]);
    const p02 = parts[1]!;
    expect(p02.taskIds[0]).toBe(cancelled);
    expect(p02.errors?.[0]).toMatchObject({ error: 'ReindexFailed', taskId: cancelled });
    const expected = expectedCounters(shape);
    // The rerun of p02 meets the documents its first task wrote (same versions): conflicts, not new copies.
    expect(live.record?.counters).toMatchObject({ total: expected.total + extras, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
  });

  it('single-task runs take a task slot of the target domain too: with maxTasksPerDomain 1, a partitioned run and two single-task runs run one task at a time', async () => {
    const [parted, whole1, whole2] = [uniqueIndex('calls-sem-p'), uniqueIndex('calls-sem-s1'), uniqueIndex('calls-sem-s2')];
    const tableName = fileLedgerTable;
    await Promise.all([parted, whole1, whole2].map(seedWithEdges));
    const options = { ...runOptions(tableName), maxTasksPerDomain: 1 };
    const input = (index: string) => ({
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 20,
      requestsPerSecond: 200,
      ...(index === parted ? { partitions: 3, maxConcurrency: 1 } : {}),
    });
    for (const index of [parted, whole1, whole2]) {
      const dry = await runLocal({ ...options, input: { ...input(index), runId: `${index}-dry` } });
      expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    }

    const sampling = sampleLiveTasks([parted, whole1, whole2]);
    const runs = await Promise.all([parted, whole1, whole2].map((index) => runLocal({ ...options, input: { ...input(index), runId: `${index}-live`, dryRun: false } })));
    const maxSeen = await sampling.stop();

    for (const run of runs) {
      expect([run.status, run.error, run.cause]).toEqual(['SUCCEEDED', null, null]);
      expect(pick(run.record?.counters)).toMatchObject({ total: expectedCounters(shape).total + extras, failures: 0 });
    }
    expect(maxSeen).toBe(1);
    const held = await heldSlots(tableName);
    expect(held).toEqual([]);
  });

  it('a stopped single-task run cancels its task and frees its slot of the target domain', async () => {
    const index = uniqueIndex('calls-stop-single');
    const tableName = fileLedgerTable;
    await seedWithEdges(index);
    const input = { source: { url: localServers().source.url, index }, target: { index }, batchSize: 10, requestsPerSecond: 20 };
    const options = runOptions(tableName);
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    const controller = new AbortController();
    let slotsWhileRunning: Array<Record<string, unknown>> = [];
    const live = await runLocal({
      ...options,
      signal: controller.signal,
      input: { ...input, runId: `${index}-live`, dryRun: false },
      beforeState: async (key) => {
        if (key !== 'PollTaskFunctionArn' || controller.signal.aborted) return;
        slotsWhileRunning = await heldSlots(tableName);
        controller.abort();
      },
    });

    expect(live.status).toBe('ABORTED');
    expect(slotsWhileRunning.map((item) => (item.holder as { runId: string }).runId)).toEqual([`${index}-live`, `${index}-live`]);
    const answer = await rest<{ completed: boolean; task: { cancelled?: boolean } }>(defaultTarget().url, 'GET', `/_tasks/${String(live.taskId)}?wait_for_completion=true&timeout=20s`);
    expect([answer.body.completed, answer.body.task.cancelled]).toEqual([true, true]);
    const held = await heldSlots(tableName);
    expect(held).toEqual([]);
  });

  it('stopping the execution cancels every running partition task, releases every slot and marks the run ABORTED', async () => {
    const index = uniqueIndex('calls-stop');
    const tableName = fileLedgerTable;
    await seedWithEdges(index);
    const input = {
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 10,
      requestsPerSecond: 20,
      partitions: 3,
      maxConcurrency: 3,
    };
    const options = runOptions(tableName);
    expect((await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } })).status).toBe('SUCCEEDED');
    const runId = `${index}-live`;
    const controller = new AbortController();
    let polls = 0;
    const live = await runLocal({
      ...options,
      signal: controller.signal,
      input: { ...input, runId, dryRun: false },
      beforeState: (key) => {
        if (key === 'PollTaskFunctionArn' && ++polls === 3) controller.abort();
      },
    });
    const cleanedUpAt = Date.now();
    expect(live.status).toBe('ABORTED');
    expect(live.record?.status).toBe('ABORTED');
    const items = await (await ledgerOf(tableName)).listPartitions(runId);
    const launched = items.flatMap((p) => p.taskIds);
    expect(launched.length).toBeGreaterThanOrEqual(1);
    // Every task was cancelled, except one whose partition was small enough to finish before the cleanup did.
    const cancelled: string[] = [];
    for (const taskId of launched) {
      const answer = await rest<{ completed: boolean; task: { cancelled?: boolean; start_time_in_millis: number; running_time_in_nanos: number } }>(
        defaultTarget().url,
        'GET',
        `/_tasks/${taskId}?wait_for_completion=true&timeout=20s`,
      );
      expect(answer.body.completed).toBe(true);
      if (answer.body.task.cancelled) cancelled.push(taskId);
      else expect(answer.body.task.start_time_in_millis + answer.body.task.running_time_in_nanos / 1e6, taskId).toBeLessThanOrEqual(cleanedUpAt);
    }
    expect(cancelled.length).toBeGreaterThanOrEqual(1);
    const slots = await heldSlots(tableName);
    expect(slots).toEqual([]);
  });
});
