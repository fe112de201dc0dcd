import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PartitionItem, PollSnapshot, RunConcurrency, RunRecord, RunThrottle } from '../lambdas/shared/ledger/ledger';
import type { Difference } from '../lambdas/shared/checks/verification';
import { thousands, type Counters } from '../lambdas/shared/checks/counters';
import { sumCounters, WHOLE_INDEX_PARTITION_ID } from '../lambdas/shared/planning/partitions';
import { isPartitioned, type RunConfig } from '../lambdas/shared/runtime/config';

/**
 * A run's receipts under `<dir>/<run id>/`: JSON, Markdown and a self-contained HTML page with the
 * created / updated / version_conflicts breakdown over time. Built from the ledger alone, so they can
 * be rebuilt months later to answer "what happened in that window?".
 */

export interface RunSummary {
  readonly runId: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly error: string | null;
  readonly cause: string | null;
  readonly dryRun: boolean;
  /** A verify-only run: full verification (or the sample) of the index pair, no reindex, nothing written. */
  readonly verifyOnly: boolean;
  readonly targetIndex: string | null;
  readonly fingerprint: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly header: readonly string[];
  readonly baselines: unknown;
  readonly probe: unknown;
  readonly counters: Counters | null;
  readonly arithmetic: string | null;
  readonly parity: unknown;
  readonly foreignTasks: readonly unknown[];
  readonly taskId: string | null;
  /** When the reindex was launched: the chart starts there, at zero. */
  readonly launchedAt: string | null;
  /** Partitioned runs: each partition's range, task id(s), status and counters. */
  readonly partitions?: readonly PartitionSummary[];
  /** Partitioned runs: maxConcurrency, the concurrency the run ended at, and each time the target's rejections lowered it. */
  readonly concurrency?: ConcurrencySummary;
  /** The tasks rethrottled because the target rejected their writes (run record `throttle`). */
  readonly throttle?: RunThrottle;
  /** The last stall the poll loop reported (run record `stall`). */
  readonly stall?: StallSummary;
}

/** What {@link adjustmentLines} reads: a summary, or a running run's record and partition items. */
export type Adjustments = Pick<RunSummary, 'concurrency' | 'throttle' | 'stall' | 'partitions'>;

export interface ConcurrencySummary {
  /** maxConcurrency of the input. */
  readonly max: number;
  readonly current: number;
  readonly changes: RunConcurrency['changes'];
}

/** No counter change for `guards.stallMinutes`, as PollTask recorded it (older records: `at` and `processed` only). */
export interface StallSummary {
  /** When the stall was reported. */
  readonly at: string;
  /** When the counters last changed. */
  readonly since?: string;
  readonly processed: number;
  readonly total?: number;
  readonly taskId?: string;
  readonly partitionId?: string;
}

export interface PartitionSummary {
  readonly id: string;
  readonly kind: string;
  readonly start?: string;
  readonly end?: string;
  readonly expected: number;
  readonly status: string;
  readonly attempts: number;
  readonly taskIds: readonly string[];
  /** When its current (last) task was launched. */
  readonly launchedAt?: string;
  readonly counters?: Counters;
  /** Each failed attempt: its error name and cause. */
  readonly errors?: ReadonlyArray<{ readonly attempt: number; readonly error: string; readonly cause?: string }>;
  /** The last stall reported on this partition's task. */
  readonly stall?: StallSummary;
}

export interface Receipts {
  readonly json: string;
  readonly markdown: string;
  readonly html: string;
}

/**
 * The partition summaries from the ledger's partition items, for a run that ended before ReconcileRun
 * recorded them on the run (a failure or a stop while its partitions ran).
 */
export function partitionSummaries(items: readonly PartitionItem[]): PartitionSummary[] {
  return items.map((p) => ({
    id: p.partitionId,
    kind: p.kind,
    ...(p.start ? { start: p.start } : {}),
    ...(p.end ? { end: p.end } : {}),
    expected: p.expected,
    status: p.status,
    attempts: p.attempts,
    taskIds: [...p.taskIds],
    ...(p.launchedAt ? { launchedAt: p.launchedAt } : {}),
    ...(p.counters ? { counters: pickCounters(p.counters) } : {}),
    ...(p.errors.length ? { errors: p.errors } : {}),
    ...(p.stall ? { stall: p.stall } : {}),
  }));
}

function pickCounters(c: Counters): Counters {
  return { total: c.total, created: c.created, updated: c.updated, deleted: c.deleted, noops: c.noops, versionConflicts: c.versionConflicts, failures: c.failures };
}

/**
 * `partitions`: the ledger's partition items, used when the run record holds no partition summaries
 * (the run ended before ReconcileRun). A run without partitions ran one whole-index task: its task is
 * shown as the run's, with no partition table.
 */
export function summarise(
  record: RunRecord | undefined,
  outcome: { runId: string; status: RunSummary['status']; error: string | null; cause: string | null },
  partitions?: readonly PartitionItem[],
): RunSummary {
  const counters = record?.counters as (Counters & { arithmetic?: string }) | undefined;
  const tasks = record?.partitions ? record.partitions : partitions?.length ? partitionSummaries(partitions) : undefined;
  const whole = tasks?.length === 1 && tasks[0]!.id === WHOLE_INDEX_PARTITION_ID ? tasks[0] : undefined;
  return {
    runId: outcome.runId,
    status: outcome.status,
    error: outcome.error,
    cause: outcome.cause,
    dryRun: record?.dryRun ?? true,
    verifyOnly: (record?.config as { verifyOnly?: boolean } | undefined)?.verifyOnly === true,
    targetIndex: record?.targetIndex ?? null,
    fingerprint: record?.fingerprint ?? null,
    startedAt: record?.startedAt ?? null,
    finishedAt: record?.finishedAt ?? null,
    header: record?.header ?? [],
    baselines: record?.baselines ?? null,
    probe: record?.probe ?? null,
    counters: counters
      ? {
          total: counters.total,
          created: counters.created,
          updated: counters.updated,
          deleted: counters.deleted,
          noops: counters.noops,
          versionConflicts: counters.versionConflicts,
          failures: counters.failures,
        }
      : null,
    arithmetic: counters?.arithmetic ?? null,
    parity: record?.parity ?? null,
    foreignTasks: record?.foreignTasks ?? [],
    taskId: whole?.taskIds.at(-1) ?? null,
    launchedAt: whole?.launchedAt ?? null,
    ...(tasks && !whole ? { partitions: tasks } : {}),
    ...runAdjustments(record),
  };
}

/** What the run changed or noticed on its way, from its record: concurrency (partitioned runs), rethrottles, the last stall. */
export function runAdjustments(record: RunRecord | undefined): Pick<RunSummary, 'concurrency' | 'throttle' | 'stall'> {
  if (!record) return {};
  const config = record.config as Partial<Pick<RunConfig, 'maxConcurrency' | 'partitions'>>;
  // A live partitioned run (a dry run launches nothing: no concurrency to speak of).
  const partitioned = !record.dryRun && isPartitioned(config);
  const lowered = record.concurrency as RunConcurrency | undefined;
  const max = lowered?.changes[0]?.from ?? config.maxConcurrency ?? lowered?.current ?? 1;
  const throttle = record.throttle as RunThrottle | undefined;
  return {
    ...(partitioned ? { concurrency: { max, current: lowered?.current ?? max, changes: lowered?.changes ?? [] } } : {}),
    ...(throttle?.changes.length ? { throttle } : {}),
    ...(record.stall ? { stall: record.stall } : {}),
  };
}

const times = (n: number) => (n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`);
const isoSeconds = (at: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(at) ? `${at.slice(0, 19)}Z` : at);
const rate = (rps: number | null) => (rps === null ? 'unthrottled' : `${thousands(rps)} docs/s`);

/** The stalls to show: each partition's last one when the partitions carry them, else the run's last. */
export function stallsOf(s: Adjustments): StallSummary[] {
  const own = (s.partitions ?? []).flatMap((p) => (p.stall ? [{ ...p.stall, partitionId: p.id }] : []));
  return own.length > 0 ? own : s.stall ? [s.stall] : [];
}

/** A partition as the receipts name it: none for the one task of a run without partitions. */
const shownPartition = (id: string | null | undefined): string | undefined => (id && id !== WHOLE_INDEX_PARTITION_ID ? id : undefined);

/** `no counter change on task n:5 (p02) since …Z, 4,000 of 16,400 processed` (and when it was reported, unless `reported: false`). */
export function stallText(st: Omit<StallSummary, 'at'> & { readonly at?: string }, options: { reported?: boolean } = {}): string {
  const partition = shownPartition(st.partitionId);
  const where = [st.taskId ? `task ${st.taskId}` : 'the task', partition ? `(${partition})` : ''].filter(Boolean).join(' ');
  const count = `${thousands(st.processed)}${st.total ? ` of ${thousands(st.total)}` : ''} processed`;
  const reported = options.reported !== false && st.at ? `, reported ${isoSeconds(st.at)}` : '';
  return `no counter change on ${where}${st.since ? ` since ${isoSeconds(st.since)}` : ''}${reported}, ${count}`;
}

/** One concurrency change: `4 -> 3  p02  <reason>`. */
export function concurrencyChangeText(ch: Omit<RunConcurrency['changes'][number], 'at'>): string {
  return `${ch.from} -> ${ch.to}  ${ch.partitionId}  ${ch.reason}`;
}

/** One rethrottle: `task n:9  p01  unthrottled -> 250 docs/s  <reason>` (no partition for a run without partitions). */
export function throttleChangeText(ch: Omit<RunThrottle['changes'][number], 'at'>): string {
  const partition = shownPartition(ch.partitionId);
  return `task ${ch.taskId}${partition ? `  ${partition}` : ''}  ${rate(ch.from)} -> ${rate(ch.to)}  ${ch.reason}`;
}

/**
 * What the run changed or noticed on its way, for the terminal and the Markdown receipt: a partitioned
 * run's concurrency (and each time the target's rejections lowered it), each task rethrottled, the
 * stalls. Empty for a single-task run that met none of them.
 */
export function adjustmentLines(s: Adjustments): string[] {
  const lines: string[] = [];
  const c = s.concurrency;
  if (c) {
    lines.push(
      c.changes.length === 0
        ? `concurrency ${c.max} (maxConcurrency; never lowered)`
        : `concurrency ${c.max} -> ${c.current}: lowered ${times(c.changes.length)} because the target rejected writes`,
    );
    for (const ch of c.changes) lines.push(`  ${isoSeconds(ch.at)}  ${concurrencyChangeText(ch)}`);
  }
  const t = s.throttle?.changes ?? [];
  if (t.length > 0) {
    lines.push(`rethrottled ${times(t.length)} because the target rejected writes`);
    for (const ch of t) lines.push(`  ${isoSeconds(ch.at)}  ${throttleChangeText(ch)}`);
  }
  for (const st of stallsOf(s)) lines.push(`stalled: ${stallText(st)}`);
  return lines;
}

const mdCell = (text: string) => text.replace(/\|/g, '\\|');

/** The same in Markdown: a table of the concurrency changes, one of the rethrottles, the stalls. */
export function adjustmentMarkdown(s: Adjustments): string[] {
  const out: string[] = [];
  const c = s.concurrency;
  if (c) {
    out.push(
      c.changes.length === 0
        ? `Partition concurrency **${c.max}** (maxConcurrency), never lowered.`
        : `Partition concurrency **${c.max} → ${c.current}**: lowered ${times(c.changes.length)} because the target rejected writes.`,
      '',
    );
    if (c.changes.length > 0) {
      out.push('| at (UTC) | from | to | partition | reason |', '|---|---:|---:|---|---|');
      for (const ch of c.changes) out.push(`| ${isoSeconds(ch.at)} | ${ch.from} | ${ch.to} | ${mdCell(ch.partitionId)} | ${mdCell(ch.reason)} |`);
      out.push('');
    }
  }
  const t = s.throttle?.changes ?? [];
  if (t.length > 0) {
    out.push(`Rethrottled ${times(t.length)} because the target rejected writes.`, '');
    out.push('| at (UTC) | task | partition | from | to | reason |', '|---|---|---|---:|---:|---|');
    for (const ch of t) out.push(`| ${isoSeconds(ch.at)} | \`${ch.taskId}\` | ${shownPartition(ch.partitionId) ?? '—'} | ${rate(ch.from)} | ${rate(ch.to)} | ${mdCell(ch.reason)} |`);
    out.push('');
  }
  const stalls = stallsOf(s);
  if (stalls.length > 0) {
    for (const st of stalls) out.push(`- stalled: ${stallText(st)}`);
    out.push('');
  }
  return out;
}

/** The same in HTML. */
function adjustmentHtml(s: Adjustments): string {
  const parts: string[] = [];
  const c = s.concurrency;
  if (c) {
    parts.push(
      c.changes.length === 0
        ? `<p>Partition concurrency <b>${c.max}</b> (maxConcurrency), never lowered.</p>`
        : `<p class="changed">Partition concurrency <b>${c.max} → ${c.current}</b>: lowered ${times(c.changes.length)} because the target rejected writes.</p>`,
    );
    if (c.changes.length > 0) {
      parts.push(
        '<table class="changes"><thead><tr><th>at (UTC)</th><th>from</th><th>to</th><th>partition</th><th>reason</th></tr></thead><tbody>',
        ...c.changes.map((ch) => `<tr><td>${escapeHtml(isoSeconds(ch.at))}</td><td class="n">${ch.from}</td><td class="n">${ch.to}</td><td>${escapeHtml(ch.partitionId)}</td><td>${escapeHtml(ch.reason)}</td></tr>`),
        '</tbody></table>',
      );
    }
  }
  const t = s.throttle?.changes ?? [];
  if (t.length > 0) {
    parts.push(
      `<p class="changed">Rethrottled ${times(t.length)} because the target rejected writes.</p>`,
      '<table class="changes"><thead><tr><th>at (UTC)</th><th>task</th><th>partition</th><th>from</th><th>to</th><th>reason</th></tr></thead><tbody>',
      ...t.map(
        (ch) =>
          `<tr><td>${escapeHtml(isoSeconds(ch.at))}</td><td><code>${escapeHtml(ch.taskId)}</code></td><td>${escapeHtml(shownPartition(ch.partitionId) ?? '—')}</td>` +
          `<td class="n">${escapeHtml(rate(ch.from))}</td><td class="n">${escapeHtml(rate(ch.to))}</td><td>${escapeHtml(ch.reason)}</td></tr>`,
      ),
      '</tbody></table>',
    );
  }
  const stalls = stallsOf(s);
  if (stalls.length > 0) parts.push(`<ul class="stalls">${stalls.map((st) => `<li>stalled: ${escapeHtml(stallText(st))}</li>`).join('')}</ul>`);
  return parts.join('\n');
}

/** The heading of that section, in both receipts. */
export const ADJUSTMENTS_HEADING = 'Concurrency, throttle and stalls';

/** A partition's range as the receipts write it: `[start day, end day)`, open ends as ±∞. */
export function partitionRange(p: PartitionSummary): string {
  return p.kind === 'range' ? `[${p.start?.slice(0, 10) ?? '-∞'}, ${p.end?.slice(0, 10) ?? '+∞'})` : p.kind === 'missing-date' ? 'no date field' : 'all';
}

/** Status, with the last failed attempt's error name while the partition is not SUCCEEDED. */
function partitionStatus(p: PartitionSummary): string {
  const last = p.errors?.at(-1);
  return last && p.status !== 'SUCCEEDED' ? `${p.status} (${last.error})` : p.status;
}

/** The total row of the partition table: every partition's counters, expected counts, attempts and tasks. */
export function partitionTotals(partitions: readonly PartitionSummary[]): { expected: number; attempts: number; tasks: number; counters: Counters } {
  return {
    expected: partitions.reduce((n, p) => n + p.expected, 0),
    attempts: partitions.reduce((n, p) => n + p.attempts, 0),
    tasks: partitions.reduce((n, p) => n + p.taskIds.length, 0),
    counters: sumCounters(partitions.map((p) => p.counters)),
  };
}

/** One line per partition: range, status, attempts, task ids, and its counters; then their total. */
export function partitionLines(summary: Pick<RunSummary, 'partitions'>): string[] {
  if (!summary.partitions) return [];
  const row = (id: string, range: string, status: string, expected: number, c: Counters | undefined, attempts: string, tasks: string) =>
    `${id.padEnd(10)}${range.padEnd(26)}${status.padEnd(11)}${thousands(expected).padStart(10)}` +
    `${thousands(c?.total ?? 0).padStart(10)}${thousands(c?.created ?? 0).padStart(10)}` +
    `${thousands(c?.updated ?? 0).padStart(10)}${thousands(c?.versionConflicts ?? 0).padStart(11)}` +
    `  ${attempts.padStart(8)}  ${tasks}`;
  const totals = partitionTotals(summary.partitions);
  return [
    `${'partition'.padEnd(10)}${'range'.padEnd(26)}${'status'.padEnd(11)}${'expected'.padStart(10)}${'total'.padStart(10)}${'created'.padStart(10)}${'updated'.padStart(10)}${'conflicts'.padStart(11)}  attempts  task(s)`,
    ...summary.partitions.map((p) => row(p.id, partitionRange(p), partitionStatus(p), p.expected, p.counters, String(p.attempts), p.taskIds.join(' '))),
    row('total', '', '', totals.expected, totals.counters, String(totals.attempts), `${totals.tasks} task(s)`),
  ];
}

/** The partition table in Markdown: range, status, attempts, task ids and counters of each, then the total row. */
export function partitionMarkdownTable(partitions: readonly PartitionSummary[]): string[] {
  const cells = (c: Counters | undefined) => [c?.total ?? 0, c?.created ?? 0, c?.updated ?? 0, c?.versionConflicts ?? 0, c?.failures ?? 0].map(thousands);
  const totals = partitionTotals(partitions);
  return [
    '| partition | range | status | attempts | task(s) | expected | total | created | updated | version_conflicts | failures |',
    '|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|',
    ...partitions.map(
      (p) =>
        `| ${p.id} | \`${partitionRange(p)}\` | ${partitionStatus(p)} | ${p.attempts} | ${p.taskIds.map((t) => `\`${t}\``).join(' ')} | ` +
        `${thousands(p.expected)} | ${cells(p.counters).join(' | ')} |`,
    ),
    `| **total** | | | ${totals.attempts} | ${totals.tasks} | ${thousands(totals.expected)} | ${cells(totals.counters).map((v) => `**${v}**`).join(' | ')} |`,
  ];
}

/** The partition table in HTML, with the total row in its footer. */
function partitionHtmlTable(partitions: readonly PartitionSummary[]): string {
  const num = (n: number) => `<td class="n">${thousands(n)}</td>`;
  const counters = (c: Counters | undefined) => [c?.total ?? 0, c?.created ?? 0, c?.updated ?? 0, c?.versionConflicts ?? 0, c?.failures ?? 0].map(num).join('');
  const totals = partitionTotals(partitions);
  return [
    '<table class="partitions">',
    '<thead><tr><th>partition</th><th>range</th><th>status</th><th>attempts</th><th>task(s)</th><th>expected</th><th>total</th><th>created</th><th>updated</th><th>version_conflicts</th><th>failures</th></tr></thead>',
    '<tbody>',
    ...partitions.map(
      (p) =>
        `<tr><td>${escapeHtml(p.id)}</td><td><code>${escapeHtml(partitionRange(p))}</code></td><td>${escapeHtml(partitionStatus(p))}</td>` +
        `<td class="n">${p.attempts}</td><td>${p.taskIds.map((t) => `<code>${escapeHtml(t)}</code>`).join(' ')}</td>${num(p.expected)}${counters(p.counters)}</tr>`,
    ),
    '</tbody>',
    `<tfoot><tr><th>total</th><td></td><td></td><td class="n">${totals.attempts}</td><td>${totals.tasks} task(s)</td>${num(totals.expected)}${counters(totals.counters)}</tr></tfoot>`,
    '</table>',
  ].join('\n');
}

/** One small breakdown chart per partition from its own snapshots (every attempt), with one legend for all. */
export function partitionCharts(partitions: readonly PartitionSummary[], polls: readonly PollSnapshot[]): string {
  const legend = SERIES.map((s) => `<span><i style="background:${s.color}"></i>${escapeHtml(s.label)}</span>`).join(' ');
  const charts = partitions.map((p) => {
    const own = polls.filter((q) => q.partitionId === p.id);
    return (
      `<figure>${breakdownSvg(own, 280, 150, { compact: true })}` +
      `<figcaption>${escapeHtml(p.id)} <code>${escapeHtml(partitionRange(p))}</code> ${escapeHtml(partitionStatus(p))}, ` +
      `${thousands(p.counters?.total ?? p.expected)} documents${p.attempts > 1 ? `, ${p.attempts} attempts` : ''}</figcaption></figure>`
    );
  });
  return `<p class="legend">${legend}</p>\n<div class="charts">\n${charts.join('\n')}\n</div>`;
}

/**
 * A partitioned run's snapshots are per partition (`partitionId`): the run's series is, at each
 * snapshot, the sum of every partition's latest counters. Unpartitioned series come back unchanged.
 */
export function runSeries(polls: readonly PollSnapshot[]): PollSnapshot[] {
  if (!polls.some((p) => typeof p.partitionId === 'string')) return [...polls];
  const latest = new Map<string, PollSnapshot>();
  const keys = ['total', 'created', 'updated', 'deleted', 'noops', 'versionConflicts', 'failures'] as const;
  return [...polls]
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .map((p) => {
      latest.set(String(p.partitionId), p);
      const sum: Record<string, number> = {};
      for (const key of keys) sum[key] = [...latest.values()].reduce((n, q) => n + Number(q[key] ?? 0), 0);
      return { at: p.at, partitions: latest.size, ...sum };
    });
}

export function writeReceipts(dir: string, summary: RunSummary, polls: readonly PollSnapshot[]): Receipts {
  const folder = resolve(dir, summary.runId);
  mkdirSync(folder, { recursive: true });
  const paths = { json: join(folder, 'run.json'), markdown: join(folder, 'receipt.md'), html: join(folder, 'receipt.html') };
  writeFileSync(paths.json, `${JSON.stringify({ ...summary, polls }, null, 2)}\n`);
  writeFileSync(paths.markdown, renderMarkdown(summary, runSeries(polls)));
  writeFileSync(paths.html, renderHtml(summary, runSeries(polls), polls));
  return paths;
}

export function countersTable(summary: RunSummary): string[] {
  const c = summary.counters;
  if (!c) return ['(no counters: the run ended before its reindex finished)'];
  const row = (name: string, value: number, note = '') => `${name.padEnd(18)} ${thousands(value).padStart(12)}${note}`;
  return [
    row('total', c.total),
    row('created', c.created),
    row('updated', c.updated),
    row('deleted', c.deleted),
    row('noops', c.noops),
    row('version_conflicts', c.versionConflicts, '   (target copy equal or newer: kept)'),
    row('failures', c.failures),
    summary.arithmetic ?? '',
  ];
}

export function parityLines(parity: unknown): string[] {
  const p = parity as
    | {
        ok: boolean;
        mode?: 'full' | 'sample';
        counts: { sourceCount: number; targetCount: number; drift: number; tolerance: number };
        driftingDays: Array<{ day: string; source: number; target: number }>;
        forward?: { checked: number; missing: string[]; behind: unknown[] };
        reverse?: { checked: number; targetOnly: string[] };
        verification?: {
          compared: number;
          classes: Record<'equal' | 'targetNewer' | 'sourceNewerByDesign' | 'regression' | 'missing' | 'targetOnly' | 'settled', number>;
          ranges: number;
          splits: number;
          invocations: number;
          differences?: string;
        };
      }
    | null
    | undefined;
  if (!p) return ['parity: not checked'];
  const common = [
    `parity: ${p.ok ? 'OK' : 'FAILED'}${p.verification ? ' (full verification: every document)' : p.mode === 'sample' ? ' (sample)' : ''}`,
    `  counts   source ${thousands(p.counts.sourceCount)}, target ${thousands(p.counts.targetCount)}, drift ${(p.counts.drift * 100).toFixed(4)}% (tolerance ${(p.counts.tolerance * 100).toFixed(4)}%)`,
    `  days     ${p.driftingDays.length === 0 ? 'no drifting day' : p.driftingDays.map((d) => `${d.day} (source ${d.source}, target ${d.target})`).join(', ')}`,
  ];
  const v = p.verification;
  if (v) {
    const c = v.classes;
    return [
      ...common,
      `  compared ${thousands(v.compared)} source documents by id and version on the target, and every target document on the source`,
      `  classes  ${thousands(c.equal)} equal, ${thousands(c.targetNewer)} newer on the target (kept)` +
        (c.sourceNewerByDesign > 0 ? `, ${thousands(c.sourceNewerByDesign)} older on the target by design (create-only)` : '') +
        `, ${thousands(c.regression)} regressed, ${thousands(c.missing)} missing, ${thousands(c.targetOnly)} on the target only` +
        (c.settled > 0 ? ` (${thousands(c.settled)} different at first look, equal on the confirming lookup)` : ''),
      `  ranges   ${thousands(v.ranges)} verified${v.splits > 0 ? ` (${thousands(v.splits)} split for density)` : ''} in ${thousands(v.invocations)} invocation(s)`,
      ...(v.differences ? [`  listed   every differing id: ${v.differences}`] : []),
    ];
  }
  if (!p.forward || !p.reverse) return common;
  return [
    ...common,
    `  forward  ${p.forward.checked - p.forward.missing.length - p.forward.behind.length}/${p.forward.checked} source ids found on the target at a version at least the source's`,
    `  reverse  ${p.reverse.checked - p.reverse.targetOnly.length}/${p.reverse.checked} target ids found on the source`,
  ];
}

/** Where a run's full verification listed its differing ids (an s3:// or file:// URL, or a folder), if it found any. */
export function differencesLocation(summary: RunSummary): string | undefined {
  const location = (summary.parity as { verification?: { differences?: unknown } } | null)?.verification?.differences;
  return typeof location === 'string' ? location : undefined;
}

/** Every differing id of a run, one JSON line each, beside the receipts: `<dir>/<run id>/differences.jsonl`. */
export function writeDifferences(dir: string, runId: string, differences: readonly Difference[]): string {
  const folder = resolve(dir, runId);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, 'differences.jsonl');
  writeFileSync(path, differences.map((d) => JSON.stringify(d)).join('\n') + (differences.length > 0 ? '\n' : ''));
  return path;
}

function renderMarkdown(s: RunSummary, polls: readonly PollSnapshot[]): string {
  return [
    `# safe-reindex run ${s.runId}`,
    '',
    `**${s.status}**${s.error ? ` — \`${s.error}\`` : ''}${s.verifyOnly ? ' (verify only)' : s.dryRun ? ' (dry run)' : ''}`,
    '',
    ...(s.cause ? [`> ${s.cause}`, ''] : []),
    `target index: \`${s.targetIndex ?? '?'}\` · ${taskText(s, (t) => `\`${t}\``)} · started ${s.startedAt ?? '?'} · finished ${s.finishedAt ?? '?'}`,
    '',
    '## Configuration header',
    '',
    '```',
    ...s.header,
    '```',
    '',
    '## Counters',
    '',
    '```',
    ...countersTable(s),
    '```',
    '',
    ...(s.partitions ? [`## Partitions (${s.partitions.length})`, '', ...partitionMarkdownTable(s.partitions), ''] : []),
    ...(adjustmentLines(s).length > 0 ? [`## ${ADJUSTMENTS_HEADING}`, '', ...adjustmentMarkdown(s)] : []),
    '## Parity',
    '',
    '```',
    ...parityLines(s.parity),
    '```',
    '',
    `## Poll snapshots (${polls.length})`,
    '',
    '| at (UTC) | total | created | updated | version_conflicts | failures |',
    '|---|---:|---:|---:|---:|---:|',
    ...polls.map((p) => `| ${p.at} | ${p.total} | ${p.created} | ${p.updated} | ${p.versionConflicts} | ${p.failures} |`),
    '',
  ].join('\n');
}

const SERIES = [
  { key: 'created', label: 'created', color: '#2f6fb3' },
  { key: 'updated', label: 'updated', color: '#e08a1e' },
  { key: 'versionConflicts', label: 'version_conflicts (kept)', color: '#4a9a5b' },
] as const;

/** Stacked areas of the three counters over time: the breakdown, not a progress bar. */
export function breakdownSvg(polls: readonly PollSnapshot[], width = 720, height = 280, options: { compact?: boolean } = {}): string {
  const compact = options.compact === true;
  const pad = compact ? { left: 52, right: 10, top: 12, bottom: 22 } : { left: 70, right: 20, top: 20, bottom: 40 };
  const points = polls.map((p) => ({
    t: Date.parse(p.at),
    values: SERIES.map((s) => Number((p as Record<string, unknown>)[s.key] ?? 0)),
  }));
  if (points.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="20" y="40">no poll snapshots</text></svg>`;
  const t0 = points[0]!.t;
  const t1 = Math.max(points[points.length - 1]!.t, t0 + 1);
  const maxY = Math.max(1, ...points.map((p) => p.values.reduce((a, b) => a + b, 0)));
  const x = (t: number) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - (v / maxY) * (height - pad.top - pad.bottom);
  const areas = SERIES.map((series, i) => {
    const lower = points.map((p) => p.values.slice(0, i).reduce((a, b) => a + b, 0));
    const upper = points.map((p, j) => lower[j]! + p.values[i]!);
    const top = points.map((p, j) => `${x(p.t).toFixed(1)},${y(upper[j]!).toFixed(1)}`);
    const bottom = points.map((p, j) => `${x(p.t).toFixed(1)},${y(lower[j]!).toFixed(1)}`).reverse();
    return `<polygon points="${[...top, ...bottom].join(' ')}" fill="${series.color}" fill-opacity="0.8"><title>${series.label}</title></polygon>`;
  });
  const legend = compact
    ? []
    : SERIES.map(
        (s, i) => `<rect x="${pad.left + i * 200}" y="${height - 18}" width="12" height="12" fill="${s.color}"/><text x="${pad.left + i * 200 + 18}" y="${height - 8}" font-size="12">${s.label}</text>`,
      );
  const seconds = Math.round((t1 - t0) / 1000);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<line x1="${pad.left}" y1="${y(0)}" x2="${width - pad.right}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${y(0)}" stroke="#333"/>`,
    `<text x="${pad.left - 6}" y="${pad.top + 4}" font-size="11" text-anchor="end">${thousands(maxY)}</text>`,
    `<text x="${pad.left - 6}" y="${y(0)}" font-size="11" text-anchor="end">0</text>`,
    `<text x="${width - pad.right}" y="${y(0) + 14}" font-size="11" text-anchor="end">+${seconds} s</text>`,
    `<text x="${pad.left}" y="${y(0) + 14}" font-size="11">${compact ? new Date(t0).toISOString().slice(11, 19) : `${new Date(t0).toISOString().slice(0, 19)}Z`}</text>`,
    ...areas,
    ...legend,
    '</svg>',
  ].join('\n');
}

/** The series from the launch (all counters zero) on, so the chart shows how the run began. */
export function fromLaunch(launchedAt: string | null, polls: readonly PollSnapshot[]): PollSnapshot[] {
  const first = polls[0];
  if (!launchedAt || !first || Date.parse(launchedAt) >= Date.parse(first.at)) return [...polls];
  return [{ at: launchedAt, total: 0, created: 0, updated: 0, versionConflicts: 0, failures: 0 }, ...polls];
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** `task: <id>`, or for a partitioned run the number of its partitions' tasks. */
function taskText(s: RunSummary, code: (text: string) => string): string {
  if (s.partitions) return `tasks: ${partitionTotals(s.partitions).tasks} for ${s.partitions.length} partitions (below)`;
  return `task: ${code(s.taskId ?? 'none')}`;
}

/** `polls`: the run's series; `raw`: the snapshots as recorded (per partition for a partitioned run). */
function renderHtml(s: RunSummary, polls: readonly PollSnapshot[], raw: readonly PollSnapshot[] = polls): string {
  const pre = (lines: readonly string[]) => `<pre>${escapeHtml(lines.join('\n'))}</pre>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>safe-reindex ${escapeHtml(s.runId)}</title>
<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto}
.status{font-weight:bold;color:${s.status === 'SUCCEEDED' ? '#2b7a3d' : '#b3261e'}}
table.partitions{border-collapse:collapse;font-size:13px}table.partitions th,table.partitions td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}
table.partitions .n{text-align:right}table.partitions tfoot th,table.partitions tfoot td{font-weight:bold;border-top:2px solid #333}
.charts{display:flex;flex-wrap:wrap;gap:8px}.charts figure{margin:0;width:280px}.charts figcaption{font-size:12px}
.legend span{margin-right:1em;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
table.changes{border-collapse:collapse;font-size:13px}table.changes th,table.changes td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}
table.changes .n{text-align:right}.changed{color:#9a5b00}</style></head><body>
<h1>safe-reindex run ${escapeHtml(s.runId)}</h1>
<p class="status">${s.status}${s.error ? ` — ${escapeHtml(s.error)}` : ''}${s.verifyOnly ? ' (verify only)' : s.dryRun ? ' (dry run)' : ''}</p>
${s.cause ? `<blockquote>${escapeHtml(s.cause)}</blockquote>` : ''}
<p>target index <code>${escapeHtml(s.targetIndex ?? '?')}</code>, ${taskText(s, (t) => `<code>${escapeHtml(t)}</code>`)}, started ${escapeHtml(s.startedAt ?? '?')}, finished ${escapeHtml(s.finishedAt ?? '?')}</p>
<h2>Breakdown over time</h2>
${breakdownSvg(fromLaunch(s.launchedAt, polls))}
<h2>Counters</h2>
${pre(countersTable(s))}
${s.partitions ? `<h2>Partitions (${s.partitions.length})</h2>\n${partitionHtmlTable(s.partitions)}\n<h2>Breakdown over time per partition</h2>\n${partitionCharts(s.partitions, raw)}` : ''}
${adjustmentLines(s).length > 0 ? `<h2>${ADJUSTMENTS_HEADING}</h2>\n${adjustmentHtml(s)}` : ''}
<h2>Parity</h2>
${pre(parityLines(s.parity))}
<h2>Configuration header</h2>
${pre(s.header)}
</body></html>
`;
}
