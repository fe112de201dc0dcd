import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../../local/fault-proxy/fault-proxy';
import { runLocal } from '../../local/pipeline';
import { seedWorkedExample, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { fileLedgerTable, runOptions } from '../support/e2e-harness';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';

/**
 * A partition's end is seen when it happens, not at the next poll: a task that ends before its first
 * poll (as small partitions and the missing-date one do) is seen by a poll that was already waiting for
 * it, so its slot goes to the next partition at once. The real poll waits (no override), the target
 * behind the fault proxy, whose log shows every `_tasks` request and when it arrived.
 */

const shape: WorkedExampleShape = { missing: 600, targetOlder: 25, equal: 60, targetNewer: 15 };

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy({ target: defaultTarget().url });
});
afterAll(async () => {
  await proxy?.stop();
});

describe('partition hand-over on the real local clusters', () => {
  it('the poll that sees a partition end was already waiting for it, and the next partition launches after it', async () => {
    const index = uniqueIndex('calls-handover');
    await seedWorkedExample({ source: clientFor(localServers().source.url), target: clientFor(defaultTarget().url), index, shape });
    // Two ranges of ~350 documents, throttled to about 7 s each: the first poll long-polls from 1 s to
    // 3 s after the launch, and the one that sees the end long-polls from a second after the rate is
    // known (a task's end is not left to a later poll in either phase); the empty
    // missing-date partition waits for the first free slot.
    const input = {
      source: { url: localServers().source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 10,
      requestsPerSecond: 50,
      partitions: 2,
      maxConcurrency: 2,
    };
    const { pollWaitMs: _fastPolls, ...options } = runOptions(fileLedgerTable, proxy.url);
    const dry = await runLocal({ ...options, input: { ...input, runId: `${index}-dry` } });
    expect([dry.status, dry.error, dry.cause]).toEqual(['SUCCEEDED', null, null]);

    const live = await runLocal({ ...options, input: { ...input, runId: `${index}-live`, dryRun: false } });

    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const parts = live.record!.partitions!;
    expect(parts.map((p) => [p.kind, p.status, p.taskIds.length])).toEqual([
      ['range', 'SUCCEEDED', 1],
      ['range', 'SUCCEEDED', 1],
      ['missing-date', 'SUCCEEDED', 1],
    ]);
    // Task ids arrive URL-encoded (`node%3A123`).
    const log = proxy.requests().map((r) => ({ ...r, path: decodeURIComponent(r.path) }));
    const ends: number[] = [];
    for (const part of parts.filter((p) => p.kind === 'range')) {
      const taskId = part.taskIds[0]!;
      const { body } = await rest<{ completed: boolean; task: { start_time_in_millis: number; running_time_in_nanos: number } }>(defaultTarget().url, 'GET', `/_tasks/${taskId}`);
      expect(body.completed).toBe(true);
      const endedAt = body.task.start_time_in_millis + body.task.running_time_in_nanos / 1e6;
      ends.push(endedAt);
      const polls = log.filter((r) => r.method === 'GET' && r.path.split('?')[0] === `/_tasks/${taskId}`);
      const listening = polls.filter((r) => /[?&]wait_for_completion=true(&|$)/.test(r.path) && /[?&]timeout=2s(&|$)/.test(r.path));
      // The first poll after rail 2 long-polls (2 s), sent before the task ended ...
      expect(listening.length, `${taskId}: ${polls.map((r) => r.path).join(', ')}`).toBeGreaterThanOrEqual(1);
      expect(listening[0]!.receivedAt, `${taskId} ended at ${endedAt}`).toBeLessThan(endedAt);
      // The poll that saw the end was a long-poll waiting when the task ended: it answered 200 at the end
      // (a long-poll that runs out answers 500 timeout_exception, as the first one here does).
      const waiting = polls.filter((r) => /[?&]wait_for_completion=true(&|$)/.test(r.path) && r.receivedAt < endedAt).at(-1);
      expect(waiting?.status, `${taskId}: ${polls.map((r) => `${r.path} ${r.status}`).join(', ')}`).toBe(200);
      // ... so after its end only ReconcileTask reads the task (a plain GET): no poll had to come back for it.
      expect(polls.filter((r) => r.receivedAt > endedAt).map((r) => r.path)).toEqual([`/_tasks/${taskId}`]);
    }
    // The missing-date partition took the slot the first range freed: launched after that end.
    const launches = log.filter((r) => r.method === 'POST' && r.path.split('?')[0] === '/_reindex');
    expect(launches).toHaveLength(3);
    expect(launches[2]!.receivedAt).toBeGreaterThanOrEqual(Math.min(...ends));
  });
});
