import type { TestProject } from 'vitest/node';
import { startLocalCluster, type LocalCluster } from '../../local/clusters/cluster';
import { SERVERS } from '../../local/clusters/distributions';
import { ensureCloudAssembly } from '../../local/lambda/cloud-assembly';
import { startLocalLedger, type LocalLedger } from '../../local/ledger/ledger';
import type { LocalServers } from '../support/servers';

/**
 * Starts the real servers once per `npm test`: Elasticsearch 7.10.2 (the source), every supported
 * OpenSearch version (contract tests pin each), and the dynalite ledger; and synthesises the cloud
 * assembly (the bundles every local run executes) once, unless cdk.out is current. Test files share
 * them and create uniquely named indices and tables.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: Array<LocalCluster | LocalLedger> = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
  try {
    const targetVersions = SERVERS.filter((s) => s.distribution === 'opensearch').map((s) => s.version);
    const [, source, ledger, ...targets] = await Promise.all([
      ensureCloudAssembly(),
      startLocalCluster({ distribution: 'elasticsearch' }).then(track),
      startLocalLedger().then(track),
      ...targetVersions.map((version) => startLocalCluster({ distribution: 'opensearch', version }).then(track)),
    ]);
    const servers: LocalServers = {
      source: { url: (source as LocalCluster).url, version: (source as LocalCluster).version },
      targets: (targets as LocalCluster[]).map((t) => ({ url: t.url, version: t.version })),
      ledgerEndpoint: (ledger as LocalLedger).endpoint,
    };
    project.provide('localServers', servers);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;

  function track<T extends LocalCluster | LocalLedger>(server: T): T {
    started.push(server);
    return server;
  }
}
