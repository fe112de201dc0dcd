import { Client } from '@opensearch-project/opensearch';

/**
 * The worked example of docs/design.md at a chosen scale: one monthly index on the source, and a target
 * that dual-write has been filling for the last days of the month, so it already holds documents
 * at equal, older and newer versions than the source.
 */
export interface WorkedExampleShape {
  /** Source documents missing on the target: the backfill creates them. */
  readonly missing: number;
  /** Target copies older than the source (a dual-write that failed on the target): updated. */
  readonly targetOlder: number;
  /** Target copies at the source's version (dual-write worked): version conflicts, untouched. */
  readonly equal: number;
  /** Target copies newer than the source (written after the source copy): version conflicts, kept. */
  readonly targetNewer: number;
}

/** 1/1000 of the worked example: 84,987 = 70,799 created + 635 updated + 13,553 version_conflicts. */
export const WORKED_EXAMPLE_1_1000: WorkedExampleShape = { missing: 70_799, targetOlder: 635, equal: 13_053, targetNewer: 500 };

export interface ExpectedCounters {
  readonly total: number;
  readonly created: number;
  readonly updated: number;
  readonly versionConflicts: number;
}

export function expectedCounters(shape: WorkedExampleShape): ExpectedCounters {
  const versionConflicts = shape.equal + shape.targetNewer;
  return {
    total: shape.missing + shape.targetOlder + versionConflicts,
    created: shape.missing,
    updated: shape.targetOlder,
    versionConflicts,
  };
}

/** Whether a run's counters are what the seed implies (created, updated, version conflicts, total). */
export function countersAsSeeded(counters: Partial<ExpectedCounters> | null | undefined, expected: ExpectedCounters): boolean {
  return (
    counters !== null &&
    counters !== undefined &&
    counters.total === expected.total &&
    counters.created === expected.created &&
    counters.updated === expected.updated &&
    counters.versionConflicts === expected.versionConflicts
  );
}

export const MONTH = { year: 2026, month: 5, days: 31 };
/** Dual-write was switched on at the start of this UTC day of the month. */
export const DUAL_WRITE_FROM_DAY = 27;
const BASE_VERSION = 1_000;

export type DocKind = 'missing' | 'targetOlder' | 'equal' | 'targetNewer';

export interface SeedDoc {
  readonly id: string;
  readonly kind: DocKind;
  readonly timestamp: string;
  readonly sourceVersion: number;
}

/**
 * The documents, deterministic: the backfill-only ones spread over the days before dual-write, the
 * overlapping ones over the dual-write days, in timestamp order (so the source indexes them in time order).
 */
export function seedDocs(shape: WorkedExampleShape): SeedDoc[] {
  const overlapKinds: DocKind[] = [];
  const overlapTotal = shape.targetOlder + shape.equal + shape.targetNewer;
  // Interleave the overlap kinds so that every dual-write day holds some of each: each step takes the
  // kind furthest behind its share, which ends with exactly the counts asked for.
  const counts: Array<[DocKind, number]> = [
    ['targetOlder', shape.targetOlder],
    ['targetNewer', shape.targetNewer],
    ['equal', shape.equal],
  ];
  const assigned = counts.map(() => 0);
  for (let i = 0; i < overlapTotal; i++) {
    let pick = 0;
    let bestDeficit = -Infinity;
    counts.forEach(([, count], k) => {
      const deficit = ((i + 1) * count) / overlapTotal - assigned[k]!;
      if (deficit > bestDeficit) {
        bestDeficit = deficit;
        pick = k;
      }
    });
    assigned[pick]! += 1;
    overlapKinds.push(counts[pick]![0]);
  }
  const docs: SeedDoc[] = [];
  const spread = (count: number, fromDay: number, toDay: number, kindAt: (i: number) => DocKind) => {
    const start = Date.UTC(MONTH.year, MONTH.month - 1, fromDay);
    const span = Date.UTC(MONTH.year, MONTH.month - 1, toDay + 1) - start;
    for (let i = 0; i < count; i++) {
      const n = docs.length + 1;
      docs.push({
        id: `call-${String(n).padStart(7, '0')}`,
        kind: kindAt(i),
        timestamp: new Date(start + Math.floor((i * span) / count)).toISOString(),
        sourceVersion: BASE_VERSION + (n % 7),
      });
    }
  };
  spread(shape.missing, 1, DUAL_WRITE_FROM_DAY - 1, () => 'missing');
  spread(overlapTotal, DUAL_WRITE_FROM_DAY, MONTH.days, (i) => overlapKinds[i]!);
  return docs;
}

/** Target copy of an overlapping document: its version and a marker of which write produced it. */
export function targetCopy(doc: SeedDoc): { version: number; writer: string } | undefined {
  switch (doc.kind) {
    case 'missing':
      return undefined;
    case 'targetOlder':
      return { version: doc.sourceVersion - 1, writer: 'dual-write (older)' };
    case 'equal':
      return { version: doc.sourceVersion, writer: 'dual-write' };
    case 'targetNewer':
      return { version: doc.sourceVersion + 3, writer: 'dual-write (newer)' };
  }
}

const MAPPINGS = {
  properties: {
    timestamp: { type: 'date' },
    caller: { type: 'keyword' },
    duration: { type: 'integer' },
    writer: { type: 'keyword' },
  },
} as const;

/** The worked example's split (docs/design.md) scaled to about `total` documents. */
export function scaledShape(total: number): WorkedExampleShape {
  const full = { missing: 70_798_760, targetOlder: 634_962, equal: 13_053_083, targetNewer: 500_000 };
  const sum = full.missing + full.targetOlder + full.equal + full.targetNewer;
  const targetOlder = Math.round((full.targetOlder * total) / sum);
  const equal = Math.round((full.equal * total) / sum);
  const targetNewer = Math.round((full.targetNewer * total) / sum);
  return { missing: total - targetOlder - equal - targetNewer, targetOlder, equal, targetNewer };
}

const CHUNK = 10_000;
const IN_FLIGHT = 2;

/**
 * Recreates `index` on the source (and the target, when given) and fills them with the shape's
 * documents at their external versions: 10k-document bulks, two in flight, refresh off until the end,
 * both clusters at once. Without a target, the target index is left alone (an empty target).
 */
export async function seedWorkedExample(options: {
  source: Client;
  target?: Client;
  index: string;
  shape: WorkedExampleShape;
  progress?: (line: string) => void;
}): Promise<SeedDoc[]> {
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
  return docs;
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
