import { Client, errors } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isWriteRequest, serverErrors, startFaultProxy, type FaultProxy } from '../../local/fault-proxy/fault-proxy';
import { clientFor } from '../support/client';
import { defaultTarget, localServers, uniqueIndex } from '../support/servers';

const servers = localServers();
let proxy: FaultProxy;
let viaProxy: Client;

beforeAll(async () => {
  proxy = await startFaultProxy({ target: servers.source.url });
  viaProxy = new Client({ node: proxy.url, maxRetries: 0, requestTimeout: 10_000 });
});
afterAll(async () => {
  await proxy.stop();
});
beforeEach(() => {
  proxy.clear();
  proxy.resetLog();
});

describe('fault proxy in front of the real Elasticsearch node', () => {
  it('forwards requests untouched and logs method, path and status', async () => {
    const { body } = await viaProxy.info();
    expect(body.version.number).toBe('7.10.2');
    expect(proxy.requests()).toEqual([expect.objectContaining({ method: 'GET', path: '/', status: 200 })]);
  });

  it('answers a 429 with the server error body for as many requests as asked, then lets them pass', async () => {
    const fault = proxy.inject({ method: 'GET', path: '/_cluster/health', action: serverErrors.rejected(), times: 2 });

    const outcomes: Array<number | string> = [];
    for (let i = 0; i < 3; i++) {
      try {
        const res = await viaProxy.cluster.health();
        outcomes.push(res.statusCode ?? 0);
      } catch (err) {
        const e = err as errors.ResponseError;
        outcomes.push(`${e.meta.statusCode} ${(e.meta.body as { error: { type: string } }).error.type}`);
      }
    }

    expect(outcomes).toEqual([
      '429 es_rejected_execution_exception',
      '429 es_rejected_execution_exception',
      200,
    ]);
    expect(fault.fired()).toBe(2);
    expect(proxy.requests().map((r) => [r.status, r.fault])).toEqual([
      [429, 'status'],
      [429, 'status'],
      [200, undefined],
    ]);
  });

  it('answers 503 with a cluster_block_exception body', async () => {
    proxy.inject({ path: '*/_count', action: serverErrors.unavailable(), times: 1 });
    const err = await viaProxy.count({ index: '_all' }).catch((e: errors.ResponseError) => e);
    expect(err).toBeInstanceOf(errors.ResponseError);
    expect((err as errors.ResponseError).meta.statusCode).toBe(503);
    expect((err as errors.ResponseError).message).toContain('cluster_block_exception');
  });

  it('resets the connection so the client sees a connection error, not an HTTP answer', async () => {
    proxy.inject({ path: '/', action: { kind: 'reset' }, times: 1 });
    const err = await viaProxy.info().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.ConnectionError);
    const { body } = await viaProxy.info();
    expect(body.version.number).toBe('7.10.2');
  });

  it('delays a request beyond the client timeout', async () => {
    proxy.inject({ path: '/', action: { kind: 'delay', ms: 1_500 }, times: 1 });
    const impatient = new Client({ node: proxy.url, maxRetries: 0, requestTimeout: 300 });
    const err = await impatient.info().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.TimeoutError);
  });

  it('fires a probabilistic rule only when the random draw falls under the probability', async () => {
    const draws = [0.9, 0.1, 0.6, 0.2];
    const seeded = await startFaultProxy({ target: servers.source.url, random: () => draws.shift()! });
    try {
      seeded.inject({ path: '/', action: serverErrors.badGateway(), probability: 0.5 });
      const client = new Client({ node: seeded.url, maxRetries: 0 });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(await client.info().then((r) => r.statusCode ?? 0, (e: errors.ResponseError) => e.meta.statusCode ?? 0));
      }
      expect(statuses).toEqual([200, 502, 200, 502]);
    } finally {
      await seeded.stop();
    }
  });

  it('tells write requests from reads in its log', async () => {
    const index = uniqueIndex('proxy-log');
    await viaProxy.index({ index, id: '1', body: { a: 1 }, refresh: true });
    await viaProxy.search({ index, body: { query: { match_all: {} } } });
    await viaProxy.count({ index });
    await viaProxy.mget({ index, body: { ids: ['1'] } });

    expect(proxy.writeRequests().map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([`PUT /${index}/_doc/1`]);
    expect(proxy.requests()).toHaveLength(4);
  });

  it('gates on request headers: answers 401 to requests without the expected credentials and forwards the rest', async () => {
    const expected = `Basic ${Buffer.from('reindexer:s3cret').toString('base64')}`;
    proxy.inject({ path: /.*/, headers: (h) => h.authorization !== expected, action: serverErrors.unauthorized('/') });

    const anonymous = await viaProxy.info().catch((err: errors.ResponseError) => err.meta);
    expect(anonymous.statusCode).toBe(401);
    expect((anonymous.body as { error: { type: string } }).error.type).toBe('security_exception');
    const withCredentials = new Client({ node: proxy.url, auth: { username: 'reindexer', password: 's3cret' }, maxRetries: 0 });
    expect((await withCredentials.info()).body.version.number).toBe('7.10.2');
    await withCredentials.close();
  });
});

describe('fault proxy between an OpenSearch target and the source it reindexes from', () => {
  it('sees the remote reindex scroll reads, writes nothing to the source, and a 429 on the scroll is retried by the server', async () => {
    // Prepare
    const index = uniqueIndex('proxy-remote');
    const source = clientFor(servers.source.url);
    const docs = Array.from({ length: 30 }, (_, i) => [{ index: { _index: index, _id: String(i) } }, { n: i }]).flat();
    await source.bulk({ body: docs, refresh: true });
    const target = clientFor(defaultTarget().url);
    proxy.inject({ method: 'POST', path: '/_search/scroll', action: serverErrors.rejected(), times: 1 });

    // Act
    const { body } = await target.reindex({
      refresh: true,
      body: {
        source: { remote: { host: `http://127.0.0.1:${new URL(proxy.url).port}` }, index, size: 10 },
        dest: { index, version_type: 'external' },
        conflicts: 'proceed',
      },
    });

    // Assess
    expect(body).toMatchObject({ total: 30, created: 30, failures: [], retries: { search: 1 } });
    const paths = proxy.requests().map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`);
    expect(paths[0]).toBe('GET / 200');
    expect(paths).toContain(`POST /${index}/_search 200`);
    expect(paths).toContain('POST /_search/scroll 429');
    expect(paths.at(-1)).toBe('DELETE /_search/scroll 200');
    expect(proxy.writeRequests()).toEqual([]);
  });
});

describe('isWriteRequest', () => {
  it.each([
    ['GET', '/idx/_doc/1', false],
    ['HEAD', '/idx', false],
    ['POST', '/idx/_search?scroll=5m', false],
    ['POST', '/_search/scroll', false],
    ['DELETE', '/_search/scroll', false],
    ['POST', '/idx/_count', false],
    ['POST', '/_mget', false],
    ['PUT', '/idx/_doc/1', true],
    ['POST', '/idx/_doc', true],
    ['POST', '/_bulk', true],
    ['POST', '/_reindex?wait_for_completion=false', true],
    ['POST', '/_tasks/n:1/_cancel', true],
    ['DELETE', '/idx', true],
    ['POST', '/idx/_refresh', true],
  ] as const)('%s %s is a write: %s', (method, path, expected) => {
    expect(isWriteRequest(method, path)).toBe(expected);
  });
});
