import type { Client } from '@opensearch-project/opensearch';
import { seedDocs, targetCopy, type SeedDoc, type WorkedExampleShape } from '../seed/worked-example';

/**
 * A faster bulk seeder for the benchmark's large indices: the documents of `seedDocs` (the worked
 * example's shape at any scale, same ids, timestamps and versions), written in 10k-document bulks, two
 * in flight, with `refresh_interval: -1` until the end. Source and target are filled at the same time.
 */

const MAPPINGS = {
  properties: {
    timestamp: { type: 'date' },
    caller: { type: 'keyword' },
    duration: { type: 'integer' },
    writer: { type: 'keyword' },
  },
} as const;

const CHUNK = 10_000;
const IN_FLIGHT = 2;

/** The worked example's split scaled to about `total` documents. */
export function scaledShape(total: number): WorkedExampleShape {
  const full = { missing: 70_798_760, targetOlder: 634_962, equal: 13_053_083, targetNewer: 500_000 };
  const sum = full.missing + full.targetOlder + full.equal + full.targetNewer;
  const targetOlder = Math.round((full.targetOlder * total) / sum);
  const equal = Math.round((full.equal * total) / sum);
  const targetNewer = Math.round((full.targetNewer * total) / sum);
  return { missing: total - targetOlder - equal - targetNewer, targetOlder, equal, targetNewer };
}

export async function seedBulk(options: {
  source: Client;
  /** Where the dual-write copies go; none when omitted (an empty target). */
  target?: Client;
  index: string;
  shape: WorkedExampleShape;
  progress?: (line: string) => void;
}): Promise<{ sourceDocs: number; targetDocs: number }> {
  const { source, target, index, shape } = options;
  const docs = seedDocs(shape);
  const clients = target ? [source, target] : [source];
  for (const client of clients) {
    await client.indices.delete({ index, ignore_unavailable: true });
    await client.indices.create({
      index,
      body: { settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '-1' }, mappings: MAPPINGS },
    });
  }
  const body = (doc: SeedDoc, writer: string) => ({
    timestamp: doc.timestamp,
    caller: `+1555${doc.id.slice(-7)}`,
    duration: (Number(doc.id.slice(-7)) * 37) % 3600,
    writer,
  });
  const targetDocs = target
    ? docs.flatMap((d) => {
        const copy = targetCopy(d);
        return copy ? [{ id: d.id, version: copy.version, body: body(d, copy.writer) }] : [];
      })
    : [];
  await Promise.all([
    bulkIndex(source, index, docs.length, (i) => ({ id: docs[i]!.id, version: docs[i]!.sourceVersion, body: body(docs[i]!, 'source') }), options.progress),
    target ? bulkIndex(target, index, targetDocs.length, (i) => targetDocs[i]!) : Promise.resolve(),
  ]);
  for (const client of clients) {
    await client.indices.putSettings({ index, body: { index: { refresh_interval: '1s' } } });
    await client.indices.refresh({ index });
  }
  return { sourceDocs: docs.length, targetDocs: targetDocs.length };
}

async function bulkIndex(
  client: Client,
  index: string,
  count: number,
  docAt: (i: number) => { id: string; version: number; body: Record<string, unknown> },
  progress?: (line: string) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const from = next;
      if (from >= count) return;
      const to = Math.min(count, from + CHUNK);
      next = to;
      const lines: Array<Record<string, unknown>> = [];
      for (let i = from; i < to; i++) {
        const d = docAt(i);
        lines.push({ index: { _index: index, _id: d.id, version: d.version, version_type: 'external' } }, d.body);
      }
      const { body } = await client.bulk({ body: lines }, { requestTimeout: 300_000 });
      if ((body as { errors: boolean }).errors) {
        const first = (body as { items: Array<{ index: { error?: unknown } }> }).items.find((it) => it.index.error);
        throw new Error(`seeding ${index} failed: ${JSON.stringify(first?.index.error)}`);
      }
      done += to - from;
      if (progress && done % 100_000 < CHUNK) progress(`  seeded ${done.toLocaleString('en-US')} / ${count.toLocaleString('en-US')}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}
