import { createHash } from 'node:crypto';
import type { ParityMode, RunConfig, TargetContext } from '../runtime/config';

/**
 * The canonical request: the exact `_reindex` call a config implies, with the source credentials as
 * references. Its hash is what the dry run approves, what the launch tags the task with
 * (`X-Opaque-Id`), and, with the target endpoint, the run's fingerprint.
 */
export interface CanonicalRequest {
  readonly method: 'POST';
  readonly path: '/_reindex';
  readonly params: { readonly wait_for_completion: false; readonly requests_per_second?: number };
  readonly body: ReindexBody;
}

export interface ReindexBody {
  readonly conflicts?: 'proceed';
  readonly source: {
    readonly remote: { readonly host: string; readonly username?: string; readonly password?: string; readonly external?: true };
    readonly index: string;
    /** `"auto"` only in the request a run is started with: the dry run resolves it, and only a number is ever sent. */
    readonly size: number | 'auto';
    readonly query?: Record<string, unknown>;
  };
  readonly dest: { readonly index: string; readonly version_type?: 'external'; readonly op_type?: 'create' };
}

/** Where the launch step reads the source credentials from; only these references are ever stored. */
export interface CredentialReference {
  readonly username: string;
  readonly password: string;
}

export function credentialReference(config: RunConfig): CredentialReference | undefined {
  if (config.source.credentialsSecret) {
    return {
      username: `{{secret:${config.source.credentialsSecret}:username}}`,
      password: `{{secret:${config.source.credentialsSecret}:password}}`,
    };
  }
  return undefined;
}

/** The local runner's references: the environment variables docs/design.md names. */
export const LOCAL_ENV_CREDENTIALS: CredentialReference = {
  username: '{{env:SAFE_REINDEX_SOURCE_USERNAME}}',
  password: '{{env:SAFE_REINDEX_SOURCE_PASSWORD}}',
};

/** How the target runs remote reindex. */
export interface ReindexTargetOptions {
  /**
   * Amazon OpenSearch Service reindexing from a source that is not an OpenSearch Service domain (a
   * self-managed Elasticsearch 7.10): `source.remote.external: true`. Part of the request, so of its hash.
   */
  readonly remoteExternal?: boolean;
}

export function buildCanonicalRequest(
  config: RunConfig,
  credentials?: CredentialReference,
  options: ReindexTargetOptions = {},
): CanonicalRequest {
  const dest =
    config.mode === 'merge'
      ? { index: config.target.index, version_type: 'external' as const }
      : config.mode === 'create-only'
        ? { index: config.target.index, op_type: 'create' as const }
        : { index: config.target.index };
  return {
    method: 'POST',
    path: '/_reindex',
    params: {
      wait_for_completion: false,
      ...(config.requestsPerSecond === null ? {} : { requests_per_second: config.requestsPerSecond }),
    },
    body: {
      // overwrite keeps the server default (abort): it only ever runs on an empty target.
      ...(config.mode === 'overwrite' ? {} : { conflicts: 'proceed' as const }),
      source: {
        remote: {
          host: config.source.url.replace(/\/+$/, ''),
          ...(credentials ?? {}),
          ...(options.remoteExternal ? { external: true as const } : {}),
        },
        index: config.source.index,
        size: config.batchSize,
        ...(config.source.query === null ? {} : { query: config.source.query }),
      },
      dest,
    },
  };
}

/** The request with the batch size the dry run resolved for `"auto"`. */
export function withBatchSize(request: CanonicalRequest, size: number): CanonicalRequest {
  return { ...request, body: { ...request.body, source: { ...request.body.source, size } } };
}

/** JSON with object keys sorted at every depth: the same request always gives the same bytes. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function requestHash(request: Pick<CanonicalRequest, 'method' | 'path' | 'params' | 'body'>): string {
  return sha256(stableJson({ method: request.method, path: request.path, params: request.params, body: request.body }));
}

export function normaliseEndpoint(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.protocol}//${url.host.toLowerCase()}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Hash of the canonical request plus the target endpoint, and the parity mode when it is `sample` (full
 * verification, the default, adds nothing: approvals recorded before the mode existed stay valid, and a
 * dry run approves the mode its live run checks with). Run id and dryRun are not part of it.
 */
export function fingerprint(request: CanonicalRequest, target: TargetContext, parityMode: ParityMode = 'full'): string {
  return fingerprintOf(target, requestHash(request), parityMode);
}

/** {@link fingerprint} from a request hash already computed (a partitioned run's covers its plan too). */
export function fingerprintOf(target: TargetContext, hash: string, parityMode: ParityMode = 'full'): string {
  return sha256(stableJson({ target: normaliseEndpoint(target.endpoint), request: hash, ...(parityMode === 'sample' ? { parity: 'sample' } : {}) }));
}

/**
 * The request hash of what is actually sent: parse the bytes, put the credential references back in
 * place of the secrets, hash. Computed where the bytes are sent, so a faulty builder cannot hide.
 */
export function hashOfSentRequest(
  sent: { method: string; path: string; params: Record<string, unknown>; bodyBytes: string },
  credentials: CredentialReference | undefined,
): string {
  const body = JSON.parse(sent.bodyBytes) as { source?: { remote?: Record<string, unknown> } };
  const remote = body.source?.remote;
  if (remote && credentials) {
    if ('username' in remote) remote.username = credentials.username;
    if ('password' in remote) remote.password = credentials.password;
  }
  return sha256(stableJson({ method: sent.method, path: sent.path, params: sent.params, body }));
}

/** `X-Opaque-Id` of a launched task: `<run id>/<request hash>`. */
export function opaqueId(runId: string, hash: string): string {
  return `${runId}/${hash}`;
}

export function parseOpaqueId(value: string | undefined): { runId: string; hash: string } | undefined {
  const match = value ? /^([a-z0-9][a-z0-9._-]{0,79})\/([0-9a-f]{64})$/.exec(value) : null;
  return match ? { runId: match[1]!, hash: match[2]! } : undefined;
}
