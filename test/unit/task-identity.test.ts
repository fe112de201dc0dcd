import { describe, expect, it } from 'vitest';
import { identityProblems, parseReindexDescription, totalProblem } from '../../lambdas/shared/checks/task-identity';

const hash = 'a'.repeat(64);
const expected = { runId: 'calls-live', requestHash: hash, sourceUrl: 'http://127.0.0.1:9200', sourceIndex: 'calls', targetIndex: 'calls' };
// The description as OpenSearch writes it for a remote reindex (pinned in test/contract/tasks.test.ts).
const description = 'reindex from [host=127.0.0.1 port=9200 query={\n  "match_all" : {\n    "boost" : 1.0\n  }\n}][calls] to [calls]';

describe('parseReindexDescription', () => {
  it('reads host, port, source and destination out of a multi-line remote description', () => {
    expect(parseReindexDescription(description)).toEqual({ scheme: 'http', host: '127.0.0.1', port: 9200, source: 'calls', dest: 'calls' });
  });

  it('reads the scheme, credentials and a query holding brackets', () => {
    const d =
      'reindex from [scheme=https host=es7.internal port=9243 query={"terms":{"a":["x]","y"]}} username=svc password=<<>>][calls-2026-05] to [calls-2026-05][_doc]';
    expect(parseReindexDescription(d)).toEqual({ scheme: 'https', host: 'es7.internal', port: 9243, source: 'calls-2026-05', dest: 'calls-2026-05' });
  });

  it('does not mistake a local reindex for a remote one', () => {
    expect(parseReindexDescription('reindex from [calls] to [calls-copy]')).toBeUndefined();
  });
});

describe('identityProblems (rail 2)', () => {
  it('accepts the approved task', () => {
    expect(identityProblems({ description, headers: { 'X-Opaque-Id': `calls-live/${hash}` } }, expected)).toEqual([]);
  });

  it('names a request whose hash differs from the approved one', () => {
    const problems = identityProblems({ description, headers: { 'X-Opaque-Id': `calls-live/${'b'.repeat(64)}` } }, expected);
    expect(problems).toEqual([expect.stringContaining('is not what the dry run approved')]);
  });

  it('names a task without this run tag, another source and another destination', () => {
    const other = description.replace('port=9200', 'port=9300').replace('to [calls]', 'to [calls-old]');
    const problems = identityProblems({ description: other, headers: {} }, expected);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/no X-Opaque-Id[\s\S]*reads from http:\/\/127\.0\.0\.1:9300[\s\S]*writes into calls-old/);
  });
});

describe('totalProblem', () => {
  it('allows the live-write tolerance and refuses more', () => {
    expect(totalProblem(100_010, 100_000, 0.0002)).toBeUndefined();
    expect(totalProblem(100_021, 100_000, 0.0002)).toMatch(/found 100,021 source documents, the pre-flight counted 100,000/);
  });
});
