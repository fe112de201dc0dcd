import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localLedger, runLocal } from '../../local/pipeline';
import { summarise, writeReceipts } from '../../local/receipts';
import type { RunLog } from '../../lambdas/shared/runtime/run-context';
import { expectedCounters } from '../../local/seed/worked-example';
import { ledgerItems, runOptions, seededIndex } from '../support/e2e-harness';
import { clientFor } from '../support/client';
import { defaultTarget, localServers } from '../support/servers';

const servers = localServers();
const PASSWORD = 'S3cret-pa55word-never-stored';
const shape = { missing: 150, targetOlder: 10, equal: 30, targetNewer: 10 };

describe('source credentials', () => {
  it('reach the source and the launched task, but never the logs, the ledger, the header, the execution output or the receipts', async () => {
    // Prepare: Elasticsearch 7.10.2 without security accepts basic auth (pinned in the contract tests).
    const { index, tableName } = await seededIndex('calls-secret', shape);
    const env = { ...process.env, SAFE_REINDEX_SOURCE_USERNAME: 'svc-backfill', SAFE_REINDEX_SOURCE_PASSWORD: PASSWORD };
    const logged: string[] = [];
    const log: RunLog = {
      info: (message, fields) => logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
      warn: (message, fields) => logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
    };
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp' };

    // Act
    const dry = await runLocal({ ...runOptions(tableName), env, log, input: { ...base, runId: `${index}-dry` } });
    const live = await runLocal({ ...runOptions(tableName), env, log, input: { ...base, runId: `${index}-live`, dryRun: false } });

    // Assess: the run used the credentials (the header names their references) and reconciled.
    expect([dry.status, live.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(live.record?.counters).toMatchObject({ total: expectedCounters(shape).total, failures: 0 });
    expect(live.record?.header?.join('\n')).toContain('env:SAFE_REINDEX_SOURCE_PASSWORD');
    const { body: task } = await clientFor(defaultTarget().url).tasks.get({ task_id: live.taskId! });
    expect((task as { task: { description: string } }).task.description).toContain('username=svc-backfill password=<<>>');
    const receiptsDir = mkdtempSync(join(tmpdir(), 'safe-reindex-secret-'));
    const polls = await (await localLedger(servers.ledgerEndpoint, tableName)).listPolls(live.runId!);
    writeReceipts(receiptsDir, summarise(live.record, { runId: live.runId!, status: live.status, error: null, cause: null }), polls);
    const receipts = readdirSync(join(receiptsDir, live.runId!)).map((f) => readFileSync(join(receiptsDir, live.runId!, f), 'utf8'));

    const everywhere = [
      ...logged,
      JSON.stringify(await ledgerItems(tableName)),
      JSON.stringify(dry.record),
      JSON.stringify(live.record),
      JSON.stringify(live.output ?? null),
      ...receipts,
    ].join('\n');
    expect(logged.length).toBeGreaterThan(5);
    expect(everywhere).not.toContain(PASSWORD);
    expect(everywhere).toContain('{{env:SAFE_REINDEX_SOURCE_PASSWORD}}');
  });
});
