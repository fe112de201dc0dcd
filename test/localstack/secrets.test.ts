import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchLogsClient, DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetExecutionHistoryCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy } from '../../local/fault-proxy/fault-proxy';
import { runAwsCli, seedIndex, sessionClients, startCredentialGate, writeInput } from '../../local/localstack/scenarios';
import { localStackSession, SOURCE_CREDENTIALS } from '../support/localstack';

const shape = { missing: 300, targetOlder: 20, equal: 40, targetNewer: 10 };
let gate: FaultProxy;

beforeAll(async () => {
  const session = localStackSession();
  gate = await startCredentialGate(session.sourceHostUrl, session.hostAddress, SOURCE_CREDENTIALS);
});

afterAll(async () => {
  await gate.stop();
});

function sdkConfig() {
  const { awsEnv } = localStackSession();
  return {
    region: awsEnv.AWS_REGION!,
    endpoint: awsEnv.AWS_ENDPOINT_URL!,
    credentials: { accessKeyId: awsEnv.AWS_ACCESS_KEY_ID!, secretAccessKey: awsEnv.AWS_SECRET_ACCESS_KEY! },
  };
}

async function executionHistory(executionArn: string): Promise<HistoryEvent[]> {
  const { sfn } = sessionClients(localStackSession());
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, includeExecutionData: true, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

async function functionLogs(): Promise<string[]> {
  const logs = new CloudWatchLogsClient(sdkConfig());
  const { logGroups } = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/' }));
  const messages: string[] = [];
  for (const group of logGroups ?? []) {
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName: group.logGroupName, nextToken }));
      messages.push(...(page.events ?? []).map((e) => e.message ?? ''));
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return messages;
}

async function ledgerItems(): Promise<unknown[]> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(sdkConfig()));
  const items: unknown[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: localStackSession().deployment.ledgerTable, ExclusiveStartKey }));
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

describe('source credentials from a Secrets Manager secret', () => {
  it('reach the source behind basic auth (functions and remote reindex), and the password shows in no log, ledger item, execution history or receipt', async () => {
    // Prepare: the source answers 401 to any request without the secret's credentials.
    const session = localStackSession();
    const index = `calls-2026-02-secret-${Date.now().toString(36)}`;
    await seedIndex(session, index, shape);
    const anonymous = await new Client({ node: gate.url }).info().catch((err: { meta: { statusCode: number } }) => err.meta);
    expect(anonymous.statusCode).toBe(401);
    gate.resetLog();
    const base = { source: { url: gate.url, index, credentialsSecret: session.secretArn }, target: { index }, mode: 'merge', dateField: 'timestamp' };

    // Act
    const dry = await runAwsCli(session, ['start', '--input', writeInput(session, { ...base, runId: `${index}-dry`, dryRun: true }), '--wait']);
    const live = await runAwsCli(session, ['start', '--input', writeInput(session, { ...base, runId: `${index}-live`, dryRun: false }), '--wait']);

    // Assess: both runs succeeded through the gate, every request carried the credentials.
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(live.code, live.stdout + live.stderr).toBe(0);
    const { ledger } = sessionClients(session);
    const record = (await ledger.getRun(`${index}-live`))!;
    expect(record.counters).toMatchObject({ total: 370, created: 300, updated: 20, versionConflicts: 50, failures: 0 });
    const headerLine = dry.stdout.split('\n').find((line) => line.startsWith('source credentials:'));
    expect(headerLine?.replace(/\s+/g, ' ')).toBe(`source credentials: ${session.secretArn}`);
    const userAgents = new Set(gate.requests().map((r) => String(r.headers['user-agent']).split('/')[0]));
    expect(userAgents).toContain('opensearch-js'); // the functions
    expect(gate.requests().some((r) => r.method === 'DELETE' && r.path.startsWith('/_search/scroll'))).toBe(true); // the target's remote reindex, done
    expect(gate.requests().filter((r) => r.fault)).toEqual([]);
    const taskId = (await ledger.listPartitions(`${index}-live`)).find((p) => p.taskId)?.taskId;
    const { body: task } = await new Client({ node: session.targetHostUrl }).tasks.get({ task_id: taskId! });
    expect((task as { task: { description: string } }).task.description).toContain(`username=${SOURCE_CREDENTIALS.username} password=<<>>`);

    // ... and the password is nowhere the run leaves a trace.
    const receiptsDir = join(session.workDir, 'runs', `${index}-live`);
    const receipts = readdirSync(receiptsDir).map((f) => readFileSync(join(receiptsDir, f), 'utf8'));
    const histories = [...(await executionHistory(record.executionArn!)), ...(await executionHistory((await ledger.getRun(`${index}-dry`))!.executionArn!))];
    const logs = await functionLogs();
    expect(logs.some((line) => line.includes(`${index}-live`))).toBe(true);
    expect(histories.length).toBeGreaterThan(20);
    const traces = {
      logs: logs.join('\n'),
      ledger: JSON.stringify(await ledgerItems()),
      history: JSON.stringify(histories),
      receipts: receipts.join('\n'),
      output: dry.stdout + dry.stderr + live.stdout + live.stderr,
    };
    for (const [where, text] of Object.entries(traces)) {
      expect(text, `${where} holds the password`).not.toContain(SOURCE_CREDENTIALS.password);
      expect(text, `${where} holds the password base64-encoded`).not.toContain(Buffer.from(`${SOURCE_CREDENTIALS.username}:${SOURCE_CREDENTIALS.password}`).toString('base64'));
    }
    expect(traces.history).toContain(session.secretArn);
  });
});
