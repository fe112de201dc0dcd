import { Client, errors } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws';
import { ClusterUnreachableError, TransientClusterError } from '../runtime/errors';

/**
 * Search clients. The target is an Amazon OpenSearch Service domain signed with SigV4 on AWS, or a
 * plain URL locally; the source is reached by URL with basic auth from Secrets Manager (or the
 * local environment). Client-level retries are off: the state machine's Retry owns backoff, so a
 * step is retried whole and its effects stay idempotent.
 */

export interface SearchClientOptions {
  readonly url: string;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Sign requests with SigV4 for this region (Amazon OpenSearch Service). */
  readonly sigv4Region?: string;
  readonly requestTimeoutMs?: number;
}

export async function createSearchClient(options: SearchClientOptions): Promise<Client> {
  const common = {
    node: options.url,
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    ...(options.auth ? { auth: options.auth } : {}),
  };
  if (!options.sigv4Region) return new Client(common);
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const provider = fromNodeProviderChain();
  return new Client({
    ...AwsSigv4Signer({ region: options.sigv4Region, service: 'es', getCredentials: () => provider() }),
    ...common,
  });
}

/** Status of a server answer, or undefined when no answer came (refused, reset, timed out). */
export function statusOf(err: unknown): number | undefined {
  return err instanceof errors.ResponseError ? err.meta.statusCode ?? undefined : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** Maps a client failure to the errors the state machine knows: transient ones are retried. */
export function classifyClusterError(err: unknown, what: string): Error {
  if (err instanceof errors.ResponseError) {
    const status = err.meta.statusCode ?? 0;
    if (status === 429 || status >= 500) {
      return new TransientClusterError(`${what}: HTTP ${status} ${errorType(err)}`, { cause: err });
    }
    return err;
  }
  if (err instanceof errors.ConnectionError || err instanceof errors.TimeoutError || err instanceof errors.NoLivingConnectionsError) {
    return new TransientClusterError(`${what}: ${err.message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function errorType(err: errors.ResponseError): string {
  const body = err.meta.body as { error?: { type?: string; reason?: string } | string } | undefined;
  if (body && typeof body.error === 'object') return `${body.error.type ?? ''}: ${body.error.reason ?? ''}`;
  return typeof body?.error === 'string' ? body.error : '';
}

/** Runs one cluster call; transient failures become TransientClusterError, the rest are kept. */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyClusterError(err, what);
  }
}

/** The first contact with a cluster: no answer at all means the run cannot start. */
export async function reach(client: Client, label: string): Promise<{ distribution: string; version: string }> {
  try {
    const { body } = await client.info();
    const version = (body as { version: { number: string; distribution?: string } }).version;
    return { distribution: version.distribution ?? 'elasticsearch', version: version.number };
  } catch (err) {
    const classified = classifyClusterError(err, `${label}: GET /`);
    if (classified instanceof TransientClusterError && !(err instanceof errors.ResponseError)) {
      throw new ClusterUnreachableError(`${label} did not answer GET /: ${(err as Error).message}`, { cause: err });
    }
    throw classified;
  }
}
