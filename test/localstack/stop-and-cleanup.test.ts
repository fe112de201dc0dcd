import { Client } from '@opensearch-project/opensearch';
import { describe, expect, it } from 'vitest';
import { stopLiveRun } from '../../local/localstack/scenarios';
import { localStackSession } from '../support/localstack';

interface TaskAnswer {
  completed: boolean;
  response?: { canceled?: string; total?: number };
}

describe('a live run stopped as the console stops it (StopExecution)', () => {
  it("runs the cleanup rule's function: the reindex task is cancelled, the lock released, the run recorded ABORTED", async () => {
    // Prepare / Act: 20,000 documents throttled to 50 per second, stopped once its task is recorded.
    const session = localStackSession();
    const stop = await stopLiveRun(session, `calls-2026-04-stop-${Date.now().toString(36)}`);

    // Assess: LocalStack 2026.3.0 ends the stopped execution FAILED (States.Runtime) where AWS says
    // ABORTED; either way the status-change event reaches the rule, and the cleanup follows.
    if (stop.executionStatus === 'FAILED') expect(stop.executionError).toBe('States.Runtime');
    else expect(stop.executionStatus).toBe('ABORTED');
    expect(stop.record.status).toBe('ABORTED');
    expect(stop.record.cause).toMatch(new RegExp(`^the execution ended ${stop.executionStatus}`));
    expect(stop.lockHeld).toBe(false);
    expect(stop.taskStillRunning).toBe(false);
    const { body } = await new Client({ node: session.targetHostUrl }).tasks.get({ task_id: stop.taskId });
    const task = body as TaskAnswer;
    expect(task.completed).toBe(true);
    expect(task.response?.canceled).toBe('by user request');
    expect(task.response?.total).toBe(20_000);
  });
});
