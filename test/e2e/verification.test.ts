import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runLocal } from '../../local/pipeline';
import { sampleSeed } from '../../lambdas/shared/checks/parity';
import { sampleIds } from '../../lambdas/shared/cluster/cluster-ops';
import { seedWorkedExample, type SeedDoc, type WorkedExampleShape } from '../../local/seed/worked-example';
import { differencesDirectory, fileLedgerTable, fileProxiedClusters, runOptions, stopFileProxiedClusters, type FileProxiedClusters } from '../support/e2e-harness';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';
import { rest } from '../support/tasks-rest';
import { clientFor } from '../support/client';

/**
 * Full verification on the real clusters: an index pair of 20,000 documents where a handful differ
 * (regressed, missing, target-only), found by verify-only runs that write nothing, and by a live run.
 */

const servers = localServers();
const shape: WorkedExampleShape = { missing: 0, targetOlder: 0, equal: 19_900, targetNewer: 100 };

interface Tampered {
  readonly regression: string[];
  readonly missing: string[];
  readonly targetOnly: string[];
  /** The timestamp of each tampered id (null: the document has no timestamp). */
  readonly timestamps: Map<string, string | null>;
}

let proxies: FileProxiedClusters;
let index: string;
let docs: SeedDoc[];
let tampered: Tampered;

async function bulk(url: string, lines: object[]): Promise<void> {
  const body = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
  const answer = await rest<{ errors: boolean; items: unknown[] }>(url, 'POST', '/_bulk?refresh=true', body);
  expect(answer.body.errors, JSON.stringify(answer.body.items.slice(0, 3))).toBe(false);
}

/**
 * After a seed where the target is the source's copy: the source takes a newer version of three documents
 * (the target copies are then older: regressions), the target loses three, and four are on the target
 * only (two deleted from the source, one created on the target, one created there without a timestamp).
 */
async function tamper(all: readonly SeedDoc[]): Promise<Tampered> {
  const equal = all.filter((d) => d.kind === 'equal');
  const pick = (positions: number[]) => positions.map((p) => equal[p]!);
  const regressed = pick([150, 9_000, 19_500]);
  const missing = pick([400, 10_000, 19_600]);
  const deletedOnSource = pick([700, 18_000]);
  const source = servers.source.url;
  const target = defaultTarget().url;
  await bulk(source, [
    ...regressed.flatMap((d) => [
      { index: { _index: index, _id: d.id, version: d.sourceVersion + 7, version_type: 'external' } },
      { timestamp: d.timestamp, writer: 'source only, newer' },
    ]),
    ...deletedOnSource.map((d) => ({ delete: { _index: index, _id: d.id } })),
  ]);
  await bulk(target, [
    ...missing.map((d) => ({ delete: { _index: index, _id: d.id } })),
    { index: { _index: index, _id: 'target-only-dated', version: 5, version_type: 'external' } },
    { timestamp: '2026-05-30T10:00:00Z', writer: 'lost dual-write' },
    { index: { _index: index, _id: 'target-only-undated', version: 5, version_type: 'external' } },
    { writer: 'lost dual-write, no timestamp' },
  ]);
  const timestamps = new Map<string, string | null>([
    ...[...regressed, ...missing, ...deletedOnSource].map((d) => [d.id, d.timestamp] as [string, string]),
    ['target-only-dated', '2026-05-30T10:00:00Z'],
    ['target-only-undated', null],
  ]);
  return {
    regression: regressed.map((d) => d.id),
    missing: missing.map((d) => d.id),
    targetOnly: [...deletedOnSource.map((d) => d.id), 'target-only-dated', 'target-only-undated'],
    timestamps,
  };
}

function allTampered(): string[] {
  return [...tampered.regression, ...tampered.missing, ...tampered.targetOnly];
}

function differencesOf(runId: string): Array<{ id: string; class: string }> {
  const dir = join(differencesDirectory, runId, 'differences');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .map((line) => JSON.parse(line) as { id: string; class: string });
}

/** Ranges of at most 2,000 documents, one started per invocation: the dense-index paths at a test's size. */
function denseOptions() {
  return { ...runOptions(fileLedgerTable, proxies.target.url), verifyInvocationSeconds: 0, verifyRangeDocs: 2_000 };
}

function verifyInput(runId: string, extra: Record<string, unknown> = {}) {
  return {
    runId,
    source: { url: proxies.source.url, index },
    target: { index },
    dateField: 'timestamp',
    verifyOnly: true,
    ...extra,
  };
}

beforeAll(async () => {
  proxies = await fileProxiedClusters();
  index = uniqueIndex('verify');
  docs = await seedWorkedExample({ source: clientFor(servers.source.url), target: clientFor(defaultTarget().url), index, shape });
  tampered = await tamper(docs);
});
afterEach(() => proxies.reset());
afterAll(stopFileProxiedClusters);

describe('full verification, verify only: every document of the index pair, nothing written', () => {
  it('fails ParityFailed naming every regressed, missing and target-only document among 20,000, and lists them all', async () => {
    const runId = `${index}-verify-merge`;
    // One range per invocation, and ranges of at most 2,000 documents (each 4,000-document day is halved):
    // the state machine's loop back to CheckParity carries the verification on.
    const result = await runLocal({ ...denseOptions(), input: verifyInput(runId, { parity: { concurrency: 1 } }) });

    expect([result.status, result.error]).toEqual(['FAILED', 'ParityFailed']);
    for (const id of allTampered()) expect(result.cause).toContain(id);
    expect(result.cause).toContain('3 older on the target than on the source (regression)');
    expect(result.cause).toContain('3 missing on the target');
    expect(result.cause).toContain('4 on the target only');
    const verification = (result.record?.parity as { verification: Record<string, unknown> }).verification;
    expect(verification.classes).toEqual({
      equal: 19_900 - 3 - 3 - 2,
      targetNewer: 100,
      sourceNewerByDesign: 0,
      regression: 3,
      missing: 3,
      targetOnly: 4,
      settled: 0,
    });
    expect(verification.splits as number).toBeGreaterThanOrEqual(5);
    expect(verification.invocations as number).toBeGreaterThanOrEqual((verification.ranges as number) + (verification.splits as number));
    expect(result.execution.stateTransitions).toBeGreaterThan(8);
    const listed = differencesOf(runId);
    expect(listed.map((d) => `${d.class}:${d.id}`).sort()).toEqual(
      [
        ...tampered.regression.map((id) => `regression:${id}`),
        ...tampered.missing.map((id) => `missing:${id}`),
        ...tampered.targetOnly.map((id) => `targetOnly:${id}`),
      ].sort(),
    );
    // Verify only: no lock, no dry run, and not one write to either cluster.
    expect(proxies.source.writeRequests()).toEqual([]);
    expect(proxies.target.writeRequests()).toEqual([]);
    expect(proxies.target.requests().some((r) => r.path.includes('_refresh'))).toBe(false);
  });

  it('without a date field, the index is sliced by _id on each cluster and still every difference is found', async () => {
    const runId = `${index}-verify-sliced`;
    const { dateField: _none, ...input } = verifyInput(runId);
    const result = await runLocal({ ...denseOptions(), input });

    expect([result.status, result.error]).toEqual(['FAILED', 'ParityFailed']);
    const verification = (result.record?.parity as { verification: { classes: Record<string, number>; ranges: number } }).verification;
    // 20,000 documents in slices of about 2,000: ten slices of the one range.
    expect(verification.ranges).toBe(10);
    expect(verification.classes).toMatchObject({ regression: 3, missing: 3, targetOnly: 4 });
    expect(differencesOf(runId).map((d) => d.id).sort()).toEqual(allTampered().sort());
  });

  it('the sample mode finds only the tampered ids its seeded sample happens to hold, and misses the rest', async () => {
    const result = await runLocal({
      ...runOptions(fileLedgerTable, proxies.target.url),
      input: verifyInput(`${index}-verify-sample`, { parity: { mode: 'sample' } }),
    });

    const parity = result.record?.parity as {
      mode: string;
      forward: { checked: number; missing: string[]; behind: Array<{ id: string }> };
      reverse: { checked: number; targetOnly: string[] };
    };
    expect(parity.mode).toBe('sample');
    // The sample is seeded by the run's fingerprint: the same ids drawn again here are the ones it checked.
    const fingerprint = result.record!.fingerprint;
    const [forward, reverse] = await Promise.all([
      sampleIds(clientFor(servers.source.url), index, 65, sampleSeed(fingerprint, 'forward'), null),
      sampleIds(clientFor(defaultTarget().url), index, 65, sampleSeed(fingerprint, 'reverse'), null),
    ]);
    // Forward, each drawn source id is looked up on the target (missing, or behind: a regression); reverse, each
    // drawn target id on the source, for presence only (target-only). A regressed id drawn on the reverse side only
    // exists on both clusters: the sample does not see it.
    const drawnForward = new Set(forward.map((d) => d.id));
    const drawnReverse = new Set(reverse.map((d) => d.id));
    const caught = [
      ...[...tampered.regression, ...tampered.missing].filter((id) => drawnForward.has(id)),
      ...tampered.targetOnly.filter((id) => drawnReverse.has(id)),
    ].sort();
    const found = [...parity.forward.missing, ...parity.forward.behind.map((b) => b.id), ...parity.reverse.targetOnly].sort();
    expect(found).toEqual(caught);
    expect(result.status).toBe(caught.length === 0 ? 'SUCCEEDED' : 'FAILED');
    // What it misses, where full verification named all ten.
    expect(allTampered().length - caught.length).toBeGreaterThanOrEqual(8);
    expect(proxies.target.writeRequests()).toEqual([]);
  });

  it('create-only: target copies older than the source are by design, not differences; missing and target-only still are', async () => {
    const result = await runLocal({
      ...runOptions(fileLedgerTable, proxies.target.url),
      input: verifyInput(`${index}-verify-create-only`, { mode: 'create-only' }),
    });

    expect([result.status, result.error]).toEqual(['FAILED', 'ParityFailed']);
    const verification = (result.record?.parity as { verification: { classes: Record<string, number> } }).verification;
    expect(verification.classes).toMatchObject({ regression: 0, sourceNewerByDesign: 3, missing: 3, targetOnly: 4 });
    expect(result.cause).not.toContain('regression');
    for (const id of tampered.regression) expect(result.cause).not.toContain(id);
  });

  it('compares the run scope only: documents outside source.query are not differences', async () => {
    const cutoff = '2026-05-30T00:00:00.000Z';
    const runId = `${index}-verify-query`;
    const result = await runLocal({
      ...runOptions(fileLedgerTable, proxies.target.url),
      input: verifyInput(runId, { source: { url: proxies.source.url, index, query: { range: { timestamp: { lt: cutoff } } } } }),
    });

    const inScope = allTampered().filter((id) => {
      const ts = tampered.timestamps.get(id);
      return ts !== null && ts !== undefined && ts < cutoff;
    });
    expect(inScope.length).toBeGreaterThan(0);
    expect(inScope.length).toBeLessThan(allTampered().length);
    expect([result.status, result.error]).toEqual(['FAILED', 'ParityFailed']);
    expect(differencesOf(runId).map((d) => d.id).sort()).toEqual([...inScope].sort());
  });
});

describe('full verification after a live run', () => {
  it('the backfill mends the regressed documents; the ones deleted on the target only stay deleted (their tombstones win), and with the target-only ones fail the run, each named', async () => {
    const base = { source: { url: proxies.source.url, index }, target: { index }, dateField: 'timestamp', batchSize: 1000 };
    const dry = await runLocal({ ...runOptions(fileLedgerTable, proxies.target.url), input: { ...base, runId: `${index}-dry` } });
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.record?.header?.join('\n')).toContain('full verification');

    const live = await runLocal({ ...runOptions(fileLedgerTable, proxies.target.url), input: { ...base, runId: `${index}-live`, dryRun: false } });

    expect([live.status, live.error]).toEqual(['FAILED', 'ParityFailed']);
    const verification = (live.record?.parity as { verification: { classes: Record<string, number> } }).verification;
    expect(verification.classes).toMatchObject({ regression: 0, missing: 3, targetOnly: 4 });
    for (const id of [...tampered.missing, ...tampered.targetOnly]) expect(live.cause).toContain(id);
    for (const id of tampered.regression) expect(live.cause).not.toContain(id);
    expect(live.cause).toContain(`listed in ${join(differencesDirectory, `${index}-live`, 'differences')}`);
  });
});
