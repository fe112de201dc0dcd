import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLocal } from '../../local/pipeline';
import { described, fileLedgerTable, ledgerItems, ledgerOf, proxiedClusters, runOptions, type ProxiedClusters } from '../support/e2e-harness';
import { rest } from '../support/tasks-rest';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

/**
 * Malformed execution input is refused by the first state with `InvalidInput` and a cause that names the
 * field; nothing reaches either cluster (the proxies' logs are empty, reads included) and nothing is written
 * to the ledger. An alias of several indices is only visible on the target: refused at pre-flight, before
 * anything is written.
 */

let clusters: ProxiedClusters;

beforeAll(async () => {
  clusters = await proxiedClusters();
});

afterAll(async () => {
  await clusters.stop();
});

beforeEach(() => {
  clusters.source.resetLog();
  clusters.target.resetLog();
});

/** A valid live-run input (its index does not exist: valid input would reach the clusters and fail there). */
function validInput(runId: string): Record<string, unknown> {
  return {
    runId,
    source: { url: clusters.source.url, index: 'calls-2026-05' },
    target: { index: 'calls-2026-05' },
    mode: 'merge',
    dryRun: false,
    dateField: 'timestamp',
    batchSize: 1000,
  };
}

type Input = Record<string, unknown>;
const withSource = (input: Input, source: Input): Input => ({ ...input, source: { ...(input['source'] as Input), ...source } });

interface Case {
  readonly name: string;
  readonly field: string;
  readonly input: (valid: Input) => unknown;
  /** What the cause starts with; @default the field's name */
  readonly cause?: RegExp;
}

const cases: readonly Case[] = [
  { name: 'an unknown top-level field (a typo of dryRun)', field: 'dryrun', input: (v) => ({ ...v, dryrun: true }) },
  { name: 'an unknown field in source (a password)', field: 'source.password', input: (v) => withSource(v, { password: 'changeme' }) },
  { name: 'an unknown field in guards', field: 'guards.skipDryRun', input: (v) => ({ ...v, guards: { skipDryRun: true } }) },
  { name: 'a wildcard target index', field: 'target.index', input: (v) => ({ ...v, target: { index: 'calls-*' } }) },
  { name: 'the _all target', field: 'target.index', input: (v) => ({ ...v, target: { index: '_all' } }) },
  { name: 'a comma list of target indices', field: 'target.index', input: (v) => ({ ...v, target: { index: 'calls-2026-05,calls-2026-06' } }) },
  { name: 'a date-math target index', field: 'target.index', input: (v) => ({ ...v, target: { index: '<calls-{now/M{yyyy-MM}}>' } }) },
  { name: 'an upper-case target index', field: 'target.index', input: (v) => ({ ...v, target: { index: 'Calls-2026-05' } }) },
  { name: 'a missing target', field: 'target', input: ({ target: _target, ...v }) => v },
  { name: 'a wildcard source index', field: 'source.index', input: (v) => withSource(v, { index: 'calls-2026-*' }) },
  { name: 'a runId with upper case and a space', field: 'runId', input: (v) => ({ ...v, runId: 'Calls 2026-05' }) },
  { name: 'a missing runId', field: 'runId', input: ({ runId: _runId, ...v }) => v },
  { name: 'a runId longer than 80 characters', field: 'runId', input: (v) => ({ ...v, runId: 'a'.repeat(81) }) },
  { name: 'an unknown mode', field: 'mode', input: (v) => ({ ...v, mode: 'upsert' }) },
  {
    name: 'the source index itself on the target cluster',
    field: 'target.index',
    input: (v) => withSource(v, { url: clusters.target.url }),
  },
  {
    name: 'the source index itself on the target cluster, spelled localhost',
    field: 'target.index',
    input: (v) => withSource(v, { url: clusters.target.url.replace('127.0.0.1', 'localhost') }),
  },
  {
    name: 'credentials in the source url',
    field: 'source.url',
    input: (v) => withSource(v, { url: clusters.source.url.replace('http://', 'http://elastic:s3cret-pw@') }),
  },
  { name: 'a source url that is not http(s)', field: 'source.url', input: (v) => withSource(v, { url: 'ftp://127.0.0.1:9200' }) },
  { name: 'a source url with a query string', field: 'source.url', input: (v) => withSource(v, { url: `${clusters.source.url}?pretty` }) },
  { name: 'a credentials secret that is not a Secrets Manager ARN', field: 'source.credentialsSecret', input: (v) => withSource(v, { credentialsSecret: 'es-source' }) },
  { name: 'a query of two clauses', field: 'source.query', input: (v) => withSource(v, { query: { term: { a: 1 }, range: { b: { gte: 1 } } } }) },
  { name: 'a negative throttle', field: 'requestsPerSecond', input: (v) => ({ ...v, requestsPerSecond: -50 }) },
  { name: 'a zero throttle', field: 'requestsPerSecond', input: (v) => ({ ...v, requestsPerSecond: 0 }) },
  { name: 'a batch size of zero', field: 'batchSize', input: (v) => ({ ...v, batchSize: 0 }) },
  { name: 'a fractional batch size', field: 'batchSize', input: (v) => ({ ...v, batchSize: 2.5 }) },
  { name: 'a batch size above 10,000', field: 'batchSize', input: (v) => ({ ...v, batchSize: 20_000 }) },
  { name: 'dryRun as the string "false"', field: 'dryRun', input: (v) => ({ ...v, dryRun: 'false' }) },
  { name: 'a date field with a space', field: 'dateField', input: (v) => ({ ...v, dateField: 'time stamp' }) },
  { name: 'a count tolerance above 0.5', field: 'parity.countTolerance', input: (v) => ({ ...v, parity: { countTolerance: 0.9 } }) },
  { name: 'a negative dry-run age', field: 'guards.dryRunMaxAgeHours', input: (v) => ({ ...v, guards: { dryRunMaxAgeHours: -1 } }) },
  { name: 'an input that is not an object', field: '(input)', input: (v) => [v], cause: /^the execution input must be a JSON object/ },
  { name: 'a string input', field: '(input)', input: (v) => JSON.stringify(v), cause: /^the execution input must be a JSON object/ },
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('malformed input is refused before anything is read or written', () => {
  // One table for every refused input: each case finds it empty and must leave it empty, so a case that
  // wrote anything fails there; and one table keeps the functions' execution environments warm across
  // the cases, as one deployed stack's table does (a table per case cold-started them every time).
  const refusedTable = uniqueIndex('ledger-invalid');

  it.each(cases)('$name: InvalidInput naming $field, no request to either cluster, nothing in the ledger', async ({ field, input, cause }) => {
    // Prepare
    const tableName = refusedTable;
    expect(await ledgerItems(tableName)).toEqual([]);
    const runId = uniqueIndex('invalid');
    const bad = input(validInput(runId));

    // Act
    const result = await runLocal({ ...runOptions(tableName, clusters.target.url), input: bad });

    // Assess
    expect([result.status, result.error]).toEqual(['FAILED', 'InvalidInput']);
    expect(result.cause).toMatch(cause ?? new RegExp(`^${escapeRegExp(field)} `));
    expect(described(clusters.source.requests())).toEqual([]);
    expect(described(clusters.target.requests())).toEqual([]);
    expect(result.record).toBeUndefined();
    expect(await ledgerItems(tableName)).toEqual([]);
  });

  it('credentials in the source url never appear in the cause', async () => {
    // Prepare
    const tableName = refusedTable;
    const bad = withSource(validInput(uniqueIndex('invalid')), { url: clusters.source.url.replace('http://', 'http://elastic:s3cret-pw@') });

    // Act
    const result = await runLocal({ ...runOptions(tableName, clusters.target.url), input: bad });

    // Assess
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).not.toContain('s3cret-pw');
    expect(JSON.stringify(result)).not.toContain('s3cret-pw');
  });

  it('valid input does reach the clusters (the proxies see it), and its runId cannot be used again', async () => {
    // Prepare
    const tableName = fileLedgerTable;
    const runId = uniqueIndex('valid');
    const input = { ...validInput(runId), source: { url: clusters.source.url, index: uniqueIndex('no-such-index') }, dryRun: true };

    // Act
    const first = await runLocal({ ...runOptions(tableName, clusters.target.url), input });
    const seenByFirst = clusters.source.requests().length + clusters.target.requests().length;
    clusters.source.resetLog();
    clusters.target.resetLog();
    const reused = await runLocal({ ...runOptions(tableName, clusters.target.url), input });

    // Assess
    expect([first.status, first.error]).toEqual(['FAILED', 'SourceIndexMissing']);
    expect(seenByFirst).toBeGreaterThan(0);
    expect([reused.status, reused.error]).toEqual(['FAILED', 'InvalidInput']);
    expect(reused.cause).toMatch(/^runId "[^"]+" is already used by an earlier run \(status FAILED\)/);
    expect(described(clusters.source.requests())).toEqual([]);
    expect(described(clusters.target.requests())).toEqual([]);
    const kept = await (await ledgerOf(tableName)).getRun(runId);
    expect(kept).toMatchObject({ status: 'FAILED', error: 'SourceIndexMissing' });
  });
});

describe('an alias target', () => {
  it('an alias of two indices on the target fails InvalidInput naming target.index at pre-flight, with reads only', async () => {
    // Prepare
    const alias = uniqueIndex('invalid-alias');
    const target = defaultTarget().url;
    for (const index of [`${alias}-a`, `${alias}-b`]) {
      expect((await rest(target, 'PUT', `/${index}`, { settings: { number_of_shards: 1, number_of_replicas: 0 } })).status).toBe(200);
    }
    const aliased = await rest(target, 'POST', '/_aliases', {
      actions: [{ add: { index: `${alias}-a`, alias } }, { add: { index: `${alias}-b`, alias } }],
    });
    expect(aliased.status).toBe(200);
    expect((await rest(localServers().source.url, 'PUT', `/${alias}`, { settings: { number_of_shards: 1, number_of_replicas: 0 } })).status).toBe(200);
    const tableName = fileLedgerTable;
    const input = { ...validInput(`${alias}-live`), source: { url: clusters.source.url, index: alias }, target: { index: alias } };

    // Act
    const result = await runLocal({ ...runOptions(tableName, clusters.target.url), input });

    // Assess
    expect([result.status, result.error]).toEqual(['FAILED', 'InvalidInput']);
    expect(result.cause).toMatch(/^target\.index /);
    expect(result.cause).toContain(`${alias}-a`);
    expect(result.cause).toContain(`${alias}-b`);
    expect(result.record).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(result.taskId).toBeUndefined();
    expect(clusters.target.requests().length).toBeGreaterThan(0);
    expect(described(clusters.target.writeRequests())).toEqual([]);
    expect(described(clusters.source.writeRequests())).toEqual([]);
    expect(await (await ledgerOf(tableName)).getLock(alias)).toBeUndefined();
  });
});
