import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@opensearch-project/opensearch';
import { checkParity } from '../../lambdas/check-parity/check-parity';
import { DEFAULT_VERIFY_INVOCATION_SECONDS, VERIFY_PAGE_SIZE } from '../../lambdas/shared/checks/verify-ranges';
import { validateInput } from '../../lambdas/validate-input/validate-input';
import { buildCanonicalRequest } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { fileDifferences } from '../../lambdas/shared/checks/differences';
import type { RunDeps } from '../../lambdas/shared/runtime/run-context';
import { DEFAULT_RANGE_DOCS } from '../../lambdas/shared/checks/verification';
import type { LocalCluster } from '../clusters/cluster';
import { startFaultProxy } from '../fault-proxy/fault-proxy';
import { collectingMetrics, localLedger, runLocal, type LocalRunResult } from '../pipeline';
import { scaledShape, seedWorkedExample } from '../seed/worked-example';
import { fullGc, HeapSampler } from './heap';
import { ensureCloudAssembly } from '../lambda/cloud-assembly';
import { MODELLED_VERIFY_DOCS_PER_SECOND } from './modelled-verification';
import { sourceDelayMs } from './throughput';

/**
 * Figure 8: full verification against the reindex it checks. For each size, the source index (seeded
 * alone) is reindexed into a fresh target with the pipeline's own canonical request (waited for, timed),
 * then a verify-only run of the shipped functions through the real ASL compares every document of the
 * pair (timed). The same again with every source request 150 ms late (the fault proxy, as figure 7c).
 * The handler's heap is measured apart: CheckParity's logic in this process, invocation after invocation,
 * its live heap sampled after a full GC every 20 ms (what it holds, not the garbage a roomy heap lets
 * pile up before V8 collects).
 */

export interface VerificationContext {
  readonly es: LocalCluster;
  readonly os: LocalCluster;
  readonly source: Client;
  readonly target: Client;
  readonly ledgerEndpoint: string;
  readonly tableName: string;
  readonly stamp: string;
  say(line: string): void;
}

export interface VerificationRow {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

const SIZES = [100_000, 1_000_000] as const;
const BATCH = 1000;
/** The worked example's month. */
const MONTH_DOCS = 84_986_805;

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const s1 = (x: number) => x.toFixed(1);
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

async function sourceIndex(ctx: VerificationContext, docs: number): Promise<string> {
  const index = `bench-tp-source-${docs}`;
  const existing = await ctx.source.count({ index }).then(
    ({ body }) => (body as { count: number }).count,
    () => undefined,
  );
  if (existing === docs) return index;
  ctx.say(`    seeding ${index} (${n(docs)} docs, source only)...`);
  await seedWorkedExample({ source: ctx.source, index, shape: scaledShape(docs), progress: ctx.say });
  return index;
}

/** The pipeline's merge request from `sourceUrl`, into a fresh `dest`, waited for. */
async function reindex(ctx: VerificationContext, sourceUrl: string, index: string, dest: string): Promise<number> {
  const config = parseRunConfig(
    { runId: `bench-vf-${dest}`, source: { url: sourceUrl, index }, target: { index: dest }, dryRun: false, dateField: 'timestamp', batchSize: BATCH },
    { endpoint: ctx.os.url },
  );
  const { seconds } = await timed(() =>
    ctx.target.transport.request(
      { method: 'POST', path: '/_reindex', querystring: { wait_for_completion: true, refresh: true }, body: buildCanonicalRequest(config).body },
      { requestTimeout: 7_200_000 },
    ),
  );
  return seconds;
}

async function verifyOnly(ctx: VerificationContext, runId: string, sourceUrl: string, index: string, dest: string, differencesDirectory: string) {
  return timed(() =>
    runLocal({
      input: { runId, source: { url: sourceUrl, index }, target: { index: dest }, dateField: 'timestamp', verifyOnly: true },
      targetUrl: ctx.os.url,
      ledgerEndpoint: ctx.ledgerEndpoint,
      tableName: ctx.tableName,
      differencesDirectory,
    }),
  );
}

/** CheckParity's logic in this process, invocation after invocation until done, its peak heap sampled. */
async function peakHeap(ctx: VerificationContext, index: string, dest: string, differencesDirectory: string): Promise<{ deltaBytes: number; invocations: number }> {
  const ledger = await localLedger(ctx.ledgerEndpoint, ctx.tableName);
  const deps: RunDeps = {
    ledger,
    target: ctx.target,
    targetEndpoint: ctx.os.url,
    sourceClient: async () => ctx.source,
    sourceCredentials: async () => undefined,
    credentialReference: () => undefined,
    isHolderFinished: async () => true,
    metrics: collectingMetrics(),
    log: { info: () => undefined, warn: () => undefined },
    now: () => new Date(),
    differences: fileDifferences(differencesDirectory),
  };
  const run = await validateInput(
    { input: { runId: `bench-vf-heap-${dest}`, source: { url: ctx.es.url, index }, target: { index: dest }, dateField: 'timestamp', verifyOnly: true } },
    deps,
  );
  const sampler = new HeapSampler({ live: true });
  sampler.start();
  let invocations = 0;
  try {
    for (;;) {
      fullGc();
      sampler.beforeState('CheckParity');
      invocations += 1;
      const step = await checkParity({ state: { run } }, deps);
      sampler.settle();
      if (step.done) break;
    }
  } finally {
    sampler.stop();
  }
  return { deltaBytes: sampler.peaks.get('CheckParity')?.deltaBytes ?? NaN, invocations };
}

interface SizeResult {
  readonly docs: number;
  readonly reindexSeconds: number;
  readonly verifySeconds: number;
  readonly run: LocalRunResult;
  readonly heap: { deltaBytes: number; invocations: number };
}

function classesOf(run: LocalRunResult): Record<string, number> | undefined {
  return (run.record?.parity as { verification?: { classes?: Record<string, number> } } | undefined)?.verification?.classes;
}

function verificationOf(run: LocalRunResult): { ranges?: number; invocations?: number; compared?: number } {
  return ((run.record?.parity as { verification?: Record<string, number> } | undefined)?.verification ?? {}) as never;
}

export async function figureVerification(ctx: VerificationContext, fig = 8): Promise<{ lines: string[]; rows: VerificationRow[] }> {
  const differencesDirectory = mkdtempSync(join(tmpdir(), 'bench-differences-'));
  const rows: VerificationRow[] = [];
  const lines: string[] = [];
  try {
    ctx.say(`\n[${fig}] Full verification vs the reindex it checks (${SIZES.map(n).join(' and ')} docs; then the source ${sourceDelayMs()} ms away)`);
    // The assembly first (a synth when stale), so that no timed run below includes one.
    await ensureCloudAssembly();
    const local: SizeResult[] = [];
    for (const docs of SIZES) {
      const index = await sourceIndex(ctx, docs);
      const dest = `bench-vf-${docs}-${ctx.stamp}`;
      ctx.say(`    ${n(docs)}: reindex into ${dest}...`);
      const reindexSeconds = await reindex(ctx, ctx.es.url, index, dest);
      ctx.say(`    ${n(docs)}: reindex ${s1(reindexSeconds)} s; verify only...`);
      const { value: run, seconds: verifySeconds } = await verifyOnly(ctx, `bench-vf-${docs}-${ctx.stamp}`, ctx.es.url, index, dest, differencesDirectory);
      ctx.say(`    ${n(docs)}: verification ${s1(verifySeconds)} s (${run.status}); heap of CheckParity in-process...`);
      const heap = await peakHeap(ctx, index, dest, differencesDirectory);
      local.push({ docs, reindexSeconds, verifySeconds, run, heap });
    }

    const delay = sourceDelayMs();
    const big = SIZES[SIZES.length - 1]!;
    const proxy = await startFaultProxy({ target: ctx.es.url });
    let far: { reindexSeconds: number; verifySeconds: number; run: LocalRunResult; requests: number; verifyRequests: number };
    try {
      proxy.inject({ path: '*', action: { kind: 'delay', ms: delay } });
      const index = await sourceIndex(ctx, big);
      const dest = `bench-vf-far-${big}-${ctx.stamp}`;
      ctx.say(`    ${n(big)}, source ${delay} ms away: reindex...`);
      const reindexSeconds = await reindex(ctx, proxy.url, index, dest);
      const requests = proxy.requests().length;
      proxy.resetLog();
      ctx.say(`    reindex ${s1(reindexSeconds)} s; verify only...`);
      const { value: run, seconds: verifySeconds } = await verifyOnly(ctx, `bench-vf-far-${big}-${ctx.stamp}`, proxy.url, index, dest, differencesDirectory);
      far = { reindexSeconds, verifySeconds, run, requests, verifyRequests: proxy.requests().length };
      ctx.say(`    verification ${s1(verifySeconds)} s (${run.status})`);
    } finally {
      await proxy.stop();
    }

    lines.push(`## ${fig}. Full verification — every document both ways, against the reindex it checks (one bench run, side by side)`);
    lines.push(
      `each size: the source index reindexed into a fresh target with the pipeline's merge request (batch ${BATCH}, waited for), then a verify-only run ` +
        `of the shipped functions through the real ASL; pages of ${n(VERIFY_PAGE_SIZE)} ids, ranges of up to ${n(DEFAULT_RANGE_DOCS)} documents, 4 at a time`,
    );
    lines.push('docs        reindex   verification   ratio   ranges  invocations  classes (equal / other)             CheckParity live heap (in-process)');
    for (const r of local) {
      const c = classesOf(r.run);
      const v = verificationOf(r.run);
      const other = c ? Object.entries(c).filter(([k, x]) => k !== 'equal' && x > 0).map(([k, x]) => `${k} ${n(x)}`).join(', ') || 'none' : '?';
      lines.push(
        `${n(r.docs).padStart(9)}  ${`${s1(r.reindexSeconds)} s`.padStart(8)}  ${`${s1(r.verifySeconds)} s`.padStart(13)}  ${s1(r.verifySeconds / r.reindexSeconds).padStart(6)}  ` +
          `${String(v.ranges ?? '?').padStart(6)}  ${String(v.invocations ?? '?').padStart(11)}  ${`${n(c?.equal ?? NaN)} / ${other}`.padEnd(34)}  ${mb(r.heap.deltaBytes)} (${r.heap.invocations} invocation(s))`,
      );
    }
    const c = classesOf(far.run);
    lines.push(
      `source ${delay} ms away (fault proxy, every request): ${n(big)} docs, reindex ${s1(far.reindexSeconds)} s (${n(far.requests)} source requests), ` +
        `verification ${s1(far.verifySeconds)} s (${n(far.verifyRequests)} source requests, ${s1((1000 * far.verifyRequests) / big)} per 1,000 documents; ` +
        `${far.run.status}, ${n(c?.equal ?? NaN)} equal) = ${s1((100 * far.verifySeconds) / far.reindexSeconds)}% of the reindex`,
    );
    const farRate = big / far.verifySeconds;
    const localRate = big / local[local.length - 1]!.verifySeconds;
    const invocationsFor = (rate: number) => Math.ceil(MONTH_DOCS / rate / DEFAULT_VERIFY_INVOCATION_SECONDS);
    lines.push(
      `projection, the worked example's ${n(MONTH_DOCS)}-document month: ${s1(MONTH_DOCS / farRate / 3600)} h with the source ${delay} ms away ` +
        `(${n(farRate)} docs/s, ${invocationsFor(farRate)} CheckParity invocations), ${s1(MONTH_DOCS / localRate / 3600)} h with it on this machine (${n(localRate)} docs/s); ` +
        `the reindex it checks: 5 h (docs/design.md)`,
    );
    lines.push(
      `the history simulations (figures 2 and 2.5) model verification at ${n(MODELLED_VERIFY_DOCS_PER_SECOND)} docs/s ` +
        `(${farRate >= MODELLED_VERIFY_DOCS_PER_SECOND ? 'no faster than' : 'FASTER than'} measured here with the source ${delay} ms away)`,
    );
    lines.push('');

    const bigLocal = local[local.length - 1]!;
    rows.push({
      figure: `${fig}. verification vs reindex, ${n(big)} docs`,
      value: `${s1(bigLocal.verifySeconds)} s vs ${s1(bigLocal.reindexSeconds)} s`,
      goal: '<= the reindex',
      met: bigLocal.verifySeconds <= bigLocal.reindexSeconds,
    });
    rows.push({
      figure: `${fig}. verification vs reindex, source ${delay} ms away`,
      value: `${s1(far.verifySeconds)} s vs ${s1(far.reindexSeconds)} s (${s1((100 * far.verifySeconds) / far.reindexSeconds)}%)`,
      goal: '<= 1/3 of the reindex',
      met: far.verifySeconds * 3 <= far.reindexSeconds,
    });
    for (const r of local) {
      rows.push({ figure: `${fig}. CheckParity peak live heap, ${n(r.docs)} docs`, value: mb(r.heap.deltaBytes), goal: '< 256 MB', met: r.heap.deltaBytes < 256 * 1_048_576 });
    }
    rows.push({ figure: `${fig}. projection: ${n(MONTH_DOCS)}-doc month verified`, value: `${s1(MONTH_DOCS / farRate / 3600)} h (source ${delay} ms away)`, goal: '(info)', met: null });
    const clean = [...local.map((r) => r.run), far.run].every((r) => r.status === 'SUCCEEDED');
    rows.push({ figure: `${fig}. every verification of an exact copy`, value: clean ? 'SUCCEEDED, no difference' : 'NOT CLEAN', goal: 'no difference', met: clean });
    return { lines, rows };
  } finally {
    rmSync(differencesDirectory, { recursive: true, force: true });
  }
}
