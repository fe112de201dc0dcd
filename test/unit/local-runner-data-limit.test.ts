import { describe, expect, it } from 'vitest';
import { runStateMachine } from '../../local/runner/run-state-machine';

/**
 * Step Functions' payload quota (256 KiB) as the local runner enforces it: AWS reports
 * `States.DataLimitExceeded` when a connector's output, a state's output, or a state's input after
 * `Parameters` is larger, and `States.ALL` does not catch it (it is terminal). The runner used to check
 * task results only, so an over-large state built by a Pass state or by a ResultPath merge passed locally
 * and died on AWS.
 */

const LIMIT = 256 * 1024;
/** A string whose JSON takes about `bytes` bytes. */
const blob = (bytes: number): string => 'x'.repeat(bytes);

/** Stub Lambdas that record that they ran. */
function recorder() {
  const calls: string[] = [];
  const lambda = (name: string, result: unknown = {}) => async () => {
    calls.push(name);
    return result;
  };
  return { calls, lambda };
}

describe('local runner: the 256 KiB payload quota on every state', () => {
  it('fails the execution with States.DataLimitExceeded when a Pass state builds an output over 256 KiB; no later state runs', async () => {
    // Prepare
    const { calls, lambda } = recorder();
    const definition = {
      StartAt: 'Grow',
      States: {
        Grow: { Type: 'Pass', Parameters: { 'first.$': '$.half', 'second.$': '$.half' }, ResultPath: '$.grown', Next: 'After' },
        After: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: '${AfterFunctionArn}', Payload: {} }, End: true },
      },
    };

    // Act
    const result = await runStateMachine({ definition, input: { half: blob(LIMIT / 2) }, lambdas: { AfterFunctionArn: lambda('After') } });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.DataLimitExceeded');
    expect(result.cause).toContain("'Grow'");
    expect(calls).toEqual([]);
  });

  it('does not let a Task\'s Catch on States.ALL catch an output over 256 KiB (small result merged into a large input)', async () => {
    // Prepare
    const { calls, lambda } = recorder();
    const definition = {
      StartAt: 'Read',
      States: {
        Read: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: '${ReadFunctionArn}', Payload: {} },
          ResultSelector: { 'body.$': '$.Payload.body' },
          ResultPath: '$.read',
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Handled' }],
          End: true,
        },
        Handled: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: '${HandledFunctionArn}', Payload: {} }, End: true },
      },
    };

    // Act: the input (150 KiB) and the result (150 KiB) each fit; the state's output does not.
    const result = await runStateMachine({
      definition,
      input: { kept: blob(150 * 1024) },
      lambdas: { ReadFunctionArn: lambda('Read', { body: blob(150 * 1024) }), HandledFunctionArn: lambda('Handled') },
    });

    // Assess
    expect([result.status, result.error]).toEqual(['FAILED', 'States.DataLimitExceeded']);
    expect(calls).toEqual(['Read']);
  });

  it('never invokes a Task whose input after Parameters is over 256 KiB', async () => {
    // Prepare
    const { calls, lambda } = recorder();
    const definition = {
      StartAt: 'Send',
      States: {
        Send: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: '${SendFunctionArn}', Payload: { 'a.$': '$.half', 'b.$': '$.half' } },
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Handled' }],
          End: true,
        },
        Handled: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: '${HandledFunctionArn}', Payload: {} }, End: true },
      },
    };

    // Act
    const result = await runStateMachine({
      definition,
      input: { half: blob(LIMIT / 2) },
      lambdas: { SendFunctionArn: lambda('Send'), HandledFunctionArn: lambda('Handled') },
    });

    // Assess
    expect([result.status, result.error]).toEqual(['FAILED', 'States.DataLimitExceeded']);
    expect(calls).toEqual([]);
  });

  it('lets states just under 256 KiB through', async () => {
    // Prepare
    const definition = {
      StartAt: 'Copy',
      States: { Copy: { Type: 'Pass', Parameters: { 'body.$': '$.body' }, End: true } },
    };

    // Act
    const result = await runStateMachine({ definition, input: { body: blob(LIMIT - 1024) }, lambdas: {} });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
  });
});
