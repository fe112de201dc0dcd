import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Client } from '@opensearch-project/opensearch';
import { LONG_POLL_CEILING_SECONDS, LONG_POLL_REQUEST_SLACK_SECONDS, POLL_CEILING_SECONDS } from '../../lambdas/shared/task-loop/adaptive-wait';
import { getTask } from '../../lambdas/shared/cluster/cluster-ops';
import { InvalidInputError, RUN_ERROR_NAMES } from '../../lambdas/shared/runtime/errors';
import { HANDLER_SETTINGS } from '../../lib/constructs/handler-functions';
import { handlerDirectories, pascalCase, REINDEX_RUN_ASL } from '../../lib/constructs/paths';
import { runStateMachine, type LocalLambda } from '../../local/runner/run-state-machine';

interface State {
  Type: string;
  TimeoutSeconds?: number;
  ItemProcessor?: { States: Record<string, State> };
  Resource?: string;
  Next?: string;
  Error?: string;
  Cause?: string;
  CausePath?: string;
  Comment?: string;
  Retry?: Array<{ ErrorEquals: string[]; MaxAttempts?: number; IntervalSeconds?: number }>;
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
    const states = Object.fromEntries(allStates(asl.States));
    expect(states.WaitForProgress).toMatchObject({ Type: 'Wait', SecondsPath: '$.poll.waitSeconds', Next: 'PollTask' });
    expect(states.PollTask?.Next).toBe('IsTaskComplete');
    expect(states.IsTaskComplete).toMatchObject({ Type: 'Choice', Default: 'WaitForProgress' });
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

/** Every state, those inside the task Map included. */
function allStates(machine: Record<string, State>): Array<[string, State]> {
  return Object.entries(machine).flatMap(([name, state]) => [[name, state] as [string, State], ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : [])]);
}

/** Seconds between the end of a function's work and its Lambda timeout, and between that and its Task timeout. */
const MARGIN_SECONDS = 60;
/** Handlers whose own code bounds its time below the Lambda timeout (the poll loops' long-poll). */
const OWN_CEILING: Record<string, number> = { 'poll-task': POLL_CEILING_SECONDS };

describe('reindex-run.asl.json: every Task outlives its function, so a slow invocation never ends in States.Timeout', () => {
  const directories = handlerDirectories();
  const lambdaTasks = allStates(asl.States).filter(([, s]) => s.Type === 'Task');
  const functionOf = (state: State): string => {
    const key = /^\$\{(\w+)FunctionArn\}$/.exec(state.Parameters?.FunctionName ?? '')?.[1];
    const dir = directories.find((d) => pascalCase(d) === key);
    if (!dir) throw new Error(`no lambdas/<dir>/handler.ts for ${state.Parameters?.FunctionName}`);
    return dir;
  };
  const lambdaTimeout = (dir: string): number => HANDLER_SETTINGS[dir]?.timeout?.toSeconds() ?? 300;

  it.each(lambdaTasks)('%s: TimeoutSeconds exceeds its Lambda timeout (the longest its function can run) by a margin', (_name, state) => {
    // Prepare
    const dir = functionOf(state);

    // Act
    const headroom = state.TimeoutSeconds! - lambdaTimeout(dir);

    // Assess
    expect(headroom).toBeGreaterThanOrEqual(MARGIN_SECONDS);
  });

  it.each(Object.keys(OWN_CEILING))('%s returns on its own well before its Lambda timeout: long-poll ceiling, request slack and the rest of a poll', (dir) => {
    // Act
    const ceiling = OWN_CEILING[dir]!;

    // Assess
    expect(ceiling).toBeGreaterThanOrEqual(LONG_POLL_CEILING_SECONDS + LONG_POLL_REQUEST_SLACK_SECONDS + 120);
    expect(ceiling + MARGIN_SECONDS).toBeLessThanOrEqual(lambdaTimeout(dir));
  });

  it('the long-poll request gives up LONG_POLL_REQUEST_SLACK_SECONDS after the long poll, so the ceiling holds for a server that never answers', async () => {
    // Prepare
    const sent: Array<{ params: Record<string, unknown>; options: { requestTimeout?: number } }> = [];
    const client = {
      tasks: {
        get: async (params: Record<string, unknown>, options: { requestTimeout?: number }) => {
          sent.push({ params, options });
          return { body: { completed: false, task: {} } };
        },
      },
    } as unknown as Client;

    // Act
    await getTask(client, 'node:1', LONG_POLL_CEILING_SECONDS);

    // Assess
    expect(sent[0]!.params).toMatchObject({ wait_for_completion: true, timeout: `${LONG_POLL_CEILING_SECONDS}s` });
    expect(sent[0]!.options.requestTimeout).toBeLessThanOrEqual((LONG_POLL_CEILING_SECONDS + LONG_POLL_REQUEST_SLACK_SECONDS) * 1000);
  });

  /*
   * PollTask retries States.Timeout. Its Task timeout is above the Lambda timeout, so a
   * States.Timeout means the Invoke call did not come back a minute after Lambda must have stopped the
   * function: the first invocation is over, but say it were not, and two polls of one task overlapped.
   * What a poll writes is safe to do twice, or twice at once:
   * - the snapshot is appended under POLL#<at>#<partition>: two polls add two snapshots, neither replaced;
   * - counters on the partition item and the metrics are read from the same task, whose counters only
   *   grow: the later write may be the older read, and the next poll puts it right; the run's totals
   *   for the metrics are summed from the items, and reconciliation reads the finished task itself;
   * - a rail-2 cancel of this run's own task (its total against the baseline) is idempotent (404 ignored),
   *   and both polls would decide the same; foreign reindex tasks: cancelled twice (idempotent), recorded
   *   at most twice;
   * - rejections: both may see retries.bulk grow and lower the concurrency or halve the rate once more
   *   (the rethrottle cooldown usually stops the second): slower, never unsafe, and recorded;
   * - a stall may be reported twice (one more Stalled metric and warning).
   * A poll never launches, deletes or writes documents, never takes or frees a task slot or the lock.
   */
  it.each(['PollTask'])('%s retries States.Timeout: a retried poll is safe even beside one still running', (name) => {
    // Prepare
    const state = allStates(asl.States).find(([n]) => n === name)![1];

    // Act
    const retrier = (state.Retry ?? []).find((r) => r.ErrorEquals.includes('States.Timeout'));

    // Assess
    expect(retrier?.MaxAttempts).toBeGreaterThanOrEqual(1);
    expect(state.Catch?.some((c) => c.ErrorEquals.includes('States.ALL'))).toBe(true);
  });
});
