import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_ERROR_NAMES } from '../../lambdas/shared/runtime/errors';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import { ensureCloudAssembly, type CloudAssembly } from '../../local/lambda/cloud-assembly';
import { LambdaFunctionError } from '../../local/lambda/lambda-service';
import { localFunctions, type LocalEndpoints } from '../../local/lambda/local-functions';
import { registerLocalExecution } from '../../local/ledger/ledger';
import { localLedger } from '../../local/pipeline';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

/**
 * Every bundled function, as `cdk synth` writes it and the Lambda Node.js runtime runs it, invoked
 * with an input that makes it throw: the `errorType` the runtime reports (the error's `name`) is the
 * one the ASL's Retry and Catch match by name, and the one the ledger and the runbook use. Minified
 * without care, the bundles reported `InvalidInput` as `je`, and every named Retry/Catch missed.
 */

const servers = localServers();
type Json = Record<string, unknown>;
type Invoke = (event: unknown) => Promise<unknown>;

let assembly: CloudAssembly;
let closedPort: number;

/** A loopback port nobody listens on: a target that refuses every connection. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  assembly = await ensureCloudAssembly();
  closedPort = await freePort();
});

afterAll(async () => {
  const { shutdownFunctions } = await import('../../local/lambda/lambda-service');
  await shutdownFunctions();
});

function functionsFor(endpoints: Partial<LocalEndpoints> & { tableName: string }): Record<string, Invoke> {
  const all = localFunctions(assembly, { targetUrl: defaultTarget().url, ledgerEndpoint: servers.ledgerEndpoint, ...endpoints });
  return Object.fromEntries(
    Object.entries(all).map(([logicalId, fn]) => [/([A-Za-z]+?)Function[0-9A-F]{8}$/.exec(logicalId)?.[1]?.replace(/^PipelineHandlers/, '') ?? logicalId, fn]),
  );
}

async function errorOf(invoke: Invoke, event: unknown): Promise<LambdaFunctionError> {
  const outcome = await invoke(event).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected the function to throw, it returned ${JSON.stringify(outcome.result)}`);
  expect(outcome.error).toBeInstanceOf(LambdaFunctionError);
  return outcome.error as LambdaFunctionError;
}

/** The error names each Task state of the deployed definitions matches by name, by function. */
function namesMatchedByFunction(): Map<string, Set<string>> {
  const byFunction = new Map<string, Set<string>>();
  const visit = (states: Record<string, Json>) => {
    for (const state of Object.values(states)) {
      if (state['Type'] === 'Task') {
        const target = String((state['Parameters'] as Json | undefined)?.['FunctionName'] ?? state['Resource']);
        const name = /:function:(?:PipelineHandlers)?([A-Za-z]+?)Function[0-9A-F]{8}$/.exec(target)?.[1];
        if (name) {
          const names = byFunction.get(name) ?? new Set<string>();
          for (const rule of [...((state['Retry'] as Json[]) ?? []), ...((state['Catch'] as Json[]) ?? [])]) {
            for (const error of rule['ErrorEquals'] as string[]) names.add(error);
          }
          byFunction.set(name, names);
        }
      }
      for (const key of ['ItemProcessor', 'Iterator']) {
        const inner = state[key] as { States: Record<string, Json> } | undefined;
        if (inner) visit(inner.States);
      }
    }
  };
  for (const machine of Object.values(assembly.stateMachines)) visit(machine.definition['States'] as Record<string, Json>);
  return byFunction;
}

describe('bundled functions report their errors by name', () => {
  it('every function of the template is covered below, and each throws the error the ASL and the runbook name', async () => {
    // Prepare: a live run recorded by the real ValidateInput bundle; a target that refuses connections.
    const tableName = uniqueIndex('bundled-errors');
    const ledger = await localLedger(servers.ledgerEndpoint, tableName);
    const index = uniqueIndex('bundled-errors-idx');
    const up = functionsFor({ tableName });
    const down = functionsFor({ tableName, targetUrl: `http://127.0.0.1:${closedPort}` });
    const missingTable = functionsFor({ tableName: `${tableName}-missing` });
    const input = { runId: `${index}-live`, source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', dryRun: false };
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:ReindexRun:${index}-live`;
    const run = (await up['ValidateInput']!({ input, executionArn })) as Json;
    const state = { run };
    const partition = { id: WHOLE_INDEX_PARTITION_ID, kind: 'all' };
    const holderArn = `arn:aws:states:us-east-1:000000000000:execution:ReindexRun:${index}-holder`;
    await registerLocalExecution(servers.ledgerEndpoint, { executionArn: holderArn, stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:ReindexRun', name: `${index}-holder`, pid: process.pid });
    const lockIndex = uniqueIndex('bundled-errors-locked');
    await ledger.acquireLock({ targetIndex: lockIndex, runId: 'holder', executionArn: holderArn, now: new Date(), isHolderFinished: async () => false });
    const poll = {
      completed: false,
      waitSeconds: 5,
      longPollSeconds: 0,
      cursor: { launchedAtMs: Date.now(), previous: null, mark: null, totalChecked: false, polls: 0, stallReported: false },
    };
    const failure = { Error: 'TaskLost', Cause: JSON.stringify({ errorType: 'TaskLost', errorMessage: 'lost', trace: [] }) };

    type Case = { fn: string; via: Record<string, Invoke>; event: unknown; errorType: string; before?: () => Promise<unknown> };
    const runId = String(run['runId']);
    const planWholeIndex = () => ledger.putPartitions(runId, [{ id: WHOLE_INDEX_PARTITION_ID, kind: 'all', query: null, expected: 10 }], new Date());
    const recordTask = async () => {
      await planWholeIndex();
      await ledger.recordPartitionTask(runId, WHOLE_INDEX_PARTITION_ID, { taskId: 'nodeX:424242', taskIds: ['nodeX:424242'], attempts: 1, launchedAt: new Date().toISOString() }, new Date());
    };
    const cases: Case[] = [
      { fn: 'ValidateInput', via: up, event: { input: { ...input, runId: 'Not A Run Id' } }, errorType: 'InvalidInput' },
      { fn: 'PlanMonths', via: up, event: { input: { indexTemplate: 'calls' }, executionName: 'x', startTime: '2026-06-02T03:00:00Z' }, errorType: 'InvalidInput' },
      { fn: 'AcquireLock', via: up, event: { state: { run: { ...run, targetIndex: lockIndex } }, executionArn }, errorType: 'RunInProgress' },
      { fn: 'CheckApproval', via: up, event: { state }, errorType: 'DryRunRequired' },
      { fn: 'Preflight', via: down, event: { state }, errorType: 'ClusterUnreachable' },
      { fn: 'LaunchReindex', via: down, event: { state: { ...state, partition } }, errorType: 'TransientCluster', before: planWholeIndex },
      { fn: 'CheckHeader', via: up, event: { state: { ...state, partition, launch: { taskId: 'nodeX:424242' } } }, errorType: 'TaskLost', before: recordTask },
      { fn: 'PollTask', via: down, event: { state: { ...state, partition, launch: { taskId: 'nodeX:424242' }, poll } }, errorType: 'TransientCluster' },
      { fn: 'ReconcileTask', via: up, event: { state: { ...state, partition, launch: { taskId: 'nodeX:424242' } } }, errorType: 'TaskLost' },
      { fn: 'CheckParity', via: down, event: { state }, errorType: 'TransientCluster' },
      { fn: 'PredictEveryDocument', via: down, event: { state }, errorType: 'TransientCluster' },
      { fn: 'RecordApproval', via: missingTable, event: { state }, errorType: 'ResourceNotFoundException' },
      { fn: 'FinishRun', via: missingTable, event: { state }, errorType: 'ResourceNotFoundException' },
      { fn: 'RecordFailure', via: down, event: { state: { ...state, failure } }, errorType: 'TransientCluster' },
      { fn: 'AcquireTaskSlot', via: missingTable, event: { state: { ...state, partition }, executionArn }, errorType: 'ResourceNotFoundException' },
      { fn: 'ReleaseTaskSlot', via: missingTable, event: { state: { ...state, partition } }, errorType: 'ResourceNotFoundException' },
      { fn: 'RecordTaskFailure', via: missingTable, event: { state: { ...state, partition, failure } }, errorType: 'ResourceNotFoundException' },
      { fn: 'ReconcileRun', via: missingTable, event: { state }, errorType: 'ResourceNotFoundException' },
      {
        fn: 'AbortRun',
        via: down,
        event: { detail: { executionArn, status: 'ABORTED', input: JSON.stringify(input) } },
        errorType: 'TransientCluster',
      },
      {
        fn: 'RequestApproval',
        via: missingTable,
        event: {
          taskToken: 't',
          month: '2026-05',
          sourceIndex: index,
          targetIndex: index,
          liveRunId: `${index}-live`,
          backfillExecutionArn: executionArn,
          dryRun: { runId: `${index}-dry`, sourceCount: 1, targetCount: 0, fingerprint: 'f', approvedUntil: '2026-06-03T00:00:00Z' },
        },
        errorType: 'ResourceNotFoundException',
      },
    ];
    const templateFunctions = Object.keys(up).sort();
    const matched = namesMatchedByFunction();

    // Act
    const reported: Array<{ fn: string; errorType: string; errorMessage: string }> = [];
    for (const c of cases) {
      const invoke = c.via[c.fn];
      if (!invoke) throw new Error(`no bundled function ${c.fn} in ${assembly.templateFile}`);
      await c.before?.();
      const err = await errorOf(invoke, c.event);
      reported.push({ fn: c.fn, errorType: err.errorType, errorMessage: err.errorMessage });
    }

    // Assess: every function covered; each reports the expected name, and a name of this project's
    // errors is one the ASL of its states matches by name or the runbook lists.
    expect(cases.map((c) => c.fn).sort()).toEqual(templateFunctions);
    expect(reported.map((r) => [r.fn, r.errorType])).toEqual(cases.map((c) => [c.fn, c.errorType]));
    for (const { fn, errorType, errorMessage } of reported) {
      expect(errorMessage, fn).not.toBe('');
      // AbortRun is no state's function: EventBridge invokes it asynchronously, and Lambda retries any error.
      const named = matched.get(fn);
      if (named && (errorType === 'TransientCluster' || errorType === 'InvalidInput')) expect([...named], fn).toContain(errorType);
      else if (named && errorType !== 'ResourceNotFoundException') expect(RUN_ERROR_NAMES as readonly string[], fn).toContain(errorType);
    }
    // The ASL names what the bundles throw: TransientCluster is retried by every Task that calls a function.
    const retried = [...matched.entries()].filter(([, names]) => names.has('TransientCluster')).map(([fn]) => fn);
    expect(retried.length).toBeGreaterThan(15);
    expect(readFileSync(assembly.templateFile, 'utf8')).toContain('"Handler": "index.handler"');
  });
});
