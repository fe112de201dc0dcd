import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, RUN_ERROR_NAMES } from '../../lambdas/shared/errors';
import { REINDEX_RUN_ASL } from '../../lib/constructs/paths';
import { runStateMachine, type LocalLambda } from '../../local/runner/run-state-machine';

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  Error?: string;
  Cause?: string;
  CausePath?: string;
  Comment?: string;
  Retry?: Array<{ ErrorEquals: string[]; MaxAttempts?: number }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  Choices?: Array<{ Variable: string; StringEquals?: string; Next: string }>;
  Default?: string;
  Parameters?: { FunctionName?: string };
}

const asl = JSON.parse(readFileSync(REINDEX_RUN_ASL, 'utf8')) as { Comment: string; TimeoutSeconds: number; StartAt: string; States: Record<string, State> };
const states = Object.entries(asl.States);
const tasks = states.filter(([, s]) => s.Type === 'Task');
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

/** States that invoke another state's Lambda: a single-task run takes and frees its domain slot like a partition. */
const FUNCTION_OF_STATE: Record<string, string> = { AcquireSingleTaskSlot: 'AcquireTaskSlot', ReleaseSingleTaskSlot: 'ReleaseTaskSlot' };

describe('statemachines/reindex-run.asl.json', () => {
  it('carries its own Comment and execution timeout (DefinitionBody.fromFile ignores the construct props)', () => {
    expect(asl.Comment).toMatch(/ReindexRun/);
    expect(asl.TimeoutSeconds).toBeGreaterThan(48 * 3600);
  });

  it.each(tasks)('task %s invokes its Lambda through a placeholder and retries Lambda service errors and transient cluster errors', (name, state) => {
    expect(state.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(state.Parameters?.FunctionName).toBe(`\${${FUNCTION_OF_STATE[name] ?? name}FunctionArn}`);
    const retried = (state.Retry ?? []).flatMap((r) => r.ErrorEquals);
    expect(retried).toEqual(expect.arrayContaining([...LAMBDA_SERVICE_ERRORS, 'TransientCluster']));
  });

  it('routes every failure after validation to RecordFailure, which releases the lock and records the error', () => {
    const uncaught = tasks
      .filter(([name]) => !['ValidateInput', 'RecordFailure'].includes(name))
      .filter(([, s]) => !(s.Catch ?? []).some((c) => c.ErrorEquals.includes('States.ALL') && c.Next === 'RecordFailure'));
    expect(uncaught.map(([name]) => name)).toEqual([]);
  });

  it('fails bad input at validation into InvalidInput (through ReadInvalidInput, which reads the message), before anything is written', () => {
    const validate = asl.States.ValidateInput!;
    expect(asl.StartAt).toBe('ValidateInput');
    expect(validate.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['InvalidInput'], Next: 'ReadInvalidInput' })]);
    expect(asl.States.ReadInvalidInput).toMatchObject({ Type: 'Pass', Next: 'InvalidInput' });
    expect(asl.States.InvalidInput).toMatchObject({ Type: 'Fail', Error: 'InvalidInput' });
  });

  it('ends every named failure in a Fail state of that name, with the recorded cause and a runbook comment', () => {
    const choice = asl.States.FailWithError!;
    const routed = new Map((choice.Choices ?? []).map((c) => [c.StringEquals, c.Next]));
    for (const name of RUN_ERROR_NAMES) {
      const target = asl.States[routed.get(name)!];
      expect(target, name).toMatchObject({ Type: 'Fail', Error: name, CausePath: '$.failed.cause' });
      expect(target?.Comment, name).toBeTruthy();
    }
    expect(asl.States[choice.Default!]).toMatchObject({ Type: 'Fail', Error: 'RunFailed' });
  });

  it('has no Fail state without a named Error and a cause', () => {
    const fails = states.filter(([, s]) => s.Type === 'Fail');
    for (const [name, s] of fails) {
      expect(s.Error, name).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(s.Cause ?? s.CausePath, name).toBeTruthy();
      expect([...RUN_ERROR_NAMES, 'RunFailed', 'RecordFailureFailed']).toContain(s.Error);
    }
  });

  it('polls in a Wait loop whose seconds the previous poll chose', () => {
    expect(asl.States.WaitForProgress).toMatchObject({ Type: 'Wait', SecondsPath: '$.poll.waitSeconds', Next: 'PollTask' });
    expect(asl.States.PollTask?.Next).toBe('IsTaskComplete');
    expect(asl.States.IsTaskComplete).toMatchObject({ Type: 'Choice', Default: 'WaitForProgress' });
  });

  it('never writes "ResultPath": "$" out (aws-local-stepfunctions mishandles it; omitting it means the same on AWS)', () => {
    expect(readFileSync(REINDEX_RUN_ASL, 'utf8')).not.toMatch(/"ResultPath":\s*"\$"/);
  });
});

/** Every `${XFunctionArn}` of the ASL, each a stub that must not run. */
function untouchedLambdas(): Record<string, LocalLambda> {
  const keys = [...readFileSync(REINDEX_RUN_ASL, 'utf8').matchAll(/"\$\{(\w+FunctionArn)\}"/g)].map((m) => m[1]!);
  return Object.fromEntries(
    keys.map((key) => [
      key,
      async () => {
        throw new Error(`${key} must not run after a refused input`);
      },
    ]),
  );
}

describe('ReindexRun ASL on the local runner: a refused input', () => {
  it('ends in InvalidInput whose cause is the message naming the field, not the Lambda runtime\'s JSON', async () => {
    // Prepare: the message has quotes, which the runtime's JSON cause escapes.
    const message = 'target.index "calls-2026-05" is the source index on the same cluster: a reindex into itself';
    const lambdas = {
      ...untouchedLambdas(),
      ValidateInputFunctionArn: async () => {
        throw new InvalidInputError(message, 'target.index');
      },
    };

    // Act
    const result = await runStateMachine({ definition: asl, input: { runId: 'calls-2026-05-dry' }, lambdas });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toBe(message);
  });

  it('reads the message of any error named InvalidInput, not only the project\'s class', async () => {
    // Prepare
    const error = Object.assign(new Error('dryrun is not a known field'), { name: 'InvalidInput' });
    const lambdas = {
      ...untouchedLambdas(),
      ValidateInputFunctionArn: async () => {
        throw error;
      },
    };

    // Act
    const result = await runStateMachine({ definition: asl, input: { dryrun: false }, lambdas });

    // Assess
    expect([result.status, result.error, result.cause]).toEqual(['FAILED', 'InvalidInput', 'dryrun is not a known field']);
  });

  it('reads it for an input that is not an object too (the catch replaces the state instead of adding to it)', async () => {
    // Prepare
    const lambdas = {
      ...untouchedLambdas(),
      ValidateInputFunctionArn: async () => {
        throw new InvalidInputError('the execution input must be a JSON object', '(input)');
      },
    };

    // Act
    const result = await runStateMachine({ definition: asl, input: ['calls-2026-05'], lambdas });

    // Assess
    expect([result.status, result.error, result.cause]).toEqual(['FAILED', 'InvalidInput', 'the execution input must be a JSON object']);
  });
});
