import { startFaultProxy } from '../fault-proxy/fault-proxy';
import { MONTH } from '../seed/worked-example';
import { measureRun, sourceDelayMs, type ThroughputContext, type ThroughputFigure, type ThroughputRun } from './throughput';

/**
 * `batchSize: "auto"` against the default of 1,000 (`npm run bench -- batch-size`, and part of the whole
 * bench): one task each, the same source index of documents of a realistic size, every source request
 * through the fault proxy `SAFE_REINDEX_BENCH_SOURCE_DELAY_MS` late (150 ms, as figure 7c), so that the
 * remote scroll pays one round trip per batch as it does in production.
 *
 * - Documents: `SAFE_REINDEX_BENCH_BATCH_DOCS` (default 100,000), each a call record as the worked
 *   example's plus a `transcript` of about 3 KB of words (a call-centre index's typical size), dated over
 *   the 31 days of May 2026.
 * - Runs, in order: 1,000 per batch, auto, 1,000 again (the noise check; the faster of the two is the
 *   reference, so noise never flatters auto). Each: dry run + live run into a new empty target index.
 * - Timer and docs/s as figure 7 (first launch state to ReconcileRun).
 */

export const BATCH_DOCS_ENV = 'SAFE_REINDEX_BENCH_BATCH_DOCS';
export const DEFAULT_BATCH_DOCS = 100_000;
const GOAL_RATIO = 3;
const TRANSCRIPT_BYTES = 3_000;

const WORDS = ['caller', 'agent', 'account', 'billing', 'transfer', 'refund', 'order', 'delivery', 'address', 'confirmed', 'escalate', 'ticket', 'thanks', 'issue', 'resolved', 'pending'];

/** About `bytes` of words, different per document (a linear congruential walk over the word list). */
function transcript(seed: number, bytes: number): string {
  const words: string[] = [];
  let length = 0;
  let x = seed + 1;
  while (length < bytes) {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    const word = WORDS[x % WORDS.length]!;
    words.push(word);
    length += word.length + 1;
  }
  return words.join(' ');
}

function batchDocs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[BATCH_DOCS_ENV];
  if (raw === undefined || raw === '') return DEFAULT_BATCH_DOCS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1_000) throw new Error(`${BATCH_DOCS_ENV}: a whole number of at least 1,000, got ${JSON.stringify(raw)}`);
  return value;
}

async function seedRealisticIndex(ctx: ThroughputContext, docs: number): Promise<string> {
  const index = `bench-bs-source-${docs}`;
  const existing = await ctx.source.count({ index }).then(
    ({ body }) => (body as { count: number }).count,
    () => undefined,
  );
  if (existing === docs) return index;
  await ctx.source.indices.delete({ index, ignore_unavailable: true });
  await ctx.source.indices.create({
    index,
    body: {
      settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '-1' },
      mappings: { properties: { timestamp: { type: 'date' }, caller: { type: 'keyword' }, transcript: { type: 'text' } } },
    },
  });
  ctx.say(`    seeding ${index} (${docs.toLocaleString('en-US')} docs of ~${(TRANSCRIPT_BYTES / 1000).toFixed(0)} KB over the 31 days of May 2026, source only)...`);
  const started = performance.now();
  const span = MONTH.days * 86_400_000;
  const first = Date.UTC(MONTH.year, MONTH.month - 1, 1);
  for (let start = 0; start < docs; start += 2_000) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(docs, start + 2_000); i++) {
      lines.push(JSON.stringify({ index: { _id: `call-${String(i).padStart(7, '0')}` } }));
      lines.push(JSON.stringify({ timestamp: new Date(first + Math.floor((i * span) / docs)).toISOString(), caller: `+1555${String(i % 10_000_000).padStart(7, '0')}`, transcript: transcript(i, TRANSCRIPT_BYTES) }));
    }
    const { body } = await ctx.source.transport.request({ method: 'POST', path: `/${index}/_bulk`, body: `${lines.join('\n')}\n`, querystring: {} }, { headers: { 'content-type': 'application/x-ndjson' } });
    if ((body as { errors: boolean }).errors) throw new Error(`seeding ${index}: the bulk reported errors`);
  }
  await ctx.source.indices.putSettings({ index, body: { index: { refresh_interval: '1s' } } });
  await ctx.source.indices.refresh({ index });
  ctx.say(`    seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return index;
}

const n = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '?');

export async function figureBatchSize(ctx: ThroughputContext, fig: string): Promise<ThroughputFigure & { readonly autoSpeedup: number }> {
  const docs = batchDocs();
  const delay = sourceDelayMs();
  ctx.say(`\n[batch size, source ${delay} ms away] ${n(docs)} docs of ~3 KB: one task at 1,000 per batch, one at "auto", 1,000 again`);
  const sourceIndex = await seedRealisticIndex(ctx, docs);
  const proxy = await startFaultProxy({ target: ctx.es.url });
  const runs: ThroughputRun[] = [];
  try {
    proxy.inject({ path: '*', action: { kind: 'delay', ms: delay } });
    const via = { url: proxy.url, requestCount: () => proxy.requests().length };
    for (const [label, size] of [['bs-1000-a', 1000], ['bs-auto', 'auto'], ['bs-1000-b', 1000]] as const) {
      ctx.say(`    ${label}...`);
      runs.push(await measureRun(ctx, sourceIndex, docs, label, 1, via, size));
    }
  } finally {
    await proxy.stop();
  }
  const [a, auto, b] = runs as [ThroughputRun, ThroughputRun, ThroughputRun];
  const reference = a.docsPerSecond >= b.docsPerSecond ? a : b;
  const ratio = auto.docsPerSecond / reference.docsPerSecond;
  const perBatchMs = (r: ThroughputRun) => (1000 * r.taskSecondsSum) / (docs / r.batchSize);
  const { body: stats } = await ctx.source.indices.stats({ index: sourceIndex, metric: ['docs', 'store'] });
  const store = (stats as { _all: { primaries: { store: { size_in_bytes: number } } } })._all.primaries.store.size_in_bytes;

  const lines: string[] = [];
  lines.push(`## ${fig}. Batch size "auto" vs 1,000 — one task, source ${delay} ms away (fault proxy), ${n(docs)} documents of ~3 KB`);
  lines.push(
    `source ${sourceIndex}: call records with a ~${TRANSCRIPT_BYTES.toLocaleString('en-US')}-byte transcript (${(store / docs / 1024).toFixed(1)} KiB per document on the source's disk, compressed); ` +
      `each run: dry run + live run into a new empty target index; timer as figure 7`,
  );
  lines.push('  run        batch    docs/s   timer s   src req   ms per batch');
  for (const r of runs) {
    lines.push(
      `  ${r.label.padEnd(10)} ${n(r.batchSize).padStart(6)} ${n(r.docsPerSecond).padStart(9)} ${r.reindexSeconds.toFixed(1).padStart(9)} ${n(r.sourceRequests).padStart(9)} ${perBatchMs(r).toFixed(0).padStart(14)}`,
    );
  }
  if (auto.created !== docs || a.created !== docs || b.created !== docs) lines.push(`COUNT MISMATCH: created ${runs.map((r) => n(r.created)).join(' / ')} of ${n(docs)}`);
  lines.push(`reference: the faster 1,000 run (${n(reference.docsPerSecond)} docs/s); the two are ${((100 * Math.abs(a.docsPerSecond - b.docsPerSecond)) / reference.docsPerSecond).toFixed(1)}% apart (noise)`);
  lines.push(
    `${ratio >= GOAL_RATIO ? 'goal met' : 'goal not met'}: "auto" (${n(auto.batchSize)} per batch) writes ${ratio.toFixed(2)}x the 1,000-per-batch task (goal ${GOAL_RATIO}x); ` +
      `machine CPU ${Math.round(auto.cpu.machine)}% vs ${Math.round(reference.cpu.machine)}% of ${200}%`,
  );
  // Per batch: one round trip (the delay) plus local work (scroll on ES, bulk into the target) that grows with the batch.
  const localUsPerDoc = (r: ThroughputRun) => (1000 * (perBatchMs(r) - delay)) / r.batchSize;
  const ceiling = (1000 * delay + 1000 * localUsPerDoc(reference)) / (1000 * localUsPerDoc(auto));
  lines.push(
    `  per batch: ${delay} ms of round trip + local work of ${localUsPerDoc(reference).toFixed(0)} µs per document at 1,000, ${localUsPerDoc(auto).toFixed(0)} µs at ${n(auto.batchSize)}; ` +
      `at that local rate no batch size can do better than ${ceiling.toFixed(2)}x here (the round trip is ${((100 * delay) / perBatchMs(reference)).toFixed(0)}% of a 1,000-batch): ` +
      `the closer a task is to latency bound, the more a larger batch gives`,
  );
  lines.push('');
  return {
    autoSpeedup: ratio,
    lines,
    rows: [
      {
        figure: `${fig}. single task, batchSize "auto" vs 1,000, ~3 KB documents, source ${delay} ms away`,
        value: `${ratio.toFixed(2)}x (${n(auto.docsPerSecond)} vs ${n(reference.docsPerSecond)} docs/s, auto = ${n(auto.batchSize)})`,
        goal: `>= ${GOAL_RATIO}x`,
        met: ratio >= GOAL_RATIO,
      },
    ],
  };
}
