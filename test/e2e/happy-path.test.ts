import { describe, expect, it } from 'vitest';
import { runLocal } from '../../local/pipeline';
import { expectedCounters, seedWorkedExample, targetCopy, type WorkedExampleShape } from '../../local/seed/worked-example';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { fileLedgerTable, ledgerOf } from '../support/e2e-harness';

const servers = localServers();
const shape: WorkedExampleShape = { missing: 400, targetOlder: 25, equal: 60, targetNewer: 15 };

describe('ReindexRun end to end on the real local clusters', () => {
  it('merge: a dry run approves, the live run reproduces the worked-example arithmetic and keeps newer target documents', async () => {
    const index = uniqueIndex('calls-happy');
    const tableName = fileLedgerTable;
    const source = clientFor(servers.source.url);
    const target = clientFor(defaultTarget().url);
    const docs = await seedWorkedExample({ source, target, index, shape });
    const base = {
      source: { url: servers.source.url, index },
      target: { index },
      dateField: 'timestamp',
      batchSize: 100,
    };
    const common = { targetUrl: defaultTarget().url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50 };

    const dry = await runLocal({ ...common, input: { ...base, runId: `${index}-dry` } });
    expect(dry.error).toBeNull();
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.taskId).toBeUndefined();

    const live = await runLocal({ ...common, input: { ...base, runId: `${index}-live`, dryRun: false } });
    expect([live.status, live.error, live.cause]).toEqual(['SUCCEEDED', null, null]);
    const expected = expectedCounters(shape);
    expect(live.record?.counters).toMatchObject({
      total: expected.total,
      created: expected.created,
      updated: expected.updated,
      versionConflicts: expected.versionConflicts,
      deleted: 0,
      noops: 0,
      failures: 0,
    });
    // Full verification: every document compared, all equal now but the newer target copies, which stay.
    expect(live.record?.parity).toMatchObject({
      ok: true,
      mode: 'full',
      verification: {
        compared: expected.total,
        classes: { equal: expected.total - shape.targetNewer, targetNewer: shape.targetNewer, regression: 0, missing: 0, targetOnly: 0 },
      },
    });

    const newer = docs.filter((d) => d.kind === 'targetNewer');
    const { body } = await target.mget({ index, body: { ids: newer.map((d) => d.id) } });
    const kept = (body as { docs: Array<{ _version: number; _source: { writer: string } }> }).docs;
    expect(kept.map((d, i) => [d._version, d._source.writer])).toEqual(newer.map((d) => [targetCopy(d)!.version, 'dual-write (newer)']));
  });
});

describe('the dry run\'s exact prediction (probe "full")', () => {
  it('compares every document and predicts the live run\'s counters exactly, in the header and the approval', async () => {
    const index = uniqueIndex('calls-exact');
    const tableName = fileLedgerTable;
    const source = clientFor(servers.source.url);
    const target = clientFor(defaultTarget().url);
    await seedWorkedExample({ source, target, index, shape });
    const base = { source: { url: servers.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 100 };
    const common = { targetUrl: defaultTarget().url, ledgerEndpoint: servers.ledgerEndpoint, tableName, pollWaitMs: 200, retryIntervalMs: 50 };

    const dry = await runLocal({ ...common, input: { ...base, runId: `${index}-dry`, probe: 'full' } });

    expect([dry.status, dry.error]).toEqual(['SUCCEEDED', null]);
    const expected = expectedCounters(shape);
    const probe = dry.record!.probe!;
    expect(probe.mode).toBe('full');
    expect(probe.sampled).toBe(expected.total);
    expect(probe.predicted).toEqual({ created: expected.created, updated: expected.updated, versionConflicts: expected.versionConflicts });
    const header = dry.record?.header?.join('\n') ?? '';
    expect(header).toContain(
      `predicted:            ${expected.total} = ${expected.created} created + ${expected.updated} updated + ${expected.versionConflicts} version_conflicts`,
    );
    expect(header).toMatch(/exact as of this dry run \(\d{4}-\d\d-\d\dT[^)]+\): dual-write keeps moving it/);
    expect(header).not.toContain('sampled');
    const approval = await (await ledgerOf(tableName)).getApproval(dry.record!.fingerprint, new Date(), 24);
    expect(approval.found && (approval.approval.probe as { predicted?: unknown }).predicted).toEqual(probe.predicted);

    // The probe is not part of what is approved: the live run of the same input launches under it.
    const live = await runLocal({ ...common, input: { ...base, runId: `${index}-live`, dryRun: false } });
    expect([live.status, live.error]).toEqual(['SUCCEEDED', null]);
    expect(live.record?.counters).toMatchObject(probe.predicted);
  });
});
