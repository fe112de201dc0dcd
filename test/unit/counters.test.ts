import { describe, expect, it } from 'vitest';
import {
  arithmeticLine,
  countersFromTaskStatus,
  outcomeFromTaskAnswer,
  processed,
  reconcile,
  thousands,
  type Counters,
} from '../../lambdas/shared/checks/counters';

/** The worked example of docs/design.md. */
const WORKED: Counters = {
  total: 84_986_805,
  created: 70_798_760,
  updated: 634_962,
  deleted: 0,
  noops: 0,
  versionConflicts: 13_553_083,
  failures: 0,
};

/** The same at 1/1000 scale, as the local demo produces it. */
const WORKED_1_1000: Counters = { total: 84_987, created: 70_799, updated: 635, deleted: 0, noops: 0, versionConflicts: 13_553, failures: 0 };

/** A completed task's response as the server sends it (snake_case). */
const RESPONSE = {
  took: 17_999_000,
  timed_out: false,
  total: 84_987,
  updated: 635,
  created: 70_799,
  deleted: 0,
  batches: 85,
  version_conflicts: 13_553,
  noops: 0,
  retries: { bulk: 0, search: 0 },
  throttled_millis: 0,
  requests_per_second: -1,
  throttled_until_millis: 0,
  failures: [],
};

describe('countersFromTaskStatus', () => {
  it('maps the server snake_case response to counters', () => {
    expect(countersFromTaskStatus(RESPONSE)).toEqual(WORKED_1_1000);
  });

  it('reads a running task status, which has no failures list, as zero failures', () => {
    const { failures: _, ...running } = RESPONSE;

    expect(countersFromTaskStatus(running)).toEqual(WORKED_1_1000);
  });

  it('counts failure entries and answers zeros for a status not yet known', () => {
    expect(countersFromTaskStatus({ ...RESPONSE, failures: [{}, {}] }).failures).toBe(2);
    expect(countersFromTaskStatus(undefined)).toEqual({ total: 0, created: 0, updated: 0, deleted: 0, noops: 0, versionConflicts: 0, failures: 0 });
  });
});

describe('outcomeFromTaskAnswer', () => {
  it('takes the final counters from the response of a completed task and keeps the first five failures', () => {
    // Prepare
    const failures = Array.from({ length: 7 }, (_, i) => ({ index: 'calls', id: `d${i}`, status: 429, cause: { type: 'es_rejected_execution_exception', reason: 'full' } }));
    const answer = { completed: true, task: { status: { ...RESPONSE, created: 1 } }, response: { ...RESPONSE, failures } };

    // Act
    const outcome = outcomeFromTaskAnswer(answer);

    // Assess
    expect(outcome.counters).toEqual({ ...WORKED_1_1000, failures: 7 });
    expect(outcome.failures).toHaveLength(5);
    expect(outcome.failures[0]).toMatchObject({ id: 'd0' });
    expect(outcome).toMatchObject({ completed: true, canceled: null, timedOut: false, error: null });
  });

  it('reads a running task from task.status', () => {
    const outcome = outcomeFromTaskAnswer({ completed: false, task: { status: { total: 100, created: 40 } } });

    expect(outcome.counters).toMatchObject({ total: 100, created: 40 });
    expect(outcome.completed).toBe(false);
  });

  it('carries a cancellation and a task error', () => {
    expect(outcomeFromTaskAnswer({ completed: true, response: { ...RESPONSE, canceled: 'by user request' } }).canceled).toBe('by user request');
    expect(outcomeFromTaskAnswer({ completed: true, error: { type: 'illegal_argument_exception' } }).error).toEqual({ type: 'illegal_argument_exception' });
  });
});

describe('reconcile', () => {
  it('accepts the worked example and writes its arithmetic', () => {
    // Act
    const result = reconcile({ counters: WORKED, failures: [], sourceBaseline: 84_986_805, tolerance: 0.0002 });

    // Assess
    expect(result).toEqual({
      ok: true,
      arithmetic: '84,986,805 = 70,798,760 created + 634,962 updated + 0 deleted + 0 noops + 13,553,083 version_conflicts',
    });
  });

  it('writes the 1/1000 worked example arithmetic', () => {
    expect(arithmeticLine(WORKED_1_1000)).toBe('84,987 = 70,799 created + 635 updated + 0 deleted + 0 noops + 13,553 version_conflicts');
  });

  it('accepts a total a little above the baseline: live dual-write kept adding documents', () => {
    const counters = { ...WORKED, total: WORKED.total + 16_000, created: WORKED.created + 16_000 };

    expect(reconcile({ counters, failures: [], sourceBaseline: WORKED.total }).ok).toBe(true);
  });

  it('fails CounterMismatch when the counters do not add up to total, naming both numbers', () => {
    // Prepare
    const counters = { ...WORKED_1_1000, total: 84_990 };

    // Act
    const result = reconcile({ counters, failures: [], sourceBaseline: 84_990, tolerance: 0.0002 });

    // Assess
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBe('CounterMismatch');
    expect(result.cause).toContain('= 84,987 but total = 84,990');
    expect(result.cause).toContain('3 documents unaccounted for');
    expect(result.arithmetic).toBe('84,990 ≠ 70,799 created + 635 updated + 0 deleted + 0 noops + 13,553 version_conflicts (sum 84,987)');
  });

  it('fails CounterMismatch when total is off the source baseline by more than the tolerance', () => {
    // Act: 0.0002 of a baseline of 85,004,805 allows 17,000 documents
    const result = reconcile({ counters: WORKED, failures: [], sourceBaseline: WORKED.total + 18_000, tolerance: 0.0002 });

    // Assess
    expect(result).toMatchObject({ ok: false, error: 'CounterMismatch' });
    if (result.ok) return;
    expect(result.cause).toContain('total 84,986,805 differs from the source baseline 85,004,805 by −18,000 (allowed ±17,000)');
    expect(result.cause).toContain('dry-run again');
  });

  it('allows at least one document of drift on a small index', () => {
    const counters = { ...WORKED_1_1000, total: 10, created: 10, updated: 0, versionConflicts: 0 };

    expect(reconcile({ counters, failures: [], sourceBaseline: 11, tolerance: 0.0002 }).ok).toBe(true);
    expect(reconcile({ counters, failures: [], sourceBaseline: 12, tolerance: 0.0002 }).ok).toBe(false);
  });

  it('fails ReindexFailed when there are failures, even when the arithmetic holds', () => {
    // Prepare
    const failure = { index: 'calls-2026-05', id: 'c-1', status: 400, cause: { type: 'mapper_parsing_exception', reason: 'failed to parse field [duration]' } };

    // Act
    const result = reconcile({ counters: { ...WORKED, failures: 1 }, failures: [failure], sourceBaseline: WORKED.total });

    // Assess
    expect(result).toMatchObject({ ok: false, error: 'ReindexFailed' });
    if (result.ok) return;
    expect(result.cause).toContain('1 failure(s)');
    expect(result.cause).toContain('mapper_parsing_exception');
  });

  it('fails ReindexFailed when the failure count says so although no entry was kept', () => {
    const result = reconcile({ counters: { ...WORKED, failures: 3 }, failures: [], sourceBaseline: WORKED.total });

    expect(result).toMatchObject({ ok: false, error: 'ReindexFailed' });
  });

  it('fails ReindexFailed when the task was cancelled, with the progress it had made', () => {
    const counters = { ...WORKED_1_1000, total: 84_987, created: 1_000, updated: 0, versionConflicts: 0 };

    const result = reconcile({ counters, failures: [], sourceBaseline: 84_987, canceled: 'by user request' });

    expect(result).toMatchObject({ ok: false, error: 'ReindexFailed' });
    if (result.ok) return;
    expect(result.cause).toContain('cancelled (by user request) after 1,000 of 84,987 documents');
  });

  it('fails ReindexFailed when the task ended with an error instead of a response', () => {
    const result = reconcile({
      counters: WORKED_1_1000,
      failures: [],
      sourceBaseline: 84_987,
      taskError: { type: 'illegal_argument_exception', reason: '[es7.internal:9200] not whitelisted in reindex.remote.whitelist' },
    });

    expect(result).toMatchObject({ ok: false, error: 'ReindexFailed' });
    if (result.ok) return;
    expect(result.cause).toContain('not whitelisted');
  });

  it('fails ReindexFailed when the response timed out', () => {
    expect(reconcile({ counters: WORKED_1_1000, failures: [], sourceBaseline: 84_987, timedOut: true })).toMatchObject({ ok: false, error: 'ReindexFailed' });
  });
});

describe('number helpers', () => {
  it('sums every counter but total as processed', () => {
    expect(processed(WORKED)).toBe(84_986_805);
  });

  it('writes thousands separators', () => {
    expect([thousands(0), thousands(999), thousands(1_000), thousands(84_986_805), thousands(-1_234)]).toEqual(['0', '999', '1,000', '84,986,805', '-1,234']);
  });
});
