import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createSimulatedClock,
  runStateMachine,
  type ExecutionEvent,
  type WaitReport,
} from '../../local/runner/run-state-machine';
import { TargetNotEmptyError, TransientClusterError } from '../../lambdas/shared/runtime/errors';

function fixture(name: string): object {
  return JSON.parse(readFileSync(new URL(`../fixtures/asl/${name}.asl.json`, import.meta.url), 'utf8')) as object;
}

/** A handler that resolves only when `release()` is called. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

describe('local Step Functions runner', () => {
  it('routes a lambda:invoke Task to its handler and gives the ResultSelector the AWS envelope', async () => {
    // Prepare
    const received: unknown[] = [];
    const lambdas = {
      PreflightFunctionArn: async (payload: unknown) => {
        received.push(payload);
        return { sourceCount: 85, targetCount: 12 };
      },
    };

    // Act
    const result = await runStateMachine({ definition: fixture('lambda-task'), input: { runId: 'r1' }, lambdas });

    // Assess
    expect(received).toEqual([{ runId: 'r1' }]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ runId: 'r1', preflight: { sourceCount: 85, targetCount: 12, statusCode: 200 } });
    // ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited,
    // SucceedStateEntered, SucceedStateExited, ExecutionSucceeded.
    expect(result.historyEvents).toBe(9);
    expect(result.stateTransitions).toBe(2);
  });

  it('retries a transient error by its name and reports each backoff', async () => {
    // Prepare
    let attempts = 0;
    const waits: WaitReport[] = [];
    const lambdas = {
      LaunchFunctionArn: async () => {
        attempts += 1;
        if (attempts < 3) throw new TransientClusterError('429 Too Many Requests');
        return { taskId: 'node:42' };
      },
    };

    // Act
    const result = await runStateMachine({
      definition: fixture('retry'),
      input: {},
      lambdas,
      retryIntervalOverrides: 'all-zero',
      onWait: (wait) => waits.push(wait),
    });

    // Assess
    expect(attempts).toBe(3);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ taskId: 'node:42' });
    expect(waits).toEqual([
      { kind: 'retry', stateName: 'Launch', seconds: 2 },
      { kind: 'retry', stateName: 'Launch', seconds: 4 },
    ]);
    // ExecutionStarted, TaskStateEntered, 3 × (TaskScheduled, TaskStarted, TaskFailed|TaskSucceeded),
    // TaskStateExited, ExecutionSucceeded. Billed: 1 state + 2 retries.
    expect(result.historyEvents).toBe(1 + 1 + 3 * 3 + 1 + 1);
    expect(result.stateTransitions).toBe(3);
  });

  it('catches a named error into a recorder state, then fails with that error and its Lambda cause', async () => {
    // Prepare
    const recorded: unknown[] = [];
    const lambdas = {
      GuardsFunctionArn: async () => {
        throw new TargetNotEmptyError('overwrite mode on a target with 1,204 documents');
      },
      RecordFailureFunctionArn: async (payload: unknown) => {
        recorded.push(payload);
        return { recorded: true };
      },
    };

    // Act
    const result = await runStateMachine({ definition: fixture('catch-fail'), input: { runId: 'r2' }, lambdas });

    // Assess
    expect(recorded).toHaveLength(1);
    const { error } = recorded[0] as { error: { Error: string; Cause: string } };
    expect(error.Error).toBe('TargetNotEmpty');
    const cause = JSON.parse(error.Cause) as { errorType: string; errorMessage: string; trace: string[] };
    expect(cause.errorType).toBe('TargetNotEmpty');
    expect(cause.errorMessage).toBe('overwrite mode on a target with 1,204 documents');
    expect(Array.isArray(cause.trace)).toBe(true);
    expect(Object.keys(cause)).toEqual(['errorType', 'errorMessage', 'trace']);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('TargetNotEmpty');
    expect(result.cause).toBe(error.Cause);
    // ExecutionStarted; Guards: Entered, Scheduled, Started, Failed, Exited (caught); RecordFailure: 5;
    // FailStateEntered; ExecutionFailed.
    expect(result.historyEvents).toBe(1 + 5 + 5 + 1 + 1);
    expect(result.stateTransitions).toBe(3);
  });

  it('reports a Fail state without Error or Cause as AWS does, with neither', async () => {
    // Prepare
    const definition = { StartAt: 'Stop', States: { Stop: { Type: 'Fail' } } };

    // Act
    const result = await runStateMachine({ definition, input: {}, lambdas: {} });

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', historyEvents: 3, stateTransitions: 1 });
    expect(result.error).toBeUndefined();
    expect(result.cause).toBeUndefined();
  });

  it('ends a Wait/Choice poll loop after N polls, the Wait honoured on a simulated clock', async () => {
    // Prepare
    const clock = createSimulatedClock(Date.UTC(2026, 4, 1));
    const pollTimes: number[] = [];
    const waitSeconds = [30, 60, 90];
    const lambdas = {
      PollFunctionArn: async (payload: unknown) => {
        pollTimes.push(clock.now());
        const polls = ((payload as { poll?: { polls: number } }).poll?.polls ?? 0) + 1;
        return { completed: polls === 4, waitSeconds: waitSeconds[polls - 1] ?? 0, polls };
      },
    };
    const startedAt = Date.now();

    // Act
    const result = await runStateMachine({ definition: fixture('poll-loop'), input: { runId: 'r3' }, lambdas, clock });

    // Assess
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ poll: { completed: true, polls: 4 } });
    expect(result.intendedWaitSeconds).toBe(180);
    const t0 = Date.UTC(2026, 4, 1);
    expect(pollTimes).toEqual([t0, t0 + 30_000, t0 + 90_000, t0 + 180_000]);
    // 4 polls × 5, 4 Choices × 2, 3 Waits × 2, Succeed 2, ExecutionStarted + ExecutionSucceeded.
    expect(result.historyEvents).toBe(4 * 5 + 4 * 2 + 3 * 2 + 2 + 2);
    expect(result.stateTransitions).toBe(4 + 4 + 3 + 1);
  });

  it('skips every Wait with waitTimeOverrides all-zero and still adds up the seconds they stand for', async () => {
    // Prepare
    const waits: WaitReport[] = [];
    const lambdas = {
      PollFunctionArn: async (payload: unknown) => {
        const polls = ((payload as { poll?: { polls: number } }).poll?.polls ?? 0) + 1;
        return { completed: polls === 3, waitSeconds: 600, polls };
      },
    };

    // Act
    const result = await runStateMachine({
      definition: fixture('poll-loop'),
      input: {},
      lambdas,
      waitTimeOverrides: 'all-zero',
      onWait: (wait) => waits.push(wait),
    });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(waits).toEqual([
      { kind: 'wait', stateName: 'WaitBeforePoll', seconds: 600 },
      { kind: 'wait', stateName: 'WaitBeforePoll', seconds: 600 },
    ]);
    expect(result.intendedWaitSeconds).toBe(1200);
  });

  it('stops a run aborted during a Wait and returns ABORTED', async () => {
    // Prepare
    const controller = new AbortController();
    let polls = 0;
    const lambdas = {
      PollFunctionArn: async () => {
        polls += 1;
        return { completed: false, waitSeconds: 3600, polls };
      },
    };
    const onEvent = (event: ExecutionEvent): void => {
      if (event.type === 'StateEntered' && event.state.type === 'Wait') setTimeout(() => controller.abort(), 50);
    };
    const startedAt = Date.now();

    // Act
    const result = await runStateMachine({
      definition: fixture('poll-loop'),
      input: {},
      lambdas,
      signal: controller.signal,
      onEvent,
    });

    // Assess
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(result.status).toBe('ABORTED');
    expect(polls).toBe(1);
    // ExecutionStarted, Poll (5), Choice (2), WaitStateEntered, ExecutionAborted.
    expect(result.historyEvents).toBe(1 + 5 + 2 + 1 + 1);
    expect(result.stateTransitions).toBe(3);
  });

  it('waits for a handler still running when aborted, and invokes no other', async () => {
    // Prepare
    const controller = new AbortController();
    const inPoll = gate();
    let polls = 0;
    let handlerDone = false;
    const lambdas = {
      PollFunctionArn: async () => {
        polls += 1;
        controller.abort();
        await inPoll.promise;
        handlerDone = true;
        return { completed: false, waitSeconds: 0, polls };
      },
    };
    setTimeout(() => inPoll.release(), 200);

    // Act
    const result = await runStateMachine({ definition: fixture('poll-loop'), input: {}, lambdas, signal: controller.signal });

    // Assess
    expect(result.status).toBe('ABORTED');
    expect(handlerDone).toBe(true);
    expect(polls).toBe(1);
    // ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskStateAborted, ExecutionAborted.
    expect(result.historyEvents).toBe(6);
  });

  it('stops the run and rethrows when an onEvent callback throws', async () => {
    // Prepare
    let polls = 0;
    const lambdas = {
      PollFunctionArn: async () => {
        polls += 1;
        return { completed: false, waitSeconds: 0, polls };
      },
    };
    const onEvent = (event: ExecutionEvent): void => {
      if (event.type === 'StateEntered' && event.state.type === 'Wait') throw new Error('progress display crashed');
    };

    // Act
    const run = runStateMachine({ definition: fixture('poll-loop'), input: {}, lambdas, onEvent });

    // Assess
    await expect(run).rejects.toThrow('progress display crashed');
    expect(polls).toBe(1);
  });

  it('returns ABORTED without running anything when the signal is already aborted', async () => {
    // Prepare
    let calls = 0;
    const lambdas = {
      PreflightFunctionArn: async () => {
        calls += 1;
        return {};
      },
    };

    // Act
    const result = await runStateMachine({
      definition: fixture('lambda-task'),
      input: {},
      lambdas,
      signal: AbortSignal.abort(),
    });

    // Assess
    expect(result).toMatchObject({ status: 'ABORTED', historyEvents: 0, stateTransitions: 0 });
    expect(calls).toBe(0);
  });

  it('counts history events and state transitions exactly for a tiny machine', async () => {
    // Prepare: Work fails once with a retried error, then succeeds.
    let attempts = 0;
    const lambdas = {
      WorkFunctionArn: async () => {
        attempts += 1;
        if (attempts === 1) throw new TransientClusterError('503');
        return { ready: true };
      },
    };

    // Act
    const result = await runStateMachine({
      definition: fixture('tiny'),
      input: {},
      lambdas,
      waitTimeOverrides: { Pause: 0 },
      retryIntervalOverrides: { Work: 0 },
    });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const byHand =
      1 + // ExecutionStarted
      2 + // PassStateEntered, PassStateExited (Prepare)
      1 + // TaskStateEntered (Work)
      3 + // TaskScheduled, TaskStarted, TaskFailed (attempt 1)
      3 + // TaskScheduled, TaskStarted, TaskSucceeded (attempt 2)
      1 + // TaskStateExited
      2 + // ChoiceStateEntered, ChoiceStateExited (IsReady)
      2 + // WaitStateEntered, WaitStateExited (Pause)
      2 + // SucceedStateEntered, SucceedStateExited (Done)
      1; //  ExecutionSucceeded
    expect(result.historyEvents).toBe(byHand);
    expect(result.historyEvents).toBe(18);
    expect(result.statesEntered).toBe(5);
    expect(result.stateTransitions).toBe(5 + 1); // five states entered, one retry
    expect(result.intendedWaitSeconds).toBe(5);
  });

  it('fails the execution like AWS when the history reaches the event limit', async () => {
    // Prepare
    let polls = 0;
    const lambdas = {
      PollFunctionArn: async () => {
        polls += 1;
        return { completed: false, waitSeconds: 0, polls };
      },
    };

    // Act: each loop is 9 events (Poll 5, Choice 2, Wait 2) after ExecutionStarted.
    const result = await runStateMachine({
      definition: fixture('poll-loop'),
      input: {},
      lambdas,
      waitTimeOverrides: 'all-zero',
      historyEventLimit: 50,
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.historyEvents).toBe(50);
    expect(result.error).toBe('States.Runtime');
    expect(polls).toBeLessThanOrEqual(6);
  });

  it('treats "ResultPath": "$" written out as AWS does: the result replaces the input', async () => {
    // Prepare
    const lambdas = { SummariseFunctionArn: async () => ({ total: 7 }) };

    // Act
    const result = await runStateMachine({ definition: fixture('result-path-dollar'), input: { runId: 'r4' }, lambdas });

    // Assess
    expect(result.output).toEqual({ total: 7 });
  });

  it('refuses to start when a Task state has no local handler', async () => {
    await expect(runStateMachine({ definition: fixture('catch-fail'), input: {}, lambdas: {} })).rejects.toThrow(
      /GuardsFunctionArn.*RecordFailureFunctionArn/,
    );
  });

  it('times a Task out after taskTimeoutSeconds when the ASL sets no TimeoutSeconds', async () => {
    // Prepare
    const lambdas = {
      SummariseFunctionArn: () => new Promise((resolve) => setTimeout(() => resolve({ total: 1 }), 1_500)),
    };

    // Act
    const result = await runStateMachine({
      definition: fixture('result-path-dollar'),
      input: {},
      lambdas,
      taskTimeoutSeconds: 1,
    });

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    // ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskTimedOut, ExecutionFailed.
    expect(result.historyEvents).toBe(6);
  });
});
