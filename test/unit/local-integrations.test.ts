import { describe, expect, it } from 'vitest';
import { createChildExecutions, START_EXECUTION_SYNC2, type ChildRunner } from '../../local/runner/child-executions';
import { runStateMachine } from '../../local/runner/run-state-machine';
import {
  SNS_PUBLISH_WAIT_FOR_TASK_TOKEN,
  TaskTokenError,
  TaskTokenRegistry,
  taskTokenContext,
  type TaskTokenRequest,
} from '../../local/runner/task-tokens';

/** The local runner's in-process `startExecution.sync:2` and `sns:publish.waitForTaskToken` (no servers). */

const CHILD_ARN = 'arn:aws:states:local:000000000000:stateMachine:Child';

const startChild = (catchers: object[] = []) => ({
  StartAt: 'Start',
  States: {
    Start: {
      Type: 'Task',
      Resource: START_EXECUTION_SYNC2,
      Parameters: { StateMachineArn: CHILD_ARN, 'Name.$': '$.name', 'Input.$': '$.input' },
      ...(catchers.length ? { Catch: catchers } : {}),
      End: true,
    },
    ...(catchers.length ? { Caught: { Type: 'Pass', End: true } } : {}),
  },
});

async function runParent(definition: object, input: unknown, runner: ChildRunner) {
  const children = createChildExecutions({ runners: { [CHILD_ARN]: runner } });
  const result = await runStateMachine({ definition, input, lambdas: {}, services: { [START_EXECUTION_SYNC2]: children.service } });
  return { result, children };
}

describe('startExecution.sync:2 in-process', () => {
  it('a SUCCEEDED child returns the .sync:2 shape: Input and Output as JSON, dates as epoch ms', async () => {
    const { result } = await runParent(startChild(), { name: 'c1', input: { a: 1 } }, async ({ input, name, executionArn }) => ({
      status: 'SUCCEEDED',
      output: { echoed: input, name, executionArn },
    }));
    expect(result.status).toBe('SUCCEEDED');
    const out = result.output as Record<string, unknown>;
    expect(Object.keys(out)).toEqual([
      'ExecutionArn',
      'Input',
      'InputDetails',
      'Name',
      'Output',
      'OutputDetails',
      'StartDate',
      'StateMachineArn',
      'Status',
      'StopDate',
    ]);
    expect(out).toMatchObject({
      ExecutionArn: 'arn:aws:states:local:000000000000:execution:Child:c1',
      Input: { a: 1 },
      InputDetails: { Included: true },
      Name: 'c1',
      Output: { echoed: { a: 1 }, name: 'c1', executionArn: 'arn:aws:states:local:000000000000:execution:Child:c1' },
      OutputDetails: { Included: true },
      StateMachineArn: CHILD_ARN,
      Status: 'SUCCEEDED',
    });
    expect(typeof out['StartDate']).toBe('number');
    expect(out['StopDate'] as number).toBeGreaterThanOrEqual(out['StartDate'] as number);
  });

  it('a FAILED child fails the task with States.TaskFailed; a Catch on its own error name does not fire', async () => {
    const definition = startChild([
      { ErrorEquals: ['SourceIndexMissing'], Next: 'Caught' },
    ]);
    const { result, children } = await runParent(definition, { name: 'c2', input: {} }, async () => ({
      status: 'FAILED',
      error: 'SourceIndexMissing',
      cause: 'no such index [calls-2026-02]',
    }));
    expect([result.status, result.error]).toEqual(['FAILED', 'States.TaskFailed']);
    const described = JSON.parse(result.cause!) as Record<string, unknown>;
    expect(described).toMatchObject({ Cause: 'no such index [calls-2026-02]', Error: 'SourceIndexMissing', Status: 'FAILED', Input: '{}', Name: 'c2' });
    expect(children.executions.map((c) => c.Status)).toEqual(['FAILED']);
  });

  it('an ABORTED child (no error) is States.TaskFailed too, its description without Error/Cause', async () => {
    const { result } = await runParent(startChild(), { name: 'c3', input: {} }, async () => ({ status: 'ABORTED' }));
    expect(result.error).toBe('States.TaskFailed');
    expect(Object.keys(JSON.parse(result.cause!) as object)[0]).toBe('ExecutionArn');
  });

  it('refuses a reused name of a closed execution (ExecutionAlreadyExists), an invalid name and an unknown state machine', async () => {
    const children = createChildExecutions({ runners: { [CHILD_ARN]: async () => ({ status: 'SUCCEEDED', output: {} }) } });
    await children.service({ StateMachineArn: CHILD_ARN, Name: 'same', Input: {} });
    await expect(children.service({ StateMachineArn: CHILD_ARN, Name: 'same', Input: {} })).rejects.toMatchObject({
      name: 'StepFunctions.ExecutionAlreadyExistsException',
    });
    await expect(children.service({ StateMachineArn: CHILD_ARN, Name: 'a:b', Input: {} })).rejects.toMatchObject({
      name: 'StepFunctions.InvalidNameException',
    });
    await expect(children.service({ StateMachineArn: `${CHILD_ARN}2`, Input: {} })).rejects.toMatchObject({
      name: 'StepFunctions.StateMachineDoesNotExistException',
    });
    await expect(children.service({ StateMachineArn: CHILD_ARN, Input: '{not json' })).rejects.toMatchObject({
      name: 'StepFunctions.InvalidExecutionInputException',
    });
  });
});

const waitForToken = (message: object = { 'TaskToken.$': '$$.Task.Token', 'text.$': '$.text' }, extra: object = {}) => ({
  StartAt: 'Wait',
  States: {
    Wait: {
      Type: 'Task',
      Resource: SNS_PUBLISH_WAIT_FOR_TASK_TOKEN,
      Parameters: { TopicArn: 'arn:aws:sns:local:000000000000:topic', Message: message },
      ...extra,
      End: true,
    },
  },
});

async function runWaiting(
  tokens: TaskTokenRegistry,
  onTaskToken: (request: TaskTokenRequest) => void,
  definition: object = waitForToken(),
  signal?: AbortSignal,
) {
  return runStateMachine({
    definition,
    input: { text: 'approve?' },
    lambdas: {},
    context: taskTokenContext(),
    services: { [SNS_PUBLISH_WAIT_FOR_TASK_TOKEN]: tokens.snsPublishService(onTaskToken) },
    onEvent: tokens.expireOnExecutionEnd(),
    ...(signal ? { signal } : {}),
  });
}

describe('startExecution.sync:2 in-process: a child linked to its parent', () => {
  it('passes AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID from $$.Execution.Id through to the child\'s input, as AWS does', async () => {
    // Prepare
    const linked = {
      StartAt: 'Start',
      States: {
        Start: {
          Type: 'Task',
          Resource: START_EXECUTION_SYNC2,
          Parameters: { StateMachineArn: CHILD_ARN, Name: 'c-linked', Input: { a: 1, 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' } },
          End: true,
        },
      },
    };
    const seen: unknown[] = [];

    // Act
    const { result, children } = await runParent(linked, {}, async ({ input }) => {
      seen.push(input);
      return { status: 'SUCCEEDED', output: {} };
    });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const expected = { a: 1, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: result.executionArn };
    expect(seen).toEqual([expected]);
    expect(children.executions[0]!.Input).toEqual(expected);
    expect((result.output as { Input: unknown }).Input).toEqual(expected);
  });
});

describe('sns:publish.waitForTaskToken in-process', () => {
  it('delivers the message with a fresh token and resumes on SendTaskSuccess with its output', async () => {
    const tokens = new TaskTokenRegistry();
    const seen: TaskTokenRequest[] = [];
    const result = await runWaiting(tokens, (request) => {
      seen.push(request);
      setTimeout(() => tokens.sendTaskSuccess(request.token, { approved: true }), 5);
    });
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { approved: true } });
    expect(seen[0]!.json).toEqual({ TaskToken: seen[0]!.token, text: 'approve?' });
    expect(seen[0]!.message).toBe(JSON.stringify({ TaskToken: seen[0]!.token, text: 'approve?' }));
    expect(() => tokens.sendTaskSuccess(seen[0]!.token)).toThrow(TaskTokenError);
    expect(() => tokens.sendTaskSuccess('nope')).toThrow(/Invalid token/);
  });

  it('SendTaskFailure fails the task with the given error and cause', async () => {
    const tokens = new TaskTokenRegistry();
    const result = await runWaiting(tokens, ({ token }) => setTimeout(() => tokens.sendTaskFailure(token, 'Rejected', 'not now'), 5));
    expect(result).toMatchObject({ status: 'FAILED', error: 'Rejected', cause: 'not now' });
  });

  it('a wait whose Parameters do not pass $$.Task.Token fails at once instead of hanging', async () => {
    const tokens = new TaskTokenRegistry();
    const result = await runWaiting(tokens, () => undefined, waitForToken({ text: 'no token' }));
    expect([result.status, result.error]).toEqual(['FAILED', 'States.Runtime']);
    expect(tokens.pending()).toEqual([]);
  });

  it('an abort or a task timeout while waiting ends the run; the token is closed, the runner does not hang', async () => {
    const tokens = new TaskTokenRegistry();
    const controller = new AbortController();
    let token = '';
    const aborted = await runWaiting(
      tokens,
      (request) => {
        token = request.token;
        setTimeout(() => controller.abort(), 5);
      },
      waitForToken(),
      controller.signal,
    );
    expect(aborted.status).toBe('ABORTED');
    expect(() => tokens.sendTaskSuccess(token)).toThrow(/Task Timed Out/);

    const timedOut = await runWaiting(tokens, () => undefined, waitForToken(undefined, { TimeoutSeconds: 1 }));
    expect([timedOut.status, timedOut.error]).toEqual(['FAILED', 'States.Timeout']);
    expect(tokens.pending()).toEqual([]);
  });
});
