import { GetExecutionHistoryCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../../local/fault-proxy/fault-proxy';
import { sessionClients, settledExecution } from '../../local/localstack/scenarios';
import { localStackSession } from '../support/localstack';

let sourceProxy: FaultProxy;

beforeAll(async () => {
  const session = localStackSession();
  // A pass-through proxy on the address the functions reach: its log shows whether anything touched the source.
  sourceProxy = await startFaultProxy({ target: session.sourceHostUrl, host: session.hostAddress });
});

afterAll(async () => {
  await sourceProxy.stop();
});

describe('bad input to the deployed ReindexRun', () => {
  it('ends in the InvalidInput Fail state with the field named in the cause; nothing reaches a cluster or the ledger', async () => {
    // Prepare: what an operator pastes into the console's "Start execution", with a batch size of 0.
    const session = localStackSession();
    const { sfn, ledger } = sessionClients(session);
    const runId = `calls-2026-03-bad-batch-${Date.now().toString(36)}`;
    const input = {
      runId,
      source: { url: sourceProxy.url, index: 'calls-2026-03' },
      target: { index: 'calls-2026-03' },
      mode: 'merge',
      dryRun: false,
      dateField: 'timestamp',
      batchSize: 0,
    };

    // Act
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: session.deployment.reindexRunArn, name: runId, input: JSON.stringify(input) }),
    );
    const execution = await settledExecution(sfn, executionArn!, 120_000);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InvalidInput');
    expect(execution.cause).toMatch(/^batchSize\b/);
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const entered = (events ?? []).flatMap((e) => (e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : []));
    expect(entered.at(-1)).toBe('InvalidInput');
    expect(entered).not.toContain('Preflight');
    expect(sourceProxy.requests()).toEqual([]);
    expect(await ledger.getRun(runId)).toBeUndefined();
    expect(await ledger.getLock('calls-2026-03')).toBeUndefined();
    const target = new Client({ node: session.targetHostUrl });
    expect((await target.indices.exists({ index: 'calls-2026-03' })).body).toBe(false);
  });
});
