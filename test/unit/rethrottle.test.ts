import { describe, expect, it } from 'vitest';
import { RETHROTTLE_FLOOR, rethrottleRate, taskRate } from '../../lambdas/shared/task-loop/task-states';
import type { TaskView } from '../../lambdas/shared/cluster/cluster-ops';

describe('rethrottleRate: what a task whose writes the target rejects is slowed to', () => {
  it('halves a throttled task’s rate', () => {
    expect(rethrottleRate({ requestsPerSecond: 2_000, processed: 1_000, secondsSinceLaunch: 10 })).toBe(1_000);
  });

  it('halves an unthrottled task’s measured rate (processed over seconds since launch)', () => {
    expect(rethrottleRate({ requestsPerSecond: null, processed: 47_000, secondsSinceLaunch: 10 })).toBe(2_350);
  });

  it('never goes below the floor, and says so by giving nothing once the task runs at it', () => {
    expect(rethrottleRate({ requestsPerSecond: 70, processed: 0, secondsSinceLaunch: 1 })).toBe(RETHROTTLE_FLOOR);
    expect(rethrottleRate({ requestsPerSecond: RETHROTTLE_FLOOR, processed: 0, secondsSinceLaunch: 1 })).toBeUndefined();
    expect(rethrottleRate({ requestsPerSecond: null, processed: 30, secondsSinceLaunch: 1 })).toBeUndefined();
  });

  it('gives nothing for an unthrottled task with no measured rate yet', () => {
    expect(rethrottleRate({ requestsPerSecond: null, processed: 0, secondsSinceLaunch: 0 })).toBeUndefined();
  });
});

describe('taskRate: a _tasks answer read for rethrottling', () => {
  const running = (status: Record<string, unknown>): TaskView => ({ completed: false, task: { status } });

  it('reads -1 (how ES and OpenSearch show an unthrottled task) as unthrottled', () => {
    const answer = running({ total: 100, created: 40, updated: 0, deleted: 0, noops: 0, version_conflicts: 10, requests_per_second: -1 });
    expect(taskRate(answer, new Date(20_000), 10_000)).toEqual({ requestsPerSecond: null, processed: 50, secondsSinceLaunch: 10 });
  });

  it('reads a positive requests_per_second as the task’s throttle', () => {
    expect(taskRate(running({ total: 0, requests_per_second: 500 }), new Date(1_000), 0).requestsPerSecond).toBe(500);
  });
});
