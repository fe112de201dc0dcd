import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isProcessAlive, processStartTime } from './processes';

/** The statuses Step Functions' DescribeExecution reports (PENDING_REDRIVE aside). */
export type LocalExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
export const ENDED_STATUSES = ['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'] as const;
export type LocalExecutionEndStatus = (typeof ENDED_STATUSES)[number];

/** What the local runner registers when an execution starts. */
export interface LocalExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The process that runs the execution: RUNNING with this process gone reads ABORTED. */
  readonly pid: number;
}

interface Entry extends LocalExecution {
  status: LocalExecutionStatus;
  /** Epoch milliseconds. */
  readonly startDate: number;
  stopDate?: number;
  /** `processStartTime(pid)` at registration, where the platform tells it. */
  readonly processStart?: number;
}

/** An error the API answers as `{__type, message}` with HTTP 400, as AWS JSON 1.0 services do. */
export class LocalApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Ended executions kept (the oldest go first); RUNNING ones are always kept. */
const KEEP_ENDED = 1000;

/**
 * The local runner's executions, as Step Functions' DescribeExecution would report them. Kept in
 * memory and, when `file` is given, in that JSON file (rewritten on each change), so a ledger daemon
 * started later still knows the executions of the runs whose locks are in its ledger.
 */
export class ExecutionRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly file?: string) {
    if (!file) return;
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return; // none yet, or unreadable: start empty
    }
    if (!Array.isArray(saved)) return;
    for (const entry of saved as Entry[]) if (typeof entry?.executionArn === 'string') this.entries.set(entry.executionArn, entry);
  }

  register(execution: LocalExecution, now = Date.now()): Entry {
    for (const key of ['executionArn', 'stateMachineArn', 'name'] as const) {
      if (typeof execution[key] !== 'string' || execution[key] === '') throw new LocalApiError('ValidationException', `${key} must be a non-empty string`);
    }
    if (!Number.isInteger(execution.pid) || execution.pid <= 0) throw new LocalApiError('ValidationException', 'pid must be a positive integer');
    const existing = this.refreshed(execution.executionArn, now);
    if (existing?.status === 'RUNNING') {
      throw new LocalApiError('ExecutionAlreadyExists', `Execution Already Exists: '${execution.executionArn}' (RUNNING, pid ${existing.pid})`);
    }
    const processStart = processStartTime(execution.pid);
    const entry: Entry = {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      pid: execution.pid,
      status: 'RUNNING',
      startDate: now,
      ...(processStart === undefined ? {} : { processStart }),
    };
    this.entries.delete(entry.executionArn);
    this.entries.set(entry.executionArn, entry);
    this.save();
    return entry;
  }

  end(executionArn: string, status: string, now = Date.now()): Entry {
    if (!(ENDED_STATUSES as readonly string[]).includes(status)) {
      throw new LocalApiError('ValidationException', `status must be one of ${ENDED_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
    }
    const entry = this.entries.get(executionArn);
    if (!entry) throw doesNotExist(executionArn);
    if (entry.status === 'RUNNING') {
      entry.status = status as LocalExecutionEndStatus;
      entry.stopDate = now;
      this.save();
    }
    return entry;
  }

  /** The execution as DescribeExecution reports it: RUNNING with its process gone reads ABORTED. */
  describe(executionArn: string, now = Date.now()): Entry {
    const entry = this.refreshed(executionArn, now);
    if (!entry) throw doesNotExist(executionArn);
    return entry;
  }

  /** True while some execution is RUNNING in a live process. */
  hasRunning(now = Date.now()): boolean {
    return [...this.entries.keys()].some((arn) => this.refreshed(arn, now)?.status === 'RUNNING');
  }

  private refreshed(executionArn: string, now: number): Entry | undefined {
    const entry = this.entries.get(executionArn);
    if (entry?.status === 'RUNNING' && !isProcessAlive(entry.pid, entry.processStart)) {
      entry.status = 'ABORTED';
      entry.stopDate = now;
      this.save();
    }
    return entry;
  }

  private save(): void {
    const ended = [...this.entries.values()].filter((e) => e.status !== 'RUNNING');
    for (const old of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.entries.delete(old.executionArn);
    if (!this.file) return;
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify([...this.entries.values()])}\n`);
    renameSync(temporary, this.file);
  }
}

function doesNotExist(executionArn: string): LocalApiError {
  return new LocalApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
}
