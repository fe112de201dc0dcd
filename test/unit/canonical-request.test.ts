import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  buildCanonicalRequest,
  credentialReference,
  fingerprint,
  hashOfSentRequest,
  opaqueId,
  parseOpaqueId,
  requestHash,
  stableJson,
} from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';

const target = { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com' };
const base = {
  runId: 'calls-2026-05-dry',
  source: {
    url: 'https://es7.internal:9200/',
    index: 'calls-2026-05',
    credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source',
  },
  target: { index: 'calls-2026-05' },
};
const config = (extra: Record<string, unknown> = {}) => parseRunConfig({ ...base, ...extra }, target);

describe('buildCanonicalRequest', () => {
  it('merge mode: external versioning, conflicts proceed, credentials as references', () => {
    const c = config();
    expect(buildCanonicalRequest(c, credentialReference(c))).toEqual({
      method: 'POST',
      path: '/_reindex',
      params: { wait_for_completion: false },
      body: {
        conflicts: 'proceed',
        source: {
          remote: {
            host: 'https://es7.internal:9200',
            username: '{{secret:arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source:username}}',
            password: '{{secret:arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source:password}}',
          },
          index: 'calls-2026-05',
          size: 1000,
        },
        dest: { index: 'calls-2026-05', version_type: 'external' },
      },
    });
  });

  it('create-only mode uses op_type create; overwrite keeps internal versioning and aborts on conflict', () => {
    expect(buildCanonicalRequest(config({ mode: 'create-only' })).body).toMatchObject({
      conflicts: 'proceed',
      dest: { index: 'calls-2026-05', op_type: 'create' },
    });
    const overwrite = buildCanonicalRequest(config({ mode: 'overwrite' })).body;
    expect(overwrite.dest).toEqual({ index: 'calls-2026-05' });
    expect(overwrite).not.toHaveProperty('conflicts');
  });

  it('carries the query, the batch size and the throttle', () => {
    const req = buildCanonicalRequest(
      config({ source: { ...base.source, query: { range: { timestamp: { gte: '2026-05-01' } } } }, batchSize: 500, requestsPerSecond: 2000 }),
    );
    expect(req.params).toEqual({ wait_for_completion: false, requests_per_second: 2000 });
    expect(req.body.source.size).toBe(500);
    expect(req.body.source.query).toEqual({ range: { timestamp: { gte: '2026-05-01' } } });
  });
});

describe('fingerprint', () => {
  it('is the same for a dry run and the live run it approves (run id and dryRun are not part of it)', () => {
    const dry = config({ runId: 'calls-2026-05-dry', dryRun: true });
    const live = config({ runId: 'calls-2026-05-live', dryRun: false });
    expect(fingerprint(buildCanonicalRequest(dry), target)).toBe(fingerprint(buildCanonicalRequest(live), target));
  });

  it.each<[string, Record<string, unknown>]>([
    ['batch size', { batchSize: 999 }],
    ['query', { source: { ...base.source, query: { term: { a: 1 } } } }],
    ['mode', { mode: 'create-only' }],
    ['throttle', { requestsPerSecond: 100 }],
    ['source index', { source: { ...base.source, index: 'calls-2026-06' } }],
    ['target index', { target: { index: 'calls-2026-06' } }],
  ])('changes when the %s changes', (_what, extra) => {
    const a = fingerprint(buildCanonicalRequest(config()), target);
    const b = fingerprint(buildCanonicalRequest(config(extra)), target);
    expect(b).not.toBe(a);
  });

  it('covers the parity mode: sample changes it; full, the default, leaves it as it was before the mode existed', () => {
    const req = buildCanonicalRequest(config());
    const before = createHash('sha256').update(stableJson({ target: 'https://search-calls.eu-west-1.es.amazonaws.com', request: requestHash(req) })).digest('hex');

    expect(fingerprint(req, target, 'full')).toBe(before);
    expect(fingerprint(req, target)).toBe(before);
    expect(fingerprint(req, target, 'sample')).not.toBe(before);
  });

  it('changes with the target endpoint but not with its letter case or trailing slash', () => {
    const req = buildCanonicalRequest(config());
    expect(fingerprint(req, { endpoint: 'https://SEARCH-calls.eu-west-1.es.amazonaws.com/' })).toBe(fingerprint(req, target));
    expect(fingerprint(req, { endpoint: 'https://other.es.amazonaws.com' })).not.toBe(fingerprint(req, target));
  });
});

describe('hashOfSentRequest', () => {
  it('equals the canonical request hash when the bytes sent carry the real credentials', () => {
    const c = config();
    const refs = credentialReference(c)!;
    const canonical = buildCanonicalRequest(c, refs);
    const sentBody = JSON.stringify({
      ...canonical.body,
      source: { ...canonical.body.source, remote: { ...canonical.body.source.remote, username: 'svc', password: 'hunter2' } },
    });
    expect(hashOfSentRequest({ ...canonical, bodyBytes: sentBody }, refs)).toBe(requestHash(canonical));
  });

  it('differs when the bytes sent differ from the approved request in any field', () => {
    const canonical = buildCanonicalRequest(config());
    const sentBody = JSON.stringify({ ...canonical.body, dest: { index: 'calls-2026-05' } });
    expect(hashOfSentRequest({ ...canonical, bodyBytes: sentBody }, undefined)).not.toBe(requestHash(canonical));
  });
});

describe('opaque id', () => {
  it('round-trips run id and hash', () => {
    const hash = requestHash(buildCanonicalRequest(config()));
    expect(parseOpaqueId(opaqueId('calls-2026-05-live', hash))).toEqual({ runId: 'calls-2026-05-live', hash });
    expect(parseOpaqueId('seed-script')).toBeUndefined();
    expect(parseOpaqueId(undefined)).toBeUndefined();
  });
});

describe('stableJson', () => {
  it('sorts keys at every depth and drops undefined values', () => {
    expect(stableJson({ b: 1, a: { d: [2, { f: 1, e: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"e":2,"f":1}]},"b":1}');
  });
});
