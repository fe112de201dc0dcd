/** The real servers the project runs locally, as Maven Central delivers them through the codelibs runners. */

export type Distribution = 'elasticsearch' | 'opensearch';

export interface ServerSpec {
  readonly distribution: Distribution;
  /** The server's own version number, as `GET /` reports it. */
  readonly version: string;
  /** Folder under `local/clusters/maven/` holding the pom that resolves this server's runner alone. */
  readonly pomDir: string;
  /** Single-file Java source under `local/clusters/launcher/` (compiled into the cache before the first start). */
  readonly launcher: string;
  /** Java feature releases this server starts on, inclusive. */
  readonly java: { readonly min: number; readonly max: number };
  /** Node setting that lets this server read from a remote cluster. */
  readonly remoteAllowSetting: string;
  /** What to tell a user whose machine has no suitable JDK. */
  readonly jdkAdvice: string;
}

export const SERVERS: readonly ServerSpec[] = [
  {
    distribution: 'elasticsearch',
    version: '7.10.2',
    pomDir: 'elasticsearch-7.10.2',
    launcher: 'ElasticsearchLauncher.java',
    java: { min: 11, max: 17 },
    remoteAllowSetting: 'reindex.remote.whitelist',
    jdkAdvice: 'Install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one.',
  },
  {
    distribution: 'opensearch',
    version: '3.5.0',
    pomDir: 'opensearch-3.5.0',
    launcher: 'OpenSearchLauncher.java',
    java: { min: 21, max: 25 },
    remoteAllowSetting: 'reindex.remote.allowlist',
    jdkAdvice:
      'Install a JDK 21 or newer (or point JAVA_HOME at one), or run the OpenSearch 2.19.1 target on JDK 17 with SAFE_REINDEX_OPENSEARCH_VERSION=2.19.1.',
  },
  {
    distribution: 'opensearch',
    version: '2.19.1',
    pomDir: 'opensearch-2.19.1',
    launcher: 'OpenSearchLauncher.java',
    java: { min: 11, max: 21 },
    remoteAllowSetting: 'reindex.remote.allowlist',
    jdkAdvice: 'Install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one.',
  },
];

export const DEFAULT_VERSIONS: Readonly<Record<Distribution, string>> = {
  elasticsearch: '7.10.2',
  opensearch: '3.5.0',
};

/** The OpenSearch version chosen by `SAFE_REINDEX_OPENSEARCH_VERSION`, else the default. */
export function defaultVersion(distribution: Distribution, env: NodeJS.ProcessEnv = process.env): string {
  if (distribution === 'opensearch' && env.SAFE_REINDEX_OPENSEARCH_VERSION) {
    return env.SAFE_REINDEX_OPENSEARCH_VERSION;
  }
  return DEFAULT_VERSIONS[distribution];
}

export function serverSpec(distribution: Distribution, version: string): ServerSpec {
  const spec = SERVERS.find((s) => s.distribution === distribution && s.version === version);
  if (!spec) {
    const known = SERVERS.filter((s) => s.distribution === distribution).map((s) => s.version);
    throw new Error(
      `No local ${distribution} server of version "${version}": choose one of ${known.join(', ')}` +
        (distribution === 'opensearch' ? ' (SAFE_REINDEX_OPENSEARCH_VERSION)' : ''),
    );
  }
  return spec;
}
