import { Client } from '@opensearch-project/opensearch';
import { startLocalCluster, type LocalCluster } from './clusters/cluster';
import { WORKED_EXAMPLE_1_1000, expectedCounters, seedWorkedExample, targetCopy } from './seed/worked-example';

/**
 * `npm start`: the worked example of DESIGN.md at 1/1000 scale on real local servers.
 *
 * Until the ReindexRun pipeline lands, this shows the version-aware remote reindex it is built around
 * (dest.version_type external, conflicts proceed) and checks its counters and the documents it must
 * not overwrite. Nothing outside this process's own temporary nodes is touched.
 */

const INDEX = 'calls-2026-05';
const say = (line: string) => process.stderr.write(`${line}\n`);

interface TaskStatus {
  total: number;
  created: number;
  updated: number;
  deleted: number;
  noops: number;
  version_conflicts: number;
  failures?: unknown[];
}

async function main(): Promise<number> {
  const clusters: LocalCluster[] = [];
  let cancel: (() => Promise<void>) | undefined;
  const stopAll = async () => {
    await cancel?.();
    await Promise.allSettled(clusters.map((c) => c.stop()));
  };
  process.once('SIGINT', () => {
    say('\nInterrupted: cancelling the reindex task and stopping the local servers...');
    void stopAll().then(() => process.exit(130));
  });

  try {
    say('Starting the real local servers (Elasticsearch 7.10.2 source, OpenSearch target) in JVMs; ~20 s...');
    const [es, os] = await Promise.all([
      startLocalCluster({ distribution: 'elasticsearch' }),
      startLocalCluster({ distribution: 'opensearch' }),
    ]);
    clusters.push(es, os);
    const source = new Client({ node: es.url });
    const target = new Client({ node: os.url });

    const expected = expectedCounters(WORKED_EXAMPLE_1_1000);
    say(`Seeding ${INDEX}: ${expected.total.toLocaleString('en-US')} source documents; dual-write copies on the target for the last days...`);
    const docs = await seedWorkedExample({ source, target, index: INDEX, shape: WORKED_EXAMPLE_1_1000 });

    const request = {
      conflicts: 'proceed' as const,
      source: { remote: { host: es.url }, index: INDEX, size: 1000 },
      dest: { index: INDEX, version_type: 'external' as const },
    };
    say('');
    say(`source   ${es.url}/${INDEX}  (Elasticsearch ${es.version})`);
    say(`target   ${os.url}/${INDEX}  (OpenSearch ${os.version})`);
    say(`mode     merge: dest.version_type=external, conflicts=proceed`);
    say('');
    const { body: launched } = await target.reindex({ wait_for_completion: false, body: request });
    const taskId = (launched as { task: string }).task;
    cancel = async () => {
      await target.tasks.cancel({ task_id: taskId }).catch(() => undefined);
    };

    let result: TaskStatus;
    for (;;) {
      const { body } = await target.tasks.get({ task_id: taskId });
      const task = body as { completed: boolean; task: { status: TaskStatus }; response?: TaskStatus; error?: unknown };
      const s = task.response ?? task.task.status;
      say(
        `  ${new Date().toISOString().slice(11, 19)}  created ${s.created}  updated ${s.updated}  ` +
          `version_conflicts ${s.version_conflicts}  of ${s.total}`,
      );
      if (task.completed) {
        if (task.error) throw new Error(`the reindex task failed: ${JSON.stringify(task.error)}`);
        result = s;
        break;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    cancel = undefined;

    // The documents the target must keep: every target-newer copy, with its version and content.
    const newer = docs.filter((d) => d.kind === 'targetNewer');
    const { body: got } = await target.mget({ index: INDEX, body: { ids: newer.map((d) => d.id) } });
    const kept = (got as { docs: Array<{ _id: string; _version: number; _source: { writer: string } }> }).docs.filter(
      (d, i) => d._version === targetCopy(newer[i]!)!.version && d._source.writer === 'dual-write (newer)',
    ).length;

    const sum = result.created + result.updated + result.deleted + result.noops + result.version_conflicts;
    const fmt = (n: number) => n.toLocaleString('en-US').padStart(8);
    const table = [
      `total              ${fmt(result.total)}`,
      `created            ${fmt(result.created)}`,
      `updated            ${fmt(result.updated)}`,
      `version_conflicts  ${fmt(result.version_conflicts)}   (target copy equal or newer: kept)`,
      `failures           ${fmt(result.failures?.length ?? 0)}`,
      `${fmt(result.total)} = ${result.created.toLocaleString('en-US')} created + ${result.updated.toLocaleString('en-US')} updated + ` +
        `${result.version_conflicts.toLocaleString('en-US')} version_conflicts ${sum === result.total ? '(adds up)' : '(DOES NOT ADD UP)'}`,
      `target-newer documents kept with their version and content: ${kept} of ${newer.length}`,
    ];
    process.stdout.write(`\n${table.join('\n')}\n\n`);

    const ok =
      sum === result.total &&
      result.total === expected.total &&
      result.created === expected.created &&
      result.updated === expected.updated &&
      result.version_conflicts === expected.versionConflicts &&
      (result.failures?.length ?? 0) === 0 &&
      kept === newer.length;
    say(
      ok
        ? 'The backfill kept every newer target document and its counters reconcile.'
        : 'MISMATCH: the counters or the kept documents differ from the seed.',
    );
    say('Preview only: the full ReindexRun pipeline (dry run, rails, ledger, parity, receipts) is not built yet.');
    return ok ? 0 : 1;
  } finally {
    say('Stopping the local servers...');
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    say(`demo failed: ${err.message}`);
    process.exit(1);
  },
);
