import { processed as processedOf, thousands, ZERO_COUNTERS, type Counters } from '../../lambdas/shared/checks/counters';
import type { PartitionItem, PollSnapshot, RunConcurrency, RunRecord, RunThrottle } from '../../lambdas/shared/ledger/ledger';
import { runProgress, type RunProgress } from '../../lambdas/shared/task-loop/stall';
import { concurrencyChangeText, stallText, throttleChangeText } from '../receipts';

/**
 * The poll lines of a partitioned run in a terminal: one line per turn of the poll loop (not one per
 * partition poll), with the run's progress and breakdown, its partitions by state, and each running
 * partition's progress and breakdown (a partition whose task just finished is shown once more, as done).
 */

/** The fields of PollPartition's `poll` log line (lambdas/shared/task-loop/stall.ts). */
export interface PartitionPoll {
  readonly partitionId: string;
  readonly taskId: string;
  readonly completed: boolean;
  readonly total: number;
  readonly created: number;
  readonly updated: number;
  readonly versionConflicts: number;
  readonly failures: number;
  readonly processed: number;
  readonly expected: number;
  readonly run?: RunProgress;
}

export const PARTITION_LEGEND = '  per partition: processed/total, c created, u updated, vc version_conflicts (kept), f failures';

/** `  12:00:03  41,200 of 84,987 (48.4%)  created …  ·  partitions 1 done, 2 running, 2 waiting  ·  p02 9,800/16,400 c 9,000 u 100 vc 700`. */
export function partitionPollLine(time: string, run: RunProgress | undefined, parts: readonly PartitionPoll[]): string {
  const head = run
    ? `${thousands(run.processed)} of ${thousands(run.total)} (${run.percent.toFixed(1)}%)  created ${thousands(run.created)}  updated ${thousands(run.updated)}  ` +
      `version_conflicts ${thousands(run.versionConflicts)}${run.failures > 0 ? `  failures ${thousands(run.failures)}` : ''}  ·  ` +
      `partitions ${[`${run.done} done`, `${run.running} running`, `${run.waiting} waiting`, ...(run.failed > 0 ? [`${run.failed} failed`] : [])].join(', ')}`
    : 'run totals unavailable';
  const each = parts.map(
    (p) =>
      `${p.partitionId}${p.completed ? ' done' : ''} ${thousands(p.processed)}/${thousands(p.total > 0 ? p.total : p.expected)} ` +
      `c ${thousands(p.created)} u ${thousands(p.updated)} vc ${thousands(p.versionConflicts)}${p.failures > 0 ? ` f ${thousands(p.failures)}` : ''}`,
  );
  return [`  ${time}  ${head}`, ...each].join('  ·  ');
}

/**
 * Decides when a turn ends: a partition's task finished, a partition polls again before the line was
 * printed, or every running partition has polled since the last line. With one partition running,
 * that is one line per poll, as for a single-task run.
 */
export class PartitionPollLines {
  private readonly latest = new Map<string, PartitionPoll>();
  private readonly sinceLine = new Set<string>();
  private readonly finishedShown = new Set<string>();
  private run: RunProgress | undefined;
  private legendShown = false;

  constructor(
    private readonly out: (line: string) => void,
    private readonly time: () => string = () => new Date().toISOString().slice(11, 19),
  ) {}

  poll(fields: PartitionPoll): void {
    const again = this.sinceLine.has(fields.partitionId);
    this.latest.set(fields.partitionId, fields);
    this.sinceLine.add(fields.partitionId);
    if (fields.run) this.run = fields.run;
    const finished = fields.completed && !this.finishedShown.has(this.finishKey(fields));
    const allPolled = this.sinceLine.size >= Math.max(1, this.run?.running ?? 1);
    if (finished || again || allPolled) this.print();
  }

  /** A failed partition is no longer running (its retry shows up with its next task's first poll). */
  failed(partitionId: string): void {
    this.latest.delete(partitionId);
    this.sinceLine.delete(partitionId);
  }

  private print(): void {
    const shown = [...this.latest.values()]
      .filter((p) => !p.completed || !this.finishedShown.has(this.finishKey(p)))
      .sort((a, b) => (a.partitionId < b.partitionId ? -1 : 1));
    if (!this.legendShown) {
      this.out(PARTITION_LEGEND);
      this.legendShown = true;
    }
    this.out(partitionPollLine(this.time(), this.adjusted(), shown));
    for (const p of shown) if (p.completed) this.finishedShown.add(this.finishKey(p));
    this.sinceLine.clear();
  }

  /**
   * The ledger counts a partition done once reconciled (or in the poll that saw its task finish): one
   * whose finish this terminal has seen, polled by another partition before its reconcile, is done here too.
   */
  private adjusted(): RunProgress | undefined {
    if (!this.run) return undefined;
    const seen = [...this.latest.values()].filter((p) => p.completed).length;
    const moved = Math.min(this.run.running, Math.max(0, seen - this.run.done));
    return moved === 0 ? this.run : { ...this.run, done: this.run.done + moved, running: this.run.running - moved };
  }

  private finishKey(p: PartitionPoll): string {
    return `${p.partitionId}@${p.taskId}`;
  }
}

/** The warnings the local CLI also shows among its poll lines (they go to stderr with their fields too). */
export const RUN_EVENTS = {
  lowered: "the target rejects writes: lowering the run's partition concurrency",
  rethrottled: 'the target rejects writes: rethrottled the reindex task',
  stalled: 'stalled: no counter change',
} as const;

/** `  ! 10:02:11  concurrency 4 -> 3  p02  <reason>`, and the like for a rethrottle and a stall; undefined for other warnings. */
export function runEventLine(time: string, message: string, fields: Record<string, unknown>): string | undefined {
  const str = (v: unknown) => (typeof v === 'string' ? v : String(v ?? ''));
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  if (message === RUN_EVENTS.lowered) {
    return `  ! ${time}  concurrency ${concurrencyChangeText({ from: Number(fields.from), to: Number(fields.to), partitionId: str(fields.partitionId), reason: str(fields.reason) })}`;
  }
  if (message === RUN_EVENTS.rethrottled) {
    const partitionId = typeof fields.partitionId === 'string' ? fields.partitionId : null;
    return `  ! ${time}  rethrottled ${throttleChangeText({ taskId: str(fields.taskId), partitionId, from: num(fields.from), to: Number(fields.to), reason: str(fields.reason) })}`;
  }
  if (message === RUN_EVENTS.stalled) {
    const stall = {
      processed: Number(fields.processed ?? 0),
      ...(typeof fields.total === 'number' ? { total: fields.total } : {}),
      ...(typeof fields.since === 'string' ? { since: fields.since } : {}),
      ...(typeof fields.taskId === 'string' ? { taskId: fields.taskId } : {}),
      ...(typeof fields.partitionId === 'string' ? { partitionId: fields.partitionId } : {}),
    };
    return `  ! ${time}  stalled: ${stallText(stall, { reported: false })}`;
  }
  return undefined;
}

/** `HH:MM:SS` of an ISO time (UTC); anything else as it is. */
export function clock(at: string): string {
  return Number.isNaN(Date.parse(at)) ? at : new Date(at).toISOString().slice(11, 19);
}

function countersOf(s: Record<string, unknown>): Counters {
  const n = (key: keyof Counters) => Number(s[key] ?? 0);
  return { total: n('total'), created: n('created'), updated: n('updated'), deleted: n('deleted'), noops: n('noops'), versionConflicts: n('versionConflicts'), failures: n('failures') };
}

function pollOf(partitionId: string, taskId: string, completed: boolean, c: Counters, expected: number, run?: RunProgress): PartitionPoll {
  return {
    partitionId,
    taskId,
    completed,
    total: c.total,
    created: c.created,
    updated: c.updated,
    versionConflicts: c.versionConflicts,
    failures: c.failures,
    processed: processedOf(c),
    expected,
    ...(run ? { run } : {}),
  };
}

/**
 * The poll lines of a partitioned run from the ledger (`safe-reindex aws start --wait`): its snapshots
 * (each with its partition id) replayed in time order through {@link PartitionPollLines}, as the local
 * CLI prints them from PollPartition's log lines. The run's progress at each snapshot is taken from the
 * partition items (expected counts, states) with each partition's counters as of that snapshot: one
 * not yet polled by then counts without counters, one whose task the replay has not yet seen finish as running.
 */
export class SnapshotPollLines {
  private readonly lines: PartitionPollLines;
  private readonly seen = new Map<string, PollSnapshot>();
  private at = '';

  constructor(out: (line: string) => void) {
    this.lines = new PartitionPollLines(out, () => clock(this.at));
  }

  /** One snapshot with a `partitionId`; `items`: the run's partition items as last read. */
  snapshot(snapshot: PollSnapshot, items: readonly PartitionItem[]): void {
    const partitionId = String(snapshot.partitionId);
    this.seen.set(partitionId, snapshot);
    this.at = snapshot.at;
    const view = items.map((item): PartitionItem => {
      const { counters: _latest, ...rest } = item;
      const own = this.seen.get(item.partitionId);
      if (!own) return { ...rest, status: item.status === 'SUCCEEDED' ? 'RUNNING' : item.status };
      const finished = own.completed === true || own.taskId !== item.taskId;
      return { ...rest, counters: countersOf(own), status: item.status === 'SUCCEEDED' && !finished ? 'RUNNING' : item.status };
    });
    const counters = countersOf(snapshot);
    const completed = snapshot.completed === true;
    const run = items.length > 0 ? runProgress(view, { partitionId, completed, counters }) : undefined;
    const expected = items.find((p) => p.partitionId === partitionId)?.expected ?? 0;
    this.lines.poll(pollOf(partitionId, String(snapshot.taskId ?? ''), completed, counters, expected, run));
  }

  /** After a round of snapshots: a partition left FAILED or waiting for its retry is no longer shown running. */
  settle(items: readonly PartitionItem[]): void {
    for (const item of items) {
      const own = this.seen.get(item.partitionId);
      if ((item.status === 'FAILED' || item.status === 'RETRYING') && own && own.taskId === item.taskId) this.lines.failed(item.partitionId);
    }
  }
}

/** A partitioned run's progress now, from its partition items (`safe-reindex aws status`): one poll line, each running partition in it. */
export function partitionStatusLine(time: string, items: readonly PartitionItem[]): string {
  const running = items
    .filter((p) => p.status === 'RUNNING')
    .map((p) => pollOf(p.partitionId, p.taskId ?? '', false, p.counters ?? ZERO_COUNTERS, p.expected));
  return partitionPollLine(time, runProgress(items), running);
}


/**
 * The same events read from the ledger while following a run on AWS (no log lines there): each
 * concurrency change and rethrottle on the run record, and each stall on the run or its partition
 * items, printed once, in time order, when first seen.
 */
export class RecordEventLines {
  private readonly shown = new Set<string>();

  lines(record: RunRecord, items: readonly PartitionItem[] = []): string[] {
    return this.events(record, items).map((e) => e.line);
  }

  /** The new events with their time, to print in time order among the snapshots read with them. */
  events(record: RunRecord, items: readonly PartitionItem[] = []): Array<{ readonly at: string; readonly line: string }> {
    const events: Array<{ at: string; key: string; line: string }> = [];
    for (const ch of (record.concurrency as RunConcurrency | undefined)?.changes ?? []) {
      events.push({ at: ch.at, key: `c@${ch.at}@${ch.partitionId}`, line: `  ! ${clock(ch.at)}  concurrency ${concurrencyChangeText(ch)}` });
    }
    for (const ch of (record.throttle as RunThrottle | undefined)?.changes ?? []) {
      events.push({ at: ch.at, key: `t@${ch.at}@${ch.taskId}`, line: `  ! ${clock(ch.at)}  rethrottled ${throttleChangeText(ch)}` });
    }
    const stalls = [
      ...(record.stall ? [record.stall] : []),
      ...items.flatMap((p) => (p.stall ? [{ ...p.stall, partitionId: p.partitionId }] : [])),
    ];
    for (const st of stalls) {
      events.push({ at: st.at, key: `s@${st.at}@${st.partitionId ?? ''}`, line: `  ! ${clock(st.at)}  stalled: ${stallText(st, { reported: false })}` });
    }
    // A partition's stall is on its item and on the run record (the same `at`): one line.
    const fresh: typeof events = [];
    for (const e of events) {
      if (this.shown.has(e.key)) continue;
      this.shown.add(e.key);
      fresh.push(e);
    }
    return fresh.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)).map(({ at, line }) => ({ at, line }));
  }
}
