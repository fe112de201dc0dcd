import { Client } from '@opensearch-project/opensearch';
import { startLocalCluster, type LocalCluster } from './clusters/cluster';
import { terminalLog } from './cli/safe-reindex';
import { ensureCloudAssembly } from './lambda/cloud-assembly';
import { startLocalLedger, type LocalLedger } from './ledger/ledger';
import { localLedger, runLocal } from './pipeline';
import { countersTable, parityLines, summarise, writeReceipts } from './receipts';
import { WORKED_EXAMPLE_1_1000, countersAsSeeded, expectedCounters, seedWorkedExample } from './seed/worked-example';

/**
 * `npm start`: the worked example of docs/design.md at 1/1000 scale, through the real ReindexRun state
 * machine as deployed (the synthesised ASL, each state's bundled Lambda asset), on real local servers:
 * Elasticsearch 7.10.2 source, OpenSearch target, dynalite ledger.
 * A dry run first (header, approval, nothing launched), then the live run.
 */

const INDEX = 'calls-2026-05';
const say = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  console.log = (...args: unknown[]) => console.error(...args);
  const servers: Array<LocalCluster | LocalLedger> = [];
  const controller = new AbortController();
  process.once('SIGINT', () => {
    note('\nInterrupted: the run cancels its reindex task, releases its lock and records ABORTED...');
    controller.abort();
  });
  try {
    note('Starting the real local servers in JVMs: Elasticsearch 7.10.2 (source), OpenSearch (target), and the dynalite ledger (~20 s)...');
    const synthStarted = Date.now();
    const [es, os, ledger] = await Promise.all([
      startLocalCluster({ distribution: 'elasticsearch' }),
      startLocalCluster({ distribution: 'opensearch' }),
      startLocalLedger(),
      ensureCloudAssembly({
        onSynth: (reason) => note(`Synthesising the stack with cdk (${reason}): the runs execute its bundled Lambda functions...`),
      }).then(() => note(`Cloud assembly ready (${((Date.now() - synthStarted) / 1000).toFixed(1)} s).`)),
    ]);
    servers.push(es, os, ledger);
    const expected = expectedCounters(WORKED_EXAMPLE_1_1000);
    note(`Seeding ${INDEX}: ${expected.total.toLocaleString('en-US')} source documents; dual-write copies on the target for the last days of May...`);
    await seedWorkedExample({ source: new Client({ node: es.url }), target: new Client({ node: os.url }), index: INDEX, shape: WORKED_EXAMPLE_1_1000 });

    const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15).toLowerCase();
    const input = {
      source: { url: es.url, index: INDEX },
      target: { index: INDEX },
      mode: 'merge',
      dateField: 'timestamp',
      batchSize: 1000,
    };
    const common = { targetUrl: os.url, ledgerEndpoint: ledger.endpoint, signal: controller.signal, log: terminalLog(say, note) };

    say(`\n== dry run (${os.distribution} ${os.version} target) ==`);
    const dry = await runLocal({ ...common, input: { ...input, runId: `${INDEX}-dry-${stamp}`, dryRun: true } });
    say(`dry run: ${dry.status}${dry.error ? ` ${dry.error}: ${dry.cause}` : ' (approval recorded; nothing launched)'}`);
    if (dry.status !== 'SUCCEEDED') return 1;

    say('\n== live run ==');
    const live = await runLocal({ ...common, input: { ...input, runId: `${INDEX}-live-${stamp}`, dryRun: false } });
    const runId = live.runId!;
    const summary = summarise(live.record, { runId, status: live.status, error: live.error, cause: live.cause });
    const polls = await (await localLedger(ledger.endpoint)).listPolls(runId);
    const receipts = writeReceipts('runs', summary, polls);
    say('');
    for (const line of countersTable(summary)) say(line);
    for (const line of parityLines(summary.parity)) say(line);
    say('');
    say(`${summary.status}${summary.error ? `: ${summary.error}: ${summary.cause}` : ''}`);
    say(`receipts: ${receipts.json}\n          ${receipts.markdown}\n          ${receipts.html}`);
    const asSeeded = countersAsSeeded(summary.counters, expected);
    if (live.status === 'SUCCEEDED' && !asSeeded) say('MISMATCH: the counters differ from what the seed implies.');
    return live.status === 'SUCCEEDED' && asSeeded ? 0 : 1;
  } finally {
    note('Stopping the local servers...');
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    note(`demo failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
