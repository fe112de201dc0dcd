import { describe, expect, it } from 'vitest';
import { endedExecution } from '../../lambdas/abort-run/abort-run';

const arn = 'arn:aws:states:eu-west-1:123456789012:execution:ReindexRun:calls-2026-05-live';
const event = (input: string | null | undefined, status = 'ABORTED') => ({ detail: { executionArn: arn, status, input } });

describe('endedExecution (the console-stop cleanup reads the EventBridge status change)', () => {
  it('names the run of a stopped, timed-out or failed execution', () => {
    expect(endedExecution(event('{"runId":"calls-2026-05-live","dryRun":false}', 'TIMED_OUT'))).toEqual({
      runId: 'calls-2026-05-live',
      executionArn: arn,
      status: 'TIMED_OUT',
    });
  });

  it.each([[null], [undefined], ['[1,2]'], ['"text"'], ['{"runId": 7}'], ['not json']])(
    'ignores an execution whose input names no run (%j): it failed validation and wrote nothing',
    (input) => {
      expect(endedExecution(event(input))).toBeUndefined();
    },
  );
});
