import type { CanonicalRequest } from './canonical-request';
import type { Mode, ParityMode } from '../runtime/config';
import { describeCoverage, type Coverage } from '../checks/coverage';
import { thousands } from '../checks/counters';
import type { ProbeResult } from '../checks/probe';
import { AUTO_BATCH_TARGET_BYTES, REMOTE_RESPONSE_BUFFER_BYTES, SCROLL_BATCH_CEILING, type AutoBatchSize } from './batch-size';

/**
 * The configuration header: what the operator reads and approves in a dry run, and sees again at launch.
 * It never holds a secret: the source credentials arrive as a reference and URLs lose their userinfo.
 */

/** The `_reindex` settings exactly as the canonical request sends them (absent = not sent). */
export interface SentSettings {
  readonly versionType?: string;
  readonly opType?: string;
  readonly conflicts?: string;
  readonly batchSize: number | 'auto';
  readonly requestsPerSecond: number | null;
  readonly query: unknown;
}

export type ApprovalStatus =
  | { readonly kind: 'dry-run' }
  | { readonly kind: 'approved'; readonly dryRunId: string; readonly approvedAt: string; readonly validUntil: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'expired'; readonly dryRunId: string; readonly approvedAt: string; readonly validUntil: string };

export interface HeaderInput {
  readonly runId: string;
  readonly dryRun: boolean;
  readonly source: {
    readonly url: string;
    readonly index: string;
    /** A secret ARN or `env:SAFE_REINDEX_SOURCE_USERNAME/PASSWORD`; null when the source needs none. */
    readonly credentialsReference: string | null;
  };
  readonly target: { readonly endpoint: string; readonly index: string };
  readonly mode: Mode;
  readonly sent: SentSettings;
  /** `batchSize: "auto"`: how the dry run resolved it (a live run shows its approval's); null when no dry run has yet. */
  readonly batch?: AutoBatchSize | null;
  readonly sourceCount: number;
  readonly targetCount: number;
  readonly coverage: Coverage;
  readonly probe: ProbeResult | null;
  readonly fingerprint: string;
  readonly approval: ApprovalStatus;
  /** The target's `index.gc_deletes` now (null: the index does not exist yet) and the run's retention. */
  /** What CheckParity runs after the reindex (part of the fingerprint when `sample`). @default full */
  readonly parity?: { readonly mode: ParityMode; readonly sampleSize: number; readonly concurrency: number };
  readonly tombstones?: { readonly current: { readonly explicit: string | null; readonly effective: string } | null; readonly retention: string; readonly raise: boolean };
}

/** The header's view of a canonical request: its settings, never its credential fields. */
export function sentSettings(request: CanonicalRequest): SentSettings {
  const { body, params } = request;
  return {
    ...(body.dest.version_type === undefined ? {} : { versionType: body.dest.version_type }),
    ...(body.dest.op_type === undefined ? {} : { opType: body.dest.op_type }),
    ...(body.conflicts === undefined ? {} : { conflicts: body.conflicts }),
    batchSize: body.source.size,
    requestsPerSecond: params.requests_per_second ?? null,
    query: body.source.query ?? null,
  };
}

export function renderHeader(input: HeaderInput): string[] {
  return [
    `safe-reindex configuration header`,
    line('run id', input.runId),
    line('run', input.dryRun ? 'DRY RUN (records the approval, launches nothing)' : 'LIVE (launches the reindex)'),
    line('source', `${withoutUserinfo(input.source.url)} index ${input.source.index}`),
    line('source query', input.sent.query === null || input.sent.query === undefined ? 'none (all documents)' : JSON.stringify(input.sent.query)),
    line('source credentials', input.source.credentialsReference ?? 'none'),
    line('target', `${withoutUserinfo(input.target.endpoint)} index ${input.target.index}`),
    line('mode', `${input.mode} (${modeSettings(input.sent)})`),
    ...batchLines(input.sent.batchSize, input.batch),
    line('requests per second', input.sent.requestsPerSecond === null ? 'unthrottled' : thousands(input.sent.requestsPerSecond)),
    line('source count', thousands(input.sourceCount)),
    line('target count', thousands(input.targetCount)),
    line('target coverage', describeCoverage(input.coverage)),
    ...probeLines(input.probe),
    ...(input.tombstones ? [line('tombstones', tombstoneText(input.tombstones, input.dryRun))] : []),
    ...(input.parity ? [line('parity', parityText(input.parity))] : []),
    line('fingerprint', input.fingerprint),
    line('approval', approvalText(input.approval)),
  ];
}

function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function batchLines(sent: SentSettings['batchSize'], batch: AutoBatchSize | null | undefined): string[] {
  if (!batch) {
    return [line('batch size', sent === 'auto' ? 'auto: no dry run has resolved it (a live run sends the size its approval holds)' : thousands(sent))];
  }
  const why =
    batch.boundBy === 'scroll-ceiling'
      ? `the scroll ceiling (${thousands(SCROLL_BATCH_CEILING)}, the source's index.max_result_window)`
      : batch.boundBy === 'response-buffer'
        ? `a quarter of the target's ${bytes(REMOTE_RESPONSE_BUFFER_BYTES)} buffer for a remote response, were every document as large as the largest`
        : batch.boundBy === 'indexing-pressure'
          ? `half of the target's indexing-pressure limit (${bytes(batch.indexingPressureBytes ?? 0)} per node) shared by ${batch.concurrentTasks ?? 1} concurrent task(s), were every document as large as the largest`
          : `about ${bytes(AUTO_BATCH_TARGET_BYTES)} per batch`;
  return [
    line('batch size', `${thousands(batch.batchSize)} (auto)`),
    line('', `from ${thousands(batch.sampled)} sampled source documents: _source mean ${bytes(batch.meanBytes)}, largest ${bytes(batch.maxBytes)}; bound by ${why}`),
  ];
}

/** `https://user:pass@host:9200` → `https://host:9200`; text that is not a URL loses anything up to an `@`. */
function parityText(parity: NonNullable<HeaderInput['parity']>): string {
  return parity.mode === 'full'
    ? `full verification: every document's id and version on both clusters, both ways, differences looked up twice`
    : `sample: ${thousands(parity.sampleSize)} source ids looked up on the target and ${thousands(parity.sampleSize)} target ids on the source (not every document)`;
}

export function withoutUserinfo(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed && (parsed.protocol === 'http:' || parsed.protocol === 'https:')) {
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  }
  // `user:pass@host` parses as a URL of scheme `user:`; strip by text instead.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1');
}

const LABEL_WIDTH = 22;

function line(label: string, value: string): string {
  return `${(label ? `${label}:` : '').padEnd(LABEL_WIDTH)}${value}`;
}

function modeSettings(sent: SentSettings): string {
  return [
    `dest.version_type: ${sent.versionType ?? 'not sent (internal)'}`,
    ...(sent.opType === undefined ? [] : [`dest.op_type: ${sent.opType}`]),
    `conflicts: ${sent.conflicts ?? 'not sent (abort)'}`,
  ].join(', ');
}

/**
 * The header with its probe block (the `probe:` line and the unlabelled, `predicted` and `examples`
 * lines under it) replaced by `lines`: the dry run's exact prediction takes the sample's place.
 */
export function withProbeLines(header: readonly string[], lines: readonly string[]): string[] {
  const start = header.findIndex((l) => l.startsWith('probe:'));
  if (start < 0) return [...header, ...lines];
  let end = start + 1;
  while (end < header.length && /^(predicted:|examples:| )/.test(header[end]!)) end += 1;
  return [...header.slice(0, start), ...lines, ...header.slice(end)];
}

/** The probe block of an exact prediction: every document of the run's scope compared, as of when. */
export function exactProbeLines(exact: {
  readonly compared: number;
  readonly targetOnly: number;
  readonly predicted: { readonly created: number; readonly updated: number; readonly versionConflicts: number };
  readonly counts: { readonly equal: number; readonly sourceNewer: number; readonly targetNewer: number };
  readonly at: string;
}): string[] {
  const { predicted: p, counts: c } = exact;
  return [
    line(
      'probe',
      `full: every document compared by id and version: ${thousands(exact.compared)} source documents, ${thousands(c.equal)} equal on the target, ` +
        `${thousands(c.sourceNewer)} source newer, ${thousands(c.targetNewer)} target newer; ${thousands(exact.targetOnly)} target only`,
    ),
    line('predicted', `${thousands(p.created + p.updated + p.versionConflicts)} = ${thousands(p.created)} created + ${thousands(p.updated)} updated + ${thousands(p.versionConflicts)} version_conflicts`),
    line('', `exact as of this dry run (${exact.at}): dual-write keeps moving it`),
  ];
}

function probeLines(probe: ProbeResult | null): string[] {
  if (probe === null) return [line('probe', 'not run (empty target)')];
  const { counts, predicted } = probe;
  return [
    line(
      'probe',
      `${thousands(probe.sampled)} sampled: ${thousands(counts.equal)} equal, ${thousands(counts.sourceNewer)} source newer, ` +
        `${thousands(counts.targetNewer)} target newer, ${thousands(counts.targetOnly)} target only`,
    ),
    line(
      'predicted',
      `${thousands(predicted.created + predicted.updated + predicted.versionConflicts)} = ${thousands(predicted.created)} created + ` +
        `${thousands(predicted.updated)} updated + ${thousands(predicted.versionConflicts)} version_conflicts`,
    ),
    ...intervalLines(probe),
    ...probe.examples.map((e, i) =>
      line(i === 0 ? 'examples' : '', `${e.id}: source _version ${e.sourceVersion ?? 'missing'}, target _version ${e.targetVersion} (${e.class})`),
    ),
  ];
}

function intervalLines(probe: ProbeResult): string[] {
  // Approvals recorded before the interval existed carry none.
  const interval = probe.interval as ProbeResult['interval'] | undefined;
  if (!interval) return [];
  const { created, updated, versionConflicts } = interval;
  const exact = [created, updated, versionConflicts].every((r) => r.low === r.high);
  if (exact) return [line('', 'exact as of this dry run: the sample is every target document (dual-write keeps moving it)')];
  const range = (r: { low: number; high: number }) => (r.low === r.high ? thousands(r.low) : `${thousands(r.low)} to ${thousands(r.high)}`);
  return [
    line(
      '',
      `${Math.round(interval.confidence * 100)}% interval: ${range(created)} created, ${range(updated)} updated, ${range(versionConflicts)} version_conflicts ` +
        `(from ${thousands(probe.sampled)} sampled target documents)`,
    ),
  ];
}

function tombstoneText(t: NonNullable<HeaderInput['tombstones']>, dryRun: boolean): string {
  if (!t.current) return `the target index does not exist yet: the reindex creates it with the server's index.gc_deletes`;
  const now = `index.gc_deletes ${t.current.effective}${t.current.explicit === null ? ' (server default)' : ''}`;
  if (!t.raise) return `${now}: keeps deletes at least ${t.retention}, left as it is`;
  return `${now}; ${dryRun ? 'the live run raises' : 'raised'} to ${t.retention} before the first launch, restored when the run ends`;
}

function approvalText(approval: ApprovalStatus): string {
  switch (approval.kind) {
    case 'dry-run':
      return 'none (dry run records it)';
    case 'approved':
      return `approved by dry run ${approval.dryRunId} at ${approval.approvedAt}, valid until ${approval.validUntil}`;
    case 'missing':
      return 'none: no dry run approved this fingerprint (DryRunRequired)';
    case 'expired':
      return `expired: dry run ${approval.dryRunId} at ${approval.approvedAt} was valid until ${approval.validUntil} (DryRunRequired)`;
  }
}
