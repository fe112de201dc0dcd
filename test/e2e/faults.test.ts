/**
 * ReindexRun end to end under faults, on the real local clusters (Elasticsearch 7.10.2 source, OpenSearch target):
 * transient cluster errors the state machine's Retry survives, errors that never stop (ClusterUnreachable), a
 * reindex whose total disagrees with the pre-flight baseline (CounterMismatch, or HeaderCheckFailed while it runs),
 * and a target that drifts from the source after the reindex (ParityFailed naming the days and ids).
 * Faults on the pipeline's own calls come from a fault proxy in front of the target; the reindex task itself reads
 * the source directly, so it never sees them.
 */
import type { Client } from '@opensearch-project/opensearch';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { collectingMetrics, localLedger, runLocal, type LocalRunOptions } from '../../local/pipeline';
import { serverErrors, startFaultProxy, type FaultProxy } from '../../local/fault-proxy/fault-proxy';
import { expectedCounters, seedWorkedExample, type SeedDoc, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { differencesDirectory, fileLedgerTable, runningTaskId } from '../support/e2e-harness';

const servers = localServers();
const shape: WorkedExampleShape = { missing: 400, targetOlder: 25, equal: 60, targetNewer: 15 };
const SOURCE_DOCS = 500;

/** One proxy in front of the target for the whole file (one target URL: the functions stay warm across runs). */
let shared: FaultProxy | undefined;
afterEach(() => {
  shared?.clear();
  shared?.resetLog();
});
afterAll(async () => {
  await shared?.stop();
});

interface Scenario {
  readonly index: string;
  readonly tableName: string;
  readonly source: Client;
  readonly target: Client;
  readonly docs: SeedDoc[];
  readonly proxy: FaultProxy;
  /** The run options every run of the scenario shares (the target through the proxy). */
  readonly common: Omit<LocalRunOptions, 'input'>;
  /** The execution input without run id and dryRun. */
  readonly base: Record<string, unknown>;
}

/** Seeds the worked example, runs through the file's fault proxy in front of the target and approves the input with a dry run. */
async function approvedScenario(prefix: string, input: Record<string, unknown> = {}): Promise<Scenario> {
  const index = uniqueIndex(prefix);
  const tableName = fileLedgerTable;
  const source = clientFor(servers.source.url);
  const target = clientFor(defaultTarget().url);
  const docs = await seedWorkedExample({ source, target, index, shape });
  shared ??= await startFaultProxy({ target: defaultTarget().url });
  const proxy = shared;
  const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100, ...input };
  const common = { targetUrl: proxy.url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50, differencesDirectory };
  const dry = await runLocal({ ...common, input: { ...base, runId: `${index}-dry` } });
  if (dry.status !== 'SUCCEEDED') throw new Error(`dry run failed: ${dry.error}: ${dry.cause}`);
  proxy.resetLog();
  return { index, tableName, source, target, docs, proxy, common, base };
}

/** Adds `count` new documents (ids not seen before, days 1..`count`) to the source index, refreshed. */
async function addSourceDocs(source: Client, index: string, count: number): Promise<void> {
  const lines = Array.from({ length: count }, (_, i) => [
    { index: { _index: index, _id: `late-${String(i).padStart(4, '0')}` } },
    { timestamp: new Date(Date.UTC(2026, 4, 1 + (i % 26), 12)).toISOString(), caller: `+1666${i}`, duration: i, writer: 'late' },
  ]).flat();
  const { body } = await source.bulk({ body: lines, refresh: 'true' });
  if ((body as { errors: boolean }).errors) throw new Error(`adding source docs failed: ${JSON.stringify(body).slice(0, 500)}`);
}

interface TaskAnswer {
  completed: boolean;
  task: { status?: { total?: number } };
  response?: { canceled?: string; total?: number; created?: number };
}

/** GET _tasks/{id} straight on the target until the task has finished. */
async function finishedTask(url: string, taskId: string, timeoutMs = 30_000): Promise<TaskAnswer> {
  const client = clientFor(url);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await client.tasks.get({ task_id: taskId });
    const answer = body as TaskAnswer;
    if (answer.completed) return answer;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still running after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function launches(proxy: FaultProxy): number {
  return proxy.writeRequests().filter((r) => r.method === 'POST' && r.path.startsWith('/_reindex')).length;
}

async function lockHolder(scenario: Scenario): Promise<unknown> {
  return (await localLedger(servers.ledgerEndpoint, scenario.tableName)).getLock(scenario.index);
}

describe('ReindexRun under transient cluster faults', () => {
  it('429, 503 and connection resets on _tasks in the header check, the poll loop and the reconciliation are retried: the run succeeds with the exact counters, launched once', async () => {
    // Prepare
    const scenario = await approvedScenario('faults-tasks');
    const { proxy } = scenario;
    const fired: Array<{ fired(): number; times: number }> = [];
    const inject = (rule: Parameters<FaultProxy['inject']>[0] & { times: number }) => fired.push({ ...proxy.inject(rule), times: rule.times });
    const firstCall = new Set<string>();
    const beforeState = (key: string) => {
      if (firstCall.has(key)) return;
      firstCall.add(key);
      if (key === 'CheckHeaderFunctionArn') {
        inject({ method: 'GET', path: '/_tasks/*', action: serverErrors.rejected(), times: 2 });
        inject({ method: 'GET', path: '/_tasks/*', action: serverErrors.unavailable(), times: 1 });
      }
      if (key === 'PollTaskFunctionArn') {
        inject({ method: 'GET', path: '/_tasks/*', action: { kind: 'reset' }, times: 2 });
        inject({ method: 'GET', path: '/_tasks', action: serverErrors.unavailable(), times: 1 });
        inject({ method: 'GET', path: '/_tasks', action: serverErrors.rejected(), times: 1 });
      }
      if (key === 'ReconcileTaskFunctionArn') {
        inject({ method: 'GET', path: '/_tasks/*', action: serverErrors.unavailable(), times: 2 });
        inject({ method: 'GET', path: '/_tasks/*', action: { kind: 'reset' }, times: 1 });
      }
    };
    // Act
    const live = await runLocal({ ...scenario.common, beforeState, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(fired.map((f) => f.fired())).toEqual(fired.map((f) => f.times));
    expect(proxy.requests().filter((r) => r.fault !== undefined)).toHaveLength(10);
    const expected = expectedCounters(shape);
    expect(live.record?.counters).toMatchObject({ ...expected, deleted: 0, noops: 0, failures: 0 });
    expect(live.record?.parity).toMatchObject({ ok: true });
    expect(launches(proxy)).toBe(1);
  });

  it('429, 503 and connection resets on the pipeline\'s _search and _mget (pre-flight and parity) are retried: the run succeeds with the exact counters', async () => {
    // Prepare
    const scenario = await approvedScenario('faults-search');
    const { proxy } = scenario;
    const rules: Array<{ fired(): number; times: number }> = [];
    const inject = (rule: Parameters<FaultProxy['inject']>[0] & { times: number }) => rules.push({ ...proxy.inject(rule), times: rule.times });
    // Pre-flight: the target census and the version probe search the target.
    inject({ path: '*/_search', action: serverErrors.rejected(), times: 2 });
    inject({ path: '*/_search', action: { kind: 'reset' }, times: 1 });
    inject({ path: '*/_search', action: serverErrors.unavailable(), times: 1 });
    let parityFaults = false;
    const beforeState = (key: string) => {
      if (key !== 'CheckParityFunctionArn' || parityFaults) return;
      parityFaults = true;
      inject({ path: '*/_search', action: serverErrors.unavailable(), times: 2 });
      inject({ path: '*/_mget', action: serverErrors.rejected(), times: 1 });
      inject({ path: '*/_mget', action: { kind: 'reset' }, times: 1 });
    };
    // Act
    const live = await runLocal({ ...scenario.common, beforeState, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    expect(rules.map((r) => r.fired())).toEqual(rules.map((r) => r.times));
    const expected = expectedCounters(shape);
    expect(live.record?.counters).toMatchObject({ ...expected, deleted: 0, noops: 0, failures: 0 });
    expect(live.record?.parity).toMatchObject({
      ok: true,
      mode: 'full',
      verification: { compared: expected.total, classes: { regression: 0, missing: 0, targetOnly: 0 } },
    });
    expect(launches(proxy)).toBe(1);
  });
});

describe('ReindexRun under faults that never stop', () => {
  it('_tasks answering 429 forever after the launch: FAILED ClusterUnreachable naming the call, the launched task cancelled, the lock released', async () => {
    // Prepare: throttled, so the task is still running when the retries run out.
    const scenario = await approvedScenario('faults-forever-tasks', { batchSize: 50, requestsPerSecond: 5 });
    const { proxy } = scenario;
    const forever = proxy.inject({ method: 'GET', path: '/_tasks/*', action: serverErrors.rejected() });
    // Act
    const live = await runLocal({ ...scenario.common, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess
    const taskId = live.taskId;
    expect(taskId).toMatch(/^[\w-]+:\d+$/);
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('ClusterUnreachable');
    expect(live.cause).toBe(`GET _tasks/${taskId}: HTTP 429 es_rejected_execution_exception: ${(serverErrors.rejected().body as { error: { reason: string } }).error.reason}`);
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'ClusterUnreachable', cause: live.cause });
    // CheckHeader: the first attempt and its 6 retries.
    expect(forever.fired()).toBe(7);
    expect(proxy.writeRequests().filter((r) => decodeURIComponent(r.path) === `/_tasks/${taskId}/_cancel`).length).toBeGreaterThanOrEqual(1);
    const done = await finishedTask(defaultTarget().url, taskId!);
    expect(done.response?.canceled).toBe('by user request');
    expect(done.response?.created ?? 0).toBeLessThan(SOURCE_DOCS);
    expect(await lockHolder(scenario)).toBeUndefined();
  });

  it('a task that cannot be cancelled keeps its lock: no reindex is left writing with no owner', async () => {
    // Prepare: throttled, so the task still runs when the run gives up; reads and cancels both refused.
    const scenario = await approvedScenario('faults-uncancellable', { batchSize: 50, requestsPerSecond: 5 });
    const { proxy } = scenario;
    proxy.inject({ method: 'GET', path: '/_tasks/*', action: serverErrors.rejected() });
    proxy.inject({ method: 'POST', path: '/_tasks/*/_cancel', action: serverErrors.unavailable() });
    // Act
    const live = await runLocal({ ...scenario.common, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess: the failure is recorded, says the task could not be cancelled, and the lock stays with the run.
    const taskId = live.taskId;
    expect(live.status).toBe('FAILED');
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'ClusterUnreachable' });
    expect(live.record?.cause).toContain(`task ${taskId} could not be cancelled yet`);
    expect(await lockHolder(scenario)).toMatchObject({ runId: `${scenario.index}-live` });
    // Once the cluster answers again, the task is cancelled by hand and the lock can be reclaimed: the run is terminal.
    proxy.clear();
    await clientFor(defaultTarget().url).tasks.cancel({ task_id: taskId! });
    expect((await finishedTask(defaultTarget().url, taskId!)).response?.canceled).toBe('by user request');
  });

  it('the target resetting every search: FAILED ClusterUnreachable in the pre-flight, nothing launched, the lock released', async () => {
    // Prepare
    const scenario = await approvedScenario('faults-forever-search');
    const { proxy } = scenario;
    const forever = proxy.inject({ path: '*/_search', action: { kind: 'reset' } });
    // Act
    const live = await runLocal({ ...scenario.common, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('ClusterUnreachable');
    expect(live.cause).toMatch(new RegExp(`^census of ${scenario.index}: \\S`));
    expect(live.record).toMatchObject({ status: 'FAILED', error: 'ClusterUnreachable' });
    expect(live.taskId).toBeUndefined();
    expect(forever.fired()).toBe(7);
    expect(launches(proxy)).toBe(0);
    expect(proxy.writeRequests()).toEqual([]);
    expect(await lockHolder(scenario)).toBeUndefined();
  });
});

describe('ReindexRun when the task reads a different document set than the pre-flight counted', () => {
  it('50 documents added to the 500-doc source after the pre-flight, task finished at the header check: FAILED CounterMismatch with the arithmetic and the baseline', async () => {
    // Prepare
    const scenario = await approvedScenario('faults-mismatch');
    const runId = `${scenario.index}-live`;
    const ledger = await localLedger(servers.ledgerEndpoint, scenario.tableName);
    let added = false;
    let heldTaskId: string | undefined;
    const beforeState = async (key: string) => {
      if (key === 'LaunchReindexFunctionArn' && !added) {
        added = true;
        await addSourceDocs(scenario.source, scenario.index, 50);
      }
      // The header check is held back until the small task has finished (as a slow _tasks answer would):
      // rail 2 leaves a finished task's total to the reconciliation.
      if (key === 'CheckHeaderFunctionArn' && heldTaskId === undefined) {
        heldTaskId = await runningTaskId(ledger, runId);
        await finishedTask(defaultTarget().url, heldTaskId!);
      }
    };
    const metrics = collectingMetrics();
    // Act
    const live = await runLocal({ ...scenario.common, beforeState, metrics, input: { ...scenario.base, runId, dryRun: false } });
    // Assess
    expect(heldTaskId).toBe(live.taskId);
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('CounterMismatch');
    expect(live.cause).toBe(
      'total 550 differs from the source baseline 500 by +50 (allowed ±1): the task read a different document set than the dry run counted. ' +
        'Check the source index and query, then dry-run again. ' +
        '(550 = 450 created + 25 updated + 0 deleted + 0 noops + 75 version_conflicts)',
    );
    expect(live.record?.baselines).toMatchObject({ sourceCount: SOURCE_DOCS });
    expect(live.record?.counters).toMatchObject({ total: 550, created: 450, updated: 25, versionConflicts: 75, failures: 0 });
    expect(live.record?.parity).toBeUndefined();
    expect(metrics.emitted.filter((m) => m.name === 'CounterMismatch').map((m) => m.value)).toEqual([1]);
    expect(await lockHolder(scenario)).toBeUndefined();
  });

  it('the same extra documents under a throttled task that is still running: the task is cancelled and the run FAILS HeaderCheckFailed naming both counts', async () => {
    // Prepare
    const scenario = await approvedScenario('faults-mismatch-running', { batchSize: 50, requestsPerSecond: 5 });
    let added = false;
    const beforeState = async (key: string) => {
      if (key !== 'LaunchReindexFunctionArn' || added) return;
      added = true;
      await addSourceDocs(scenario.source, scenario.index, 50);
    };
    // Act
    const live = await runLocal({ ...scenario.common, beforeState, input: { ...scenario.base, runId: `${scenario.index}-live`, dryRun: false } });
    // Assess
    const taskId = live.taskId;
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('HeaderCheckFailed');
    expect(live.cause).toMatch(
      new RegExp(
        `^task ${taskId} was cancelled(?: after its first batch)?: the task found 550 source documents, the pre-flight counted 500 ` +
          `\\(allowed difference 1\\): it is not reading what was approved$`,
      ),
    );
    const done = await finishedTask(defaultTarget().url, taskId!);
    expect(done.response).toMatchObject({ canceled: 'by user request', total: 550 });
    expect(done.response?.created ?? 0).toBeLessThan(450);
    expect(live.record?.counters).toBeUndefined();
    expect(await lockHolder(scenario)).toBeUndefined();
  });
});

describe('ReindexRun when the target drifts from the source after the reindex', () => {
  it('target documents deleted on two UTC days and target-only documents added on a third: FAILED ParityFailed naming the days and the ids', async () => {
    // Prepare: full verification (the default) looks at every document.
    const scenario = await approvedScenario('faults-parity');
    const { target, index, docs } = scenario;
    const onDay = (day: string) => docs.filter((d) => d.timestamp.startsWith(day));
    const deleted = [...onDay('2026-05-03').slice(0, 5), ...onDay('2026-05-10').slice(0, 3)];
    const ghosts = ['ghost-1', 'ghost-2', 'ghost-3', 'ghost-4'];
    let drifted = false;
    const beforeState = async (key: string) => {
      if (key !== 'CheckParityFunctionArn' || drifted) return;
      drifted = true;
      const lines = [
        ...deleted.map((d) => ({ delete: { _index: index, _id: d.id } })),
        ...ghosts.flatMap((id, i) => [
          { index: { _index: index, _id: id, version: 5_000, version_type: 'external' } },
          { timestamp: `2026-05-20T0${i}:00:00.000Z`, caller: '+1777', duration: 1, writer: 'dual-write (lost on the source)' },
        ]),
      ];
      const { body } = await target.bulk({ body: lines, refresh: 'true' });
      if ((body as { errors: boolean }).errors) throw new Error(`drifting the target failed: ${JSON.stringify(body).slice(0, 500)}`);
    };
    const metrics = collectingMetrics();
    // Act
    const live = await runLocal({ ...scenario.common, beforeState, metrics, input: { ...scenario.base, runId: `${index}-live`, dryRun: false } });
    // Assess
    expect(live.status).toBe('FAILED');
    expect(live.error).toBe('ParityFailed');
    const day3 = onDay('2026-05-03').length;
    const day10 = onDay('2026-05-10').length;
    const day20 = onDay('2026-05-20').length;
    const parts = live.cause!.split('; ');
    expect(parts.slice(0, 2)).toEqual([
      'count drift 0.8% over tolerance 0.02%: source 500, target 496 (−4)',
      `3 day(s) drift: 2026-05-03 (source ${day3}, target ${day3 - 5}), 2026-05-10 (source ${day10}, target ${day10 - 3}), ` +
        `2026-05-20 (source ${day20}, target ${day20 + 4})`,
    ]);
    expect(parts).toHaveLength(5);
    const missing = /^full verification confirmed 8 missing on the target: (.+)$/.exec(parts[2]!);
    const targetOnly = /^4 on the target only \(resurrected delete or lost dual-write\): (.+)$/.exec(parts[3]!);
    expect(parts[4]).toMatch(new RegExp(`^every differing id is listed in .*/${index}-live/differences/$`));
    expect(missing?.[1]?.split(', ').sort()).toEqual(deleted.map((d) => d.id).sort());
    expect(targetOnly?.[1]?.split(', ').sort()).toEqual(ghosts);
    expect(live.record?.parity).toMatchObject({
      ok: false,
      driftingDays: [
        { day: '2026-05-03', source: day3, target: day3 - 5, difference: -5 },
        { day: '2026-05-10', source: day10, target: day10 - 3, difference: -3 },
        { day: '2026-05-20', source: day20, target: day20 + 4, difference: 4 },
      ],
    });
    // The reindex itself was clean: the drift came after it.
    expect(live.record?.counters).toMatchObject({ ...expectedCounters(shape), failures: 0 });
    expect(metrics.emitted.filter((m) => m.name === 'VerifiedDifferences').map((m) => m.value)).toEqual([12]);
    expect(await lockHolder(scenario)).toBeUndefined();
  });
});
