import { describe, expect, it } from 'vitest';
import { HISTORY_EVENT_LIMIT, PARTITIONED_SCENARIOS, simulateMonthlyBackfill, simulatePartitionedRun } from '../../local/bench/partitioned-orchestration';
import { MODELLED_VERIFY_DOCS_PER_SECOND } from '../../local/bench/modelled-verification';
import { localServers, uniqueIndex } from '../support/servers';

/**
 * Goal: "the execution stays under the 25,000-event history limit for a 13-month backfill of
 * 85M-document indices". Event counts, not timings: the ReindexRun ASL and the partition handlers run for
 * real on the local ledger, the reindex tasks are modelled on a simulated clock on which the Map's
 * iterations wait concurrently (local/bench/partitioned-orchestration.ts); `npm run bench` prints the
 * other scenarios (worst case, slow domain).
 */

const servers = localServers();

describe('history events of partitioned runs (simulated clock, real ASL and handlers)', () => {
  it('a 32-partition worked-example month at concurrency 4 stays under the 25,000-event limit', async () => {
    const result = await simulatePartitionedRun({
      ledgerEndpoint: servers.ledgerEndpoint,
      tableName: uniqueIndex('ledger-psim'),
      scenario: PARTITIONED_SCENARIOS.p32,
    });

    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    // 31 day ranges (a day is never split) and the missing-date partition, each reconciled once.
    expect(result.items).toBe(32);
    expect(result.partitions).toHaveLength(32);
    expect(result.partitions.every((p) => p.status === 'SUCCEEDED' && p.attempts === 1)).toBe(true);
    expect(result.counters).toMatchObject({ total: 84_986_805, created: 70_798_760, updated: 634_962, versionConflicts: 13_553_083 });
    // The slots held: never more than maxTasksPerDomain tasks at once, and the model never held more than lived.
    expect(result.maxRunning).toBe(4);
    expect(result.anomalies).toBe(0);
    // Four at once: the 5-hour month in well under two hours of simulated time, then full verification
    // of its 85M documents (modelled at figure 8's rate, eight minutes per CheckParity invocation).
    const verificationHours = 84_986_805 / MODELLED_VERIFY_DOCS_PER_SECOND / 3600;
    expect(result.simulatedHours - verificationHours).toBeLessThan(2);
    expect(result.simulatedHours - verificationHours).toBeGreaterThan(1);
    expect(result.historyEvents).toBeLessThan(HISTORY_EVENT_LIMIT);
  });

  it('the 13-month MonthlyBackfill parent stays under the 25,000-event limit, with manual approvals too', async () => {
    const tableName = uniqueIndex('ledger-psim-bf');
    for (const approval of ['auto', 'manual'] as const) {
      const parent = await simulateMonthlyBackfill({ ledgerEndpoint: servers.ledgerEndpoint, tableName, approval });

      expect([parent.approval, parent.status, parent.error]).toEqual([approval, 'SUCCEEDED', undefined]);
      expect(parent.months).toBe(13);
      expect(parent.children).toBe(26);
      expect(parent.historyEventsWithSubmitted).toBeGreaterThan(parent.historyEvents);
      expect(parent.historyEventsWithSubmitted).toBeLessThan(HISTORY_EVENT_LIMIT);
    }
  });
});
