import { inject } from 'vitest';
import { defaultVersion } from '../../local/clusters/distributions';

export interface ServerRef {
  readonly url: string;
  readonly version: string;
}

export interface LocalServers {
  /** Elasticsearch 7.10.2. */
  readonly source: ServerRef;
  /** One OpenSearch node per supported version. */
  readonly targets: readonly ServerRef[];
  readonly ledgerEndpoint: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    localServers: LocalServers;
  }
}

export function localServers(): LocalServers {
  return inject('localServers');
}

/** The OpenSearch target the pipeline runs against: SAFE_REINDEX_OPENSEARCH_VERSION, else 3.5.0. */
export function defaultTarget(): ServerRef {
  const version = defaultVersion('opensearch');
  const target = localServers().targets.find((t) => t.version === version);
  if (!target) throw new Error(`no local OpenSearch ${version} was started`);
  return target;
}

let counter = 0;
/** An index name no other test uses: lower case, unique per file and call. */
export function uniqueIndex(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`.toLowerCase();
}
