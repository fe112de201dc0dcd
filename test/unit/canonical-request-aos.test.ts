import { describe, expect, it } from 'vitest';
import {
  buildCanonicalRequest,
  credentialReference,
  fingerprint,
  hashOfSentRequest,
  requestHash,
} from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import type { RunDeps } from '../../lambdas/shared/runtime/run-context';
import { validateInput } from '../../lambdas/validate-input/validate-input';

// Amazon OpenSearch Service: a remote reindex from a source that is not an OpenSearch Service domain
// (our self-managed Elasticsearch 7.10) carries "external": true in source.remote.
const target = { endpoint: 'https://vpc-calls-abc123.eu-west-1.es.amazonaws.com' };
const config = parseRunConfig(
  {
    runId: 'calls-2026-05-dry',
    source: {
      url: 'https://es7.internal:9200',
      index: 'calls-2026-05',
      credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf',
    },
    target: { index: 'calls-2026-05' },
  },
  target,
);

describe('buildCanonicalRequest for Amazon OpenSearch Service', () => {
  it('adds external: true to source.remote when remoteExternal is set', () => {
    const request = buildCanonicalRequest(config, credentialReference(config), { remoteExternal: true });

    expect(request.body.source.remote).toEqual({
      host: 'https://es7.internal:9200',
      username: '{{secret:arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf:username}}',
      password: '{{secret:arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf:password}}',
      external: true,
    });
    expect(request.body.dest).toEqual({ index: 'calls-2026-05', version_type: 'external' });
    expect(request.body.conflicts).toBe('proceed');
  });

  it('leaves source.remote without external when remoteExternal is false or not given', () => {
    const withoutOption = buildCanonicalRequest(config, credentialReference(config));
    const withFalse = buildCanonicalRequest(config, credentialReference(config), { remoteExternal: false });

    expect(withoutOption.body.source.remote).not.toHaveProperty('external');
    expect(withFalse).toEqual(withoutOption);
  });

  it('adds external also to a source without credentials', () => {
    const request = buildCanonicalRequest(config, undefined, { remoteExternal: true });

    expect(request.body.source.remote).toEqual({ host: 'https://es7.internal:9200', external: true });
  });

  it('makes external part of the request hash and so of the fingerprint: a dry run without it does not approve a run with it', () => {
    const plain = buildCanonicalRequest(config, credentialReference(config));
    const external = buildCanonicalRequest(config, credentialReference(config), { remoteExternal: true });

    expect(requestHash(external)).not.toBe(requestHash(plain));
    expect(fingerprint(external, target)).not.toBe(fingerprint(plain, target));
  });

  it('hashes the bytes sent with real credentials back to the approved hash, external included', () => {
    const refs = credentialReference(config);
    const approved = buildCanonicalRequest(config, refs, { remoteExternal: true });
    const sentBody = JSON.stringify({
      ...approved.body,
      source: { ...approved.body.source, remote: { ...approved.body.source.remote, username: 'reader', password: 's3cret' } },
    });

    const hash = hashOfSentRequest({ method: 'POST', path: '/_reindex', params: approved.params, bodyBytes: sentBody }, refs);

    expect(hash).toBe(requestHash(approved));
  });
});

describe('validateInput on Amazon OpenSearch Service', () => {
  async function validatedRequest(remoteExternal: boolean | undefined) {
    const created: Array<{ config: { canonicalRequest: { body: { source: { remote: Record<string, unknown> } } } } }> = [];
    const deps = {
      targetEndpoint: target.endpoint,
      ...(remoteExternal === undefined ? {} : { remoteExternal }),
      credentialReference,
      ledger: { createRun: async (record: (typeof created)[number]) => void created.push(record) },
      log: { info: () => undefined, warn: () => undefined },
      now: () => new Date('2026-06-02T03:00:00Z'),
    } as unknown as RunDeps;
    const run = await validateInput({ input: { runId: 'calls-2026-05-dry', source: { url: 'https://es7.internal:9200', index: 'calls-2026-05' }, target: { index: 'calls-2026-05' } } }, deps);
    return { run, remote: created[0]!.config.canonicalRequest.body.source.remote };
  }

  it('records the canonical request with external: true when the deployment sets REMOTE_EXTERNAL (deps.remoteExternal)', async () => {
    const { remote } = await validatedRequest(true);

    expect(remote).toEqual({ host: 'https://es7.internal:9200', external: true });
  });

  it('records it without external locally (deps without remoteExternal)', async () => {
    const { remote } = await validatedRequest(undefined);

    expect(remote).toEqual({ host: 'https://es7.internal:9200' });
  });
});
