import { Client } from '@opensearch-project/opensearch';
import { measureBundles } from './bundles';
import { fullGc, HeapSampler } from './heap';
import { figureBatchSize } from './batch-size';
import { figureLongPartitions } from './long-partitions';
import { figureThroughput } from './throughput';
import { figureVerification } from './verification';
import { simulateRun, workedExampleModel, type SimulationResult, type WaitPolicy } from './orchestration';
import { partitionedHistoryFigure } from './partitioned-orchestration';
import { startLocalCluster, type LocalCluster } from '../clusters/cluster';
import { startFaultProxy, type ProxiedRequest } from '../fault-proxy/fault-proxy';
import { startLocalLedger, type LocalLedger } from '../ledger/ledger';
import { runLocal, type LocalRunOptions, type LocalRunResult } from '../pipeline';
import { WORKED_EXAMPLE_1_1000, scaledShape, seedWorkedExample, targetCopy } from '../seed/worked-example';
import { tamperedLaunch } from '../fault-proxy/tampered-launch';
import { buildCanonicalRequest } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import type { RunLog } from '../../lambdas/shared/runtime/run-context';
import type { RunRecord } from '../../lambdas/shared/ledger/ledger';

/**
 * `npm run bench`: the benchmark figures, measured on real local servers started here
 * (Elasticsearch 7.10.2, OpenSearch, dynalite) and printed, each beside its goal. Nothing is asserted.
 * Progress goes to stderr, results to stdout; every server is stopped at the end.
 * `npm run bench -- throughput` runs only figure 7 (throughput, projection and 7c with the source behind a
 * delaying fault proxy; local/bench/throughput.ts); `npm run bench -- verification` only figure 8 (full
 * verification against the reindex it checks; local/bench/verification.ts); `-- batch-size` only figure 7d
 * (local/bench/batch-size.ts); `-- partitions` only figure 7e (partitions of a minute; local/bench/long-partitions.ts).
 */

const say = (line: string) => process.stderr.write(`${line}\n`);
/** Result lines, kept per figure and printed in figure order at the end. */
const sections = new Map<number, string[]>();
let section = 0;
const out = (line = '') => {
  const lines = sections.get(section) ?? [];
  lines.push(line);
  sections.set(section, lines);
};
/** Every result line, in figure order, on stdout. */
const printSections = () => process.stdout.write(`\n${[...sections.keys()].sort((a, b) => a - b).flatMap((k) => sections.get(k)!).join('\n')}\n`);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const s1 = (x: number) => x.toFixed(1);
const s2 = (x: number) => x.toFixed(2);
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

/** The production rate the abort window is scaled to. */
const PRODUCTION_DOCS_PER_SECOND = 4_700;
const BIG = 1_000_000;
const SMALL = 10_000;
const INDEX_BIG = 'bench-1m';
const INDEX_SMALL = 'bench-10k';
const INDEX_WORKED = 'calls-2026-05';
const BATCH = 1000;
const stamp = Date.now().toString(36);

interface Row {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}
const rows: Row[] = [];

interface Servers {
  es: LocalCluster;
  os: LocalCluster;
  ledger: LocalLedger;
  source: Client;
  target: Client;
}

function progressLog(tag: string, sink?: (message: string, at: number) => void): RunLog {
  const line = (level: string, message: string, fields?: Record<string, unknown>) => {
    sink?.(message, Date.now());
    const f = fields ?? {};
    const brief =
      message === 'poll'
        ? ` created=${String(f['created'])} updated=${String(f['updated'])} conflicts=${String(f['versionConflicts'])} of ${String(f['total'])}`
        : '';
    say(`    ${new Date().toISOString().slice(11, 23)} [${tag}] ${level === 'warn' ? 'WARN ' : ''}${message}${brief}`);
  };
  return { info: (m, f) => line('info', m, f), warn: (m, f) => line('warn', m, f) };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

function runInput(runId: string, sourceUrl: string, sourceIndex: string, targetIndex: string, dryRun: boolean) {
  return { runId, source: { url: sourceUrl, index: sourceIndex }, target: { index: targetIndex }, dateField: 'timestamp', batchSize: BATCH, dryRun };
}

async function dryThenLive(
  common: Omit<LocalRunOptions, 'input'>,
  input: ReturnType<typeof runInput>,
  live: Partial<LocalRunOptions> = {},
  afterRun: () => void = () => undefined,
): Promise<{ dry: LocalRunResult; dryS: number; live: LocalRunResult; liveS: number }> {
  const dry = await timed(() => runLocal({ ...common, log: progressLog(`${input.runId}-dry`), input: { ...input, runId: `${input.runId}-dry`, dryRun: true } }));
  afterRun();
  if (dry.value.status !== 'SUCCEEDED') throw new Error(`dry run ${input.runId}-dry: ${dry.value.error}: ${dry.value.cause}`);
  const run = await timed(() => runLocal({ ...common, log: progressLog(input.runId), ...live, input: { ...input, dryRun: false } }));
  afterRun();
  return { dry: dry.value, dryS: dry.seconds, live: run.value, liveS: run.seconds };
}

interface TaskAnswer {
  completed: boolean;
  task: { running_time_in_nanos?: number; status?: Record<string, number> };
  response?: { created: number; updated: number; version_conflicts: number; total: number; took?: number; canceled?: string };
}

async function waitForTask(target: Client, taskId: string): Promise<TaskAnswer> {
  const { body } = await target.tasks.get({ task_id: taskId, wait_for_completion: true, timeout: '60s' }, { requestTimeout: 90_000 });
  return body as unknown as TaskAnswer;
}

async function countOf(client: Client, index: string): Promise<number> {
  try {
    await client.indices.refresh({ index });
    const { body } = await client.count({ index });
    return (body as { count: number }).count;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// Figure 1: abort window

async function figureAbort(sv: Servers, common: Omit<LocalRunOptions, 'input'>): Promise<(naturalDocsPerSecond: number | undefined) => void> {
  say('\n[1/5] Abort window: a live run whose launch drops dest.version_type from the approved request');
  const targetIndex = `bench-abort-${stamp}`;
  let sentAt: number | undefined;
  let cancelledAt: number | undefined;
  // The launch reaches the target through the fault proxy, which drops dest.version_type.
  const proxy = await startFaultProxy({ target: sv.os.url });
  proxy.inject(
    tamperedLaunch((body) => delete (body['dest'] as Record<string, unknown>)['version_type'], {
      onSent: () => {
        sentAt = Date.now();
      },
    }),
  );
  const input = runInput(`abort-${stamp}`, sv.es.url, INDEX_BIG, targetIndex, false);
  const { live } = await dryThenLive({ ...common, targetUrl: proxy.url }, input, {
    log: progressLog(input.runId, (message, at) => {
      if (message.startsWith('header check failed')) cancelledAt = at;
    }),
  }).finally(() => proxy.stop());
  const whole = wholeIndexTask(live.record);
  const taskId = whole?.taskId;
  const task = taskId ? await waitForTask(sv.target, taskId) : undefined;
  const r = task?.response;
  const written = r ? r.created + r.updated : NaN;
  const seen = r ? r.created + r.updated + r.version_conflicts : 0;
  const taskSeconds = (task?.task.running_time_in_nanos ?? 0) / 1e9;
  const targetCount = await countOf(sv.target, targetIndex);
  const launchAt = Date.parse(whole?.launchedAt ?? '');
  const finishedAt = Date.parse(live.record?.finishedAt ?? '');
  const window = sentAt !== undefined && cancelledAt !== undefined ? (cancelledAt - sentAt) / 1000 : NaN;
  const ledgerWindow = (finishedAt - launchAt) / 1000;
  const ownRate = taskSeconds > 0 && seen > 0 ? seen / taskSeconds : undefined;

  return (natural) => {
  section = 1;
  out('## 1. Abort window (rail 2, header check) — real pipeline, real clusters, natural speed (no throttle)');
  out(`source ${INDEX_BIG} (${n(BIG)} docs) -> ${targetIndex} (new); launch drops dest.version_type`);
  out(`run status            ${live.status} ${live.error ?? ''}`);
  out(`cause                 ${(live.cause ?? '').slice(0, 160)}`);
  out(`launch -> cancel      ${s2(window)} s  (request bytes at the target's proxy -> the header check's cancel logged by the function)`);
  out(`ledger launch.at -> finishedAt  ${s2(ledgerWindow)} s  (${String(whole?.launchedAt)} -> ${live.record?.finishedAt ?? '?'})`);
  out(`cancelled task        ${r ? `created ${n(r.created)} + updated ${n(r.updated)} (+ ${n(r.version_conflicts)} conflicts) of total ${n(r.total)}; canceled: ${r.canceled ?? '-'}` : 'no stored result'}`);
  out(`docs on the target    ${n(targetCount)} (index new before the run)`);
  out(`task running time     ${s2(taskSeconds)} s; its own rate ${ownRate ? `${n(ownRate)} docs/s` : 'n/a (no batch landed)'}`);
  if (natural) out(`local natural rate    ${n(natural)} docs/s (figure 4's reindex task); the window there: ${n(window * natural)} docs`);
  out(`at ${n(PRODUCTION_DOCS_PER_SECOND)} docs/s (production) the same window would write at most ${n(window * PRODUCTION_DOCS_PER_SECOND)} docs`);
  out('(the incident: a person reading the log needed 45 s = ~45,000 documents; the runbook allows 10 s)');
  out();
  rows.push({ figure: '1. abort: launch -> cancel', value: `${s2(window)} s`, goal: '<= 3 s', met: window <= 3 });
  rows.push({ figure: '1. abort: docs written before cancel (local)', value: n(Math.max(written, targetCount)), goal: '< 1,000', met: Math.max(written, targetCount) < 1000 });
  rows.push({
    figure: `1. abort: docs at ${n(PRODUCTION_DOCS_PER_SECOND)} docs/s`,
    value: n(window * PRODUCTION_DOCS_PER_SECOND),
    goal: '< 1,000',
    met: window * PRODUCTION_DOCS_PER_SECOND < 1000,
  });
  };
}

// ---------------------------------------------------------------------------------------------------
// Figure 2: orchestration cost (simulated clock)

async function figureOrchestration(ledgerEndpoint: string): Promise<() => void> {
  const lines: string[] = [];
  const tableName = `bench-sim-${stamp}`;
  const sim = (hours: number, speedup: number, endEarly: number, policy: WaitPolicy) =>
    simulateRun({ ledgerEndpoint, tableName, model: workedExampleModel(hours, speedup, endEarly), policy });
  const adaptive: WaitPolicy = { kind: 'adaptive' };
  // Several end times so a fixed poll's lateness is not an accident of round numbers.
  const offsets = [0, 137, 211, 263];
  const group = async (hours: number, speedup: number, policy: WaitPolicy, ends = offsets) => {
    const results: SimulationResult[] = [];
    for (const end of ends) results.push(await sim(hours, speedup, end, policy));
    return results;
  };
  const summary = (results: SimulationResult[]) => {
    const late = results.map((r) => r.lateSeconds ?? Infinity);
    const r0 = results[0]!;
    return {
      r0,
      maxLate: Math.max(...late),
      meanLate: late.reduce((a, b) => a + b, 0) / late.length,
      tph: Math.max(...results.map((r) => r.transitionsPerHour)),
      events: Math.max(...results.map((r) => r.historyEvents)),
      polls: Math.max(...results.map((r) => r.polls)),
    };
  };
  say('[2/5] Orchestration cost: simulated 5 h and 48 h reindexes on a simulated clock (runs beside the seeding)');
  const simStart = performance.now();
  const a5 = summary(await group(5, 3, adaptive));
  const a5stress = summary(await group(5, 8, adaptive));
  const f300 = summary(await group(5, 3, { kind: 'fixed', seconds: 300 }));
  const f30 = summary(await group(5, 3, { kind: 'fixed', seconds: 30 }, [137]));
  const a48 = summary(await group(48, 3, adaptive, [0, 263]));
  const f30h48 = summary(await group(48, 3, { kind: 'fixed', seconds: 30 }, [0]));

  lines.push('## 2. Orchestration cost — REAL: ASL file, runner + AWS history-event rules, handlers ValidateInput, AcquireLock,');
  lines.push('##    CheckHeader, PollTask (real nextPoll/adaptive wait, ledger snapshot per poll), Reconcile, FinishRun on the real');
  lines.push('##    local ledger; Waits honoured on a simulated clock. MODELLED: the reindex task (progress model answering');
  lines.push('##    _tasks reads and long-polls, 50 ms per read), and stubs for Preflight, CheckApproval, LaunchReindex, CheckParity.');
  lines.push('model: the worked example, 84,986,805 docs in 5 h (4,722 docs/s on average): 83% created, then the dual-write days');
  lines.push('(updated + version conflicts) 3x faster; a stress variant 8x faster (beyond the wait logic\'s 4x assumption).');
  lines.push('Each row: max over runs ending at 5 h minus {0,137,211,263} s (fixed 30 s: 137 s only).');
  lines.push('policy                          model                  transitions/h  polls  history events  late (max / mean)');
  const row = (policy: string, model: string, x: ReturnType<typeof summary>) =>
    lines.push(
      `${policy.padEnd(31)} ${model.padEnd(22)} ${s1(x.tph).padStart(13)}  ${String(x.polls).padStart(5)}  ${String(x.events).padStart(14)}  ${
        Number.isFinite(x.maxLate) ? `${s1(x.maxLate)} s / ${s1(x.meanLate)} s` : `never (${x.r0.status} ${x.r0.error ?? ''})`
      }`,
    );
  row('adaptive (real nextPoll)', '5 h, late 3x', a5);
  row('adaptive (real nextPoll)', '5 h, late 8x (stress)', a5stress);
  row('fixed 30 s', '5 h, late 3x', f30);
  row('fixed 300 s', '5 h, late 3x', f300);
  row('adaptive (real nextPoll)', '48 h, late 3x', a48);
  row('fixed 30 s', '48 h, late 3x', f30h48);
  lines.push(`48 h adaptive run: ${a48.r0.status}, ${n(a48.events)} history events (AWS limit 25,000); fixed 30 s: ${f30h48.r0.status} ${f30h48.r0.error ?? ''} at ${n(f30h48.events)} events after ${s1(f30h48.r0.simulatedHours)} h`);
  lines.push('');
  say(`    simulations done in ${s1((performance.now() - simStart) / 1000)} s (one 5 h run: ${n(a5.r0.realMs)} ms)`);

  return () => {
  section = 2;
  for (const line of lines) out(line);
  rows.push({ figure: '2. state transitions per hour (5 h)', value: `${s1(a5.tph)} (fixed 30 s: ${s1(f30.tph)})`, goal: '<= 30', met: a5.tph <= 30 });
  rows.push({
    figure: '2. completion noticed late (5 h)',
    value: `${s1(a5.maxLate)} s (8x: ${s1(a5stress.maxLate)} s; fixed 300 s: ${s1(f300.maxLate)} s)`,
    goal: '<= 10 s',
    met: a5.maxLate <= 10,
  });
  rows.push({ figure: '2. history events, 48 h run', value: `${n(a48.events)} (fixed 30 s: ${f30h48.r0.status})`, goal: '< 25,000', met: a48.events < 25_000 && a48.r0.status === 'SUCCEEDED' });
  };
}

// ---------------------------------------------------------------------------------------------------
// Figure 3: dry-run cost

function describeRequests(requests: readonly ProxiedRequest[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) {
    const path = r.path.split('?')[0]!.replace(/bench-[a-z0-9-]+|calls-[0-9-]+/g, '{index}');
    const key = `${r.method} ${path}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, c]) => (c > 1 ? `${k} x${c}` : k)).join(', ');
}

async function figureDryRun(sv: Servers, common: Omit<LocalRunOptions, 'input' | 'targetUrl'>, sampler: HeapSampler) {
  say('\n[3/5] Dry-run cost: requests through fault proxies in front of both clusters');
  const sourceProxy = await startFaultProxy({ target: sv.es.url });
  const targetProxy = await startFaultProxy({ target: sv.os.url });
  try {
    section = 3;
    out('## 3. Dry-run cost — real pipeline, real clusters, every request counted by a fault proxy in front of each cluster');
    out('(target index holds dual-write copies of the last days, so the version probe runs; the fingerprint names the proxy url)');
    const counts: number[] = [];
    for (const [index, size] of [
      [INDEX_SMALL, SMALL],
      [INDEX_BIG, BIG],
    ] as const) {
      sourceProxy.resetLog();
      targetProxy.resetLog();
      const runId = `dry-${index}-${stamp}`;
      const { value: result, seconds } = await timed(() =>
        runLocal({ ...common, targetUrl: targetProxy.url, beforeState: sampler.beforeState, log: progressLog(runId), input: runInput(runId, sourceProxy.url, index, index, true) }),
      );
      sampler.settle();
      const src = sourceProxy.requests();
      const tgt = targetProxy.requests();
      counts.push(src.length + tgt.length);
      out(`${n(size).padStart(9)} docs: ${result.status}, ${src.length + tgt.length} requests (source ${src.length}, target ${tgt.length}), ${s2(seconds)} s`);
      out(`    source: ${describeRequests(src)}`);
      out(`    target: ${describeRequests(tgt)}`);
      out(`    writes: source ${sourceProxy.writeRequests().length}, target ${targetProxy.writeRequests().length}`);
    }
    out();
    const max = Math.max(...counts);
    rows.push({
      figure: '3. dry-run HTTP requests (10k / 1M docs)',
      value: `${counts[0]} / ${counts[1]}`,
      goal: 'same, <= 15',
      met: counts[0] === counts[1] && max <= 15,
    });
  } finally {
    await Promise.allSettled([sourceProxy.stop(), targetProxy.stop()]);
  }
}

// ---------------------------------------------------------------------------------------------------
// Figure 4: safety overhead

async function bareReindex(sv: Servers, destIndex: string): Promise<{ seconds: number; counters: Record<string, number> }> {
  // Exactly the pipeline's canonical request for this source, into a fresh index, waited for: the seed's script.
  const config = parseRunConfig(runInput(`bare-${stamp}`, sv.es.url, INDEX_BIG, destIndex, false), { endpoint: sv.os.url });
  const request = buildCanonicalRequest(config);
  const { value, seconds } = await timed(() =>
    sv.target.transport.request(
      { method: 'POST', path: '/_reindex', querystring: { wait_for_completion: true }, body: request.body },
      { requestTimeout: 3_600_000 },
    ),
  );
  return { seconds, counters: value.body as Record<string, number> };
}

async function figureOverhead(sv: Servers, common: Omit<LocalRunOptions, 'input'>): Promise<number | undefined> {
  say('\n[4/5] Safety overhead: bare remote _reindex vs the full pipeline, 1M docs, same clusters, same batch size');
  const bareIndex = `bench-bare-${stamp}`;
  const bareIndex2 = `bench-bare2-${stamp}`;
  const liveIndex = `bench-live-${stamp}`;
  say('    bare _reindex #1 (wait_for_completion=true)...');
  const bare1 = await bareReindex(sv, bareIndex);
  say(`    bare #1: ${s1(bare1.seconds)} s`);
  say('    pipeline: dry run, then live run (real adaptive waits, pollWaitMs unset)...');
  const input = runInput(`overhead-${stamp}`, sv.es.url, INDEX_BIG, liveIndex, false);
  const { dry, dryS, live, liveS } = await dryThenLive(common, input);
  say(`    pipeline live: ${s1(liveS)} s`);
  say('    bare _reindex #2...');
  const bare2 = await bareReindex(sv, bareIndex2);
  say(`    bare #2: ${s1(bare2.seconds)} s`);
  const bareMean = (bare1.seconds + bare2.seconds) / 2;
  // The reference is the faster bare run: the comparison never flatters the pipeline with a slow outlier.
  const bareBest = Math.min(bare1.seconds, bare2.seconds);
  const taskId = wholeIndexTask(live.record)?.taskId;
  const task = taskId ? await waitForTask(sv.target, taskId) : undefined;
  const taskSeconds = (task?.task.running_time_in_nanos ?? 0) / 1e9;
  const counters = live.record?.counters as Record<string, number> | undefined;
  const overhead = (liveS / bareBest - 1) * 100;
  const overheadWithDry = ((liveS + dryS) / bareBest - 1) * 100;
  const outsideTask = liveS - taskSeconds;

  section = 4;
  out(`## 4. Safety overhead — ${n(BIG)} docs, batch size ${BATCH}, fresh target index each, real clusters, real adaptive waits`);
  out(`bare _reindex (wait_for_completion=true), run before and after the pipeline: ${s1(bare1.seconds)} s, ${s1(bare2.seconds)} s (reference: the faster, ${s1(bareBest)} s; mean ${s1(bareMean)} s; created ${n(bare1.counters['created'] ?? 0)})`);
  out(`pipeline live run: ${s1(liveS)} s (${live.status}; its reindex task ran ${s1(taskSeconds)} s; the rest is pre-flight, rails, polling, reconcile, parity)`);
  out(`pipeline dry run: ${s1(dryS)} s (${dry.status})`);
  out(`counters: ${counters ? String(counters['arithmetic'] ?? JSON.stringify(counters)) : '?'}; parity ${JSON.stringify((live.record?.parity as { ok?: boolean } | undefined)?.ok)}`);
  out(`pipeline time outside its reindex task: ${s1(outsideTask)} s = ${s1((100 * outsideTask) / bareBest)}% of the bare run (the part the pipeline adds whatever the noise)`);
  out(`live run vs bare: ${overhead >= 0 ? '+' : ''}${s1(overhead)}%; live + dry vs bare: ${overheadWithDry >= 0 ? '+' : ''}${s1(overheadWithDry)}%`);
  out(`history: ${live.execution.stateTransitions} state transitions, ${live.execution.historyEvents} history events`);
  out();
  rows.push({ figure: '4. live run vs bare _reindex (1M)', value: `${overhead >= 0 ? '+' : ''}${s1(overhead)}% (${s1(liveS)} s vs ${s1(bareBest)} s)`, goal: '<= +5%', met: overhead <= 5 });
  const spread = (100 * Math.abs(bare1.seconds - bare2.seconds)) / bareBest;
  rows.push({ figure: '4. noise: the same bare _reindex twice', value: `${s1(spread)}% apart`, goal: '(info: must be << 5% to decide)', met: null });
  rows.push({ figure: '4. pipeline time outside its reindex task', value: `${s1(outsideTask)} s (${s1((100 * outsideTask) / bareBest)}% of bare)`, goal: '(info)', met: null });
  rows.push({ figure: '4. live + dry run vs bare _reindex', value: `${overheadWithDry >= 0 ? '+' : ''}${s1(overheadWithDry)}%`, goal: '(info)', met: null });
  const total = counters?.['total'] ?? BIG;
  return taskSeconds > 0 ? total / taskSeconds : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Figure 5: memory

async function figureMemory(sv: Servers, common: Omit<LocalRunOptions, 'input'>, sampler: HeapSampler) {
  say('\n[5/5] Memory: peak heap per state during the worked example at 1/1000 (dry + live run)');
  const input = runInput(`memory-${stamp}`, sv.es.url, INDEX_WORKED, INDEX_WORKED, false);
  const { live } = await dryThenLive({ ...common, beforeState: sampler.beforeState }, input, {}, () => sampler.settle());
  say(`    worked example live run: ${live.status} ${live.error ?? ''}`);
  return live;
}

function printMemory(worked: Map<string, { deltaBytes: number; peakBytes: number; invocations: number }>, big: Map<string, { deltaBytes: number; peakBytes: number; invocations: number }>, baseline: number) {
  section = 5;
  out('## 5. Memory — peak V8 heap per state (full GC before each state, 2 ms sampler until the next state starts)');
  out(`process heap after GC with every module loaded: ${mb(baseline)} (a Lambda also loads the runtime; its own heap starts near this)`);
  out('(the 1M column covers the dry-run states only: figures 1 and 4 run without the sampler so their timings stay clean)');
  out('state                 worked example 1/1000 (dry+live)   1M docs (dry runs of figure 3)   estimate for the Lambda');
  let worst = 0;
  const keys = [...new Set([...worked.keys(), ...big.keys()])];
  for (const key of keys) {
    const w = worked.get(key);
    const b = big.get(key);
    const delta = Math.max(w?.deltaBytes ?? 0, b?.deltaBytes ?? 0);
    worst = Math.max(worst, baseline + delta);
    out(
      `${key.replace(/FunctionArn$/, '').padEnd(21)} ${(w ? `+${mb(w.deltaBytes)} (x${w.invocations})` : '-').padEnd(34)} ${(b ? `+${mb(b.deltaBytes)} (x${b.invocations})` : '-').padEnd(32)} ${mb(baseline + delta)}`,
    );
  }
  out();
  rows.push({ figure: '5. peak heap of the hungriest handler', value: `${mb(worst)} (baseline ${mb(baseline)} + delta)`, goal: '<= 128 MB', met: worst <= 128 * 1_048_576 });
}

// ---------------------------------------------------------------------------------------------------

/** Figure 6 (deployment): every handler as CDK bundles it, its size and its init time in a fresh Node. */
function figureBundles(): void {
  say('Bundling every handler as the CDK app does (local esbuild) and timing each module init in a fresh Node process...');
  const figures = measureBundles();
  section = 5.5;
  out('## 6. Handler bundles (as `cdk synth` bundles them for Lambda: ESM, minified, @aws-sdk/* from the runtime)');
  out('handler                                     bundle     init (median of 3, fresh node process)');
  for (const f of figures) out(`${f.handler.padEnd(42)}  ${mb(f.bytes).padStart(8)}   ${f.initMs.toFixed(0).padStart(5)} ms`);
  const largest = figures.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const slowest = figures.reduce((a, b) => (b.initMs > a.initMs ? b : a));
  rows.push({ figure: '6. largest handler bundle', value: `${mb(largest.bytes)} (${largest.handler})`, goal: '<= 1 MB', met: largest.bytes <= 1_048_576 });
  rows.push({ figure: '6. slowest handler init', value: `${slowest.initMs.toFixed(0)} ms (${slowest.handler})`, goal: '<= 300 ms', met: slowest.initMs <= 300 });
  section = 0;
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (process.argv.length > 3 || (only !== undefined && !['throughput', 'verification', 'batch-size', 'partitions', 'bundles'].includes(only))) {
    throw new Error(`usage: npm run bench [-- throughput | verification | batch-size | partitions | bundles]`);
  }
  if (only === 'bundles') {
    // No servers: the bundles as `cdk synth` writes them, each module's init in a fresh Node.
    figureBundles();
    for (const r of rows) out(`${r.figure}: ${r.value} (goal ${r.goal}: ${r.met ? 'met' : 'NOT met'})`);
    printSections();
    return;
  }
  fullGc();
  const moduleBaseline = process.memoryUsage().heapUsed;
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    await Promise.allSettled(started.splice(0).map((s) => s.stop()));
  };
  process.once('SIGINT', () => {
    say('\nInterrupted: stopping the local servers...');
    void stopAll().then(() => process.exit(130));
  });
  const t0 = performance.now();
  try {
    say('Starting Elasticsearch 7.10.2, OpenSearch and the dynalite ledger (real servers, JVMs; ~30 s)...');
    const [es, os, ledger] = await Promise.all([
      startLocalCluster({ distribution: 'elasticsearch', heap: '1g', jit: 'full' }).then((c) => (started.push(c), c)),
      startLocalCluster({ distribution: 'opensearch', heap: '1g', jit: 'full' }).then((c) => (started.push(c), c)),
      startLocalLedger().then((l) => (started.push(l), l)),
    ]);
    const sv: Servers = {
      es,
      os,
      ledger,
      source: new Client({ node: es.url, requestTimeout: 300_000 }),
      target: new Client({ node: os.url, requestTimeout: 300_000 }),
    };
    say(`  source ${es.url} (Elasticsearch ${es.version}), target ${os.url} (OpenSearch ${os.version}), ledger ${ledger.endpoint}`);
    const common = { targetUrl: os.url, ledgerEndpoint: ledger.endpoint, tableName: `bench-${stamp}` };

    const throughput = async (reuse?: { index: string; docs: number }) => {
      const figure = await figureThroughput({ ...sv, common, stamp, say, progressLog, figure: 7, ...(reuse ? { reuse } : {}) });
      section = 6;
      for (const line of figure.lines) out(line);
      rows.push(...figure.rows);
    };
    const verification = async () => {
      const figure = await figureVerification({ ...sv, ledgerEndpoint: ledger.endpoint, tableName: common.tableName, stamp, say });
      section = 6.5;
      for (const line of figure.lines) out(line);
      rows.push(...figure.rows);
    };
    const batchSize = async () => {
      const figure = await figureBatchSize({ ...sv, common, stamp, say, progressLog }, '7d');
      section = 6.2;
      for (const line of figure.lines) out(line);
      rows.push(...figure.rows);
      return figure.autoSpeedup;
    };
    const longPartitions = async (autoSpeedup?: number) => {
      const figure = await figureLongPartitions({ ...sv, common, stamp, say, progressLog }, '7e', autoSpeedup === undefined ? {} : { autoSpeedup });
      section = 6.3;
      for (const line of figure.lines) out(line);
      rows.push(...figure.rows);
    };
    if (only === 'throughput') {
      await throughput();
    } else if (only === 'batch-size') {
      await batchSize();
    } else if (only === 'partitions') {
      await longPartitions();
    } else if (only === 'verification') {
      await verification();
    } else {
      say(`\nSeeding ${INDEX_BIG} (${n(BIG)}), ${INDEX_SMALL} (${n(SMALL)}) and the worked example at 1/1000 (${INDEX_WORKED}); the orchestration simulation runs meanwhile...`);
      const seeding = (async () => {
        const big = await timed(() => seedWorkedExample({ source: sv.source, target: sv.target, index: INDEX_BIG, shape: scaledShape(BIG), progress: say }));
        const copies = big.value.filter((d) => targetCopy(d) !== undefined).length;
        say(`  ${INDEX_BIG}: ${n(big.value.length)} source docs, ${n(copies)} dual-write copies on the target, ${s1(big.seconds)} s`);
        await seedWorkedExample({ source: sv.source, target: sv.target, index: INDEX_SMALL, shape: scaledShape(SMALL) });
        await seedWorkedExample({ source: sv.source, target: sv.target, index: INDEX_WORKED, shape: WORKED_EXAMPLE_1_1000 });
        say('  seeding done');
      })();
      const [printOrchestration, , partitioned] = await Promise.all([
        figureOrchestration(ledger.endpoint),
        seeding,
        partitionedHistoryFigure({ ledgerEndpoint: ledger.endpoint, tableName: `bench-psim-${stamp}`, progress: say }),
      ]);

      const sampler = new HeapSampler();
      sampler.start();
      await figureMemory(sv, common, sampler);
      const worked = new Map(sampler.peaks);
      sampler.peaks.clear();
      await figureDryRun(sv, { ledgerEndpoint: ledger.endpoint, tableName: common.tableName }, sampler);
      const big = new Map(sampler.peaks);
      sampler.stop();

      const printAbort = await figureAbort(sv, common);
      const natural = await figureOverhead(sv, common);
      await throughput({ index: INDEX_BIG, docs: BIG });
      await longPartitions(await batchSize());
      await verification();
      printAbort(natural);
      printOrchestration();
      section = 2.5;
      for (const line of partitioned.lines) out(line);
      rows.push(...partitioned.rows);
      printMemory(worked, big, moduleBaseline);
      // Last: it loads aws-cdk-lib, which would weigh on the heap figures above.
      figureBundles();
    }

    // Rows in figure order.
    rows.sort((a, b) => a.figure.localeCompare(b.figure, 'en', { numeric: true }));
    section = 7;
    out(`## Summary (one bench run, ${s1((performance.now() - t0) / 1000)} s; OpenSearch ${os.version}, Elasticsearch ${es.version}, ${(await import('node:os')).cpus().length} cores)`);
    const w = Math.max(...rows.map((r) => r.figure.length));
    const v = Math.max(...rows.map((r) => r.value.length));
    const g = Math.max(...rows.map((r) => r.goal.length));
    out(`${'figure'.padEnd(w)}  ${'value'.padEnd(v)}  ${'goal'.padEnd(g)}  met?`);
    out(`${'-'.repeat(w)}  ${'-'.repeat(v)}  ${'-'.repeat(g)}  ----`);
    for (const r of rows) out(`${r.figure.padEnd(w)}  ${r.value.padEnd(v)}  ${r.goal.padEnd(g)}  ${r.met === null ? '-' : r.met ? 'yes' : 'NO'}`);
    printSections();
  } finally {
    say('\nStopping the local servers...');
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    say(`bench failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);

/** The task of a run without partitions (its one whole-index task), as ReconcileRun recorded it on the run. */
function wholeIndexTask(record: RunRecord | undefined): { taskId: string; launchedAt?: string } | undefined {
  const parts = record?.partitions as ReadonlyArray<{ id: string; taskIds: string[]; launchedAt?: string }> | undefined;
  const whole = parts?.length === 1 ? parts[0] : undefined;
  const taskId = whole?.taskIds.at(-1);
  return whole && taskId ? { taskId, ...(whole.launchedAt ? { launchedAt: whole.launchedAt } : {}) } : undefined;
}
