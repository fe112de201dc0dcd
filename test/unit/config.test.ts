import { describe, expect, it } from 'vitest';
import { buildCanonicalRequest, fingerprint, requestHash } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig, indexNameProblem } from '../../lambdas/shared/runtime/config';
import { InvalidInputError } from '../../lambdas/shared/runtime/errors';

const target = { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com' };
const valid = {
  runId: 'calls-2026-05-dry',
  source: { url: 'https://es7.internal:9200', index: 'calls-2026-05' },
  target: { index: 'calls-2026-05' },
};

function invalid(input: unknown): InvalidInputError {
  try {
    parseRunConfig(input, target);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error('expected InvalidInput');
}

describe('parseRunConfig: parity and verifyOnly', () => {
  it('defaults to full verification, 4 ranges at a time; a mode it does not know is refused by name', () => {
    expect(parseRunConfig(valid, target).parity).toMatchObject({ mode: 'full', concurrency: 4 });
    expect(parseRunConfig({ ...valid, parity: { mode: 'sample' } }, target).parity.mode).toBe('sample');
    const err = invalid({ ...valid, parity: { mode: 'exact' } });
    expect(err.field).toBe('parity.mode');
    expect(invalid({ ...valid, parity: { concurrency: 0 } }).field).toBe('parity.concurrency');
  });

  it('a verifyOnly run refuses what only a reindex takes, naming the field', () => {
    expect(parseRunConfig({ ...valid, verifyOnly: true }, target).verifyOnly).toBe(true);
    for (const [field, value] of [
      ['dryRun', false],
      ['dryRun', true],
      ['approvedFingerprint', 'a'.repeat(64)],
      ['partitions', 4],
      ['maxConcurrency', 2],
    ] as const) {
      const err = invalid({ ...valid, dateField: 'timestamp', verifyOnly: true, [field]: value });
      expect(err.field).toBe(field);
      expect(err.message).toContain('a verifyOnly run reads both clusters and writes nothing');
    }
  });
});

describe('parseRunConfig', () => {
  it('applies the defaults of docs/design.md: a forgotten dryRun never launches anything', () => {
    expect(parseRunConfig(valid, target)).toEqual({
      runId: 'calls-2026-05-dry',
      source: { url: 'https://es7.internal:9200', index: 'calls-2026-05', credentialsSecret: null, query: null },
      target: { index: 'calls-2026-05' },
      mode: 'merge',
      dryRun: true,
      dateField: null,
      batchSize: 1000,
      requestsPerSecond: null,
      parity: { mode: 'full', countTolerance: 0.0002, sampleSize: 65, concurrency: 4 },
      verifyOnly: false,
      probe: 'sample',
      guards: { dryRunMaxAgeHours: 24, stallMinutes: 15, allowBrokenVersioning: false, tombstoneRetention: '24h', acceptResurrectedDeletes: false },
    });
  });

  it('accepts the full console example of docs/design.md', () => {
    const config = parseRunConfig(
      {
        ...valid,
        source: {
          ...valid.source,
          credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source',
          query: null,
        },
        mode: 'merge',
        dryRun: true,
        dateField: 'timestamp',
        batchSize: 1000,
        requestsPerSecond: null,
        parity: { countTolerance: 0.0002, sampleSize: 65 },
        guards: { dryRunMaxAgeHours: 24, stallMinutes: 15, allowBrokenVersioning: false },
      },
      target,
    );
    expect(config.dateField).toBe('timestamp');
  });

  it.each<[string, unknown, string, RegExp | string]>([
    ['not an object', [1, 2], '(input)', 'must be a JSON object'],
    ['missing runId', { ...valid, runId: undefined }, 'runId', 'runId is required'],
    ['upper-case run id', { ...valid, runId: 'Calls-May' }, 'runId', /must match/],
    ['run id too long', { ...valid, runId: 'a'.repeat(81) }, 'runId', /must match/],
    ['unknown top-level field', { ...valid, dryrun: false }, 'dryrun', 'dryrun is not a known field'],
    ['unknown nested field', { ...valid, source: { ...valid.source, pass: 'x' } }, 'source.pass', 'is not a known field'],
    ['unknown mode', { ...valid, mode: 'upsert' }, 'mode', /mode/],
    ['tombstone retention in seconds', { ...valid, guards: { tombstoneRetention: '90s' } }, 'guards.tombstoneRetention', /minutes, hours or days/],
    ['tombstone retention over 30 days', { ...valid, guards: { tombstoneRetention: '31d' } }, 'guards.tombstoneRetention', /from 1m to 30d/],
    ['tombstone retention not a duration', { ...valid, guards: { tombstoneRetention: 24 } }, 'guards.tombstoneRetention', /string/],
    ['wildcard target', { ...valid, target: { index: 'calls-*' } }, 'target.index', /wildcards/],
    ['_all target', { ...valid, target: { index: '_all' } }, 'target.index', /not _all/],
    ['comma list target', { ...valid, target: { index: 'a,b' } }, 'target.index', /comma lists/],
    ['date math target', { ...valid, target: { index: '<calls-{now/M}>' } }, 'target.index', /date math/],
    ['upper-case target', { ...valid, target: { index: 'Calls-2026-05' } }, 'target.index', /lower case/],
    ['source url with credentials', { ...valid, source: { ...valid.source, url: 'https://u:p@es7:9200' } }, 'source.url', /secret/],
    ['source url not a url', { ...valid, source: { ...valid.source, url: 'es7:9200:x' } }, 'source.url', /http/],
    ['ftp source url', { ...valid, source: { ...valid.source, url: 'ftp://es7' } }, 'source.url', /http or https/],
    ['secret not an ARN', { ...valid, source: { ...valid.source, credentialsSecret: 'es-source' } }, 'source.credentialsSecret', /ARN/],
    ['batch size zero', { ...valid, batchSize: 0 }, 'batchSize', /batchSize/],
    ['fractional batch size', { ...valid, batchSize: 10.5 }, 'batchSize', /whole number/],
    ['batch size of another word', { ...valid, batchSize: 'big' }, 'batchSize', /batchSize must be a whole number from 1 to 10,000, or "auto"/],
    ['negative throttle', { ...valid, requestsPerSecond: -1 }, 'requestsPerSecond', /positive/],
    ['tolerance over 50%', { ...valid, parity: { countTolerance: 0.9 } }, 'parity.countTolerance', /parity.countTolerance/],
    ['dryRun as a string', { ...valid, dryRun: 'false' }, 'dryRun', /dryRun/],
    ['query of two clauses', { ...valid, source: { ...valid.source, query: { a: {}, b: {} } } }, 'source.query', /one query clause/],
    ['source index with a space', { ...valid, source: { ...valid.source, index: 'calls may' } }, 'source.index', /space/],
  ])('refuses %s, naming the field', (_case, input, field, message) => {
    const err = invalid(input);
    expect(err.name).toBe('InvalidInput');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('refuses a reindex of an index into itself on the same cluster', () => {
    const err = invalid({ ...valid, source: { ...valid.source, url: 'https://SEARCH-calls.eu-west-1.es.amazonaws.com:443/' } });
    expect(err.field).toBe('target.index');
    expect(err.message).toContain('is the source index on the same cluster');
  });

  it('accepts the same index name on another cluster (the usual migration)', () => {
    expect(parseRunConfig(valid, { endpoint: 'http://127.0.0.1:9201' }).target.index).toBe('calls-2026-05');
  });
});

describe('parseRunConfig: a run started by a parent execution (MonthlyBackfill)', () => {
  const parent = 'arn:aws:states:eu-west-1:123456789012:execution:MonthlyBackfill:scheduled-2026-06';
  const started = { ...valid, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: parent };

  it('accepts AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID, the parent\'s execution ARN, and keeps it on the config', () => {
    // Act
    const config = parseRunConfig(started, target);

    // Assess
    expect(config.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID).toBe(parent);
    expect(parseRunConfig({ ...valid, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: 'arn:aws:states:local:000000000000:execution:MonthlyBackfill:first' }, target).runId).toBe(valid.runId);
  });

  it('leaves it out of the canonical request and the fingerprint: the same run with and without a parent is approved alike', () => {
    // Prepare
    const withParent = parseRunConfig(started, target);
    const alone = parseRunConfig(valid, target);

    // Act
    const [requestWith, requestAlone] = [buildCanonicalRequest(withParent), buildCanonicalRequest(alone)];

    // Assess
    expect(requestWith).toEqual(requestAlone);
    expect(requestHash(requestWith)).toBe(requestHash(requestAlone));
    expect(fingerprint(requestWith, target)).toBe(fingerprint(requestAlone, target));
  });

  it.each([
    ['not an ARN', 'MonthlyBackfill/scheduled-2026-06'],
    ['a state machine ARN', 'arn:aws:states:eu-west-1:123456789012:stateMachine:MonthlyBackfill'],
    ['a Lambda ARN', 'arn:aws:lambda:eu-west-1:123456789012:function:plan-months'],
  ])('refuses %s as the parent, naming the field', (_case, value) => {
    // Act
    const err = invalid({ ...valid, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: value });

    // Assess
    expect(err.field).toBe('AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID');
    expect(err.message).toMatch(/^AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID must be the execution ARN of the parent execution/);
  });
});

describe('indexNameProblem', () => {
  it.each(['calls-2026-05', 'calls.2026.05', 'a', 'x_y'])('accepts %s', (name) => {
    expect(indexNameProblem(name)).toBeUndefined();
  });
  it.each(['', '-calls', '_calls', '.', 'a/b', 'a?', 'a#b', 'ä'.repeat(200)])('refuses %j', (name) => {
    expect(indexNameProblem(name)).toBeDefined();
  });
});
