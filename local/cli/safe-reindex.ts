import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { thousands } from '../../lambdas/shared/checks/counters';
import { WHOLE_INDEX_PARTITION_ID } from '../../lambdas/shared/planning/partitions';
import type { RunLog } from '../../lambdas/shared/runtime/run-context';
import { shutdownFunctions } from '../lambda/lambda-service';
import { connectLocalLedger, type LocalLedgerConnection } from '../ledger/ledger';
import { localLedger, runLocal, type LocalRunResult } from '../pipeline';
import { adjustmentLines, countersTable, differencesLocation, parityLines, partitionLines, summarise, writeDifferences, writeReceipts, type RunSummary } from '../receipts';
import { fileDifferences } from '../../lambdas/shared/checks/differences';
import { runAwsCommand } from './aws';
import { PartitionPollLines, runEventLine, type PartitionPoll } from './poll-lines';

const USAGE = `usage: safe-reindex local --input run.json --target-url URL [--ledger DIR | --ledger-endpoint URL] [--runs DIR] [--json]

Runs the ReindexRun state machine locally (the same ASL as on AWS) against any two clusters.
  --input FILE           the execution input, exactly as pasted in the console
  --target-url URL       the OpenSearch target (fixed at deploy time on AWS)
  --ledger DIR           dynalite ledger persisted in DIR (default ./.safe-reindex/ledger), served to
                         every run on DIR by one ledger daemon (started on first use, exits when idle)
  --ledger-endpoint URL  any DynamoDB API instead
  --runs DIR             where receipts go (default ./runs)
  --json                 stdout carries only the final run record
  --max-tasks-per-domain N  reindex tasks writing into the target at once across all runs (default 4)
Source credentials: SAFE_REINDEX_SOURCE_USERNAME / SAFE_REINDEX_SOURCE_PASSWORD.
Exit codes: 0 the run succeeded, 1 it failed or was aborted, 2 the command was misused.

usage: safe-reindex aws start|status|report|approve|reject ...   (safe-reindex aws --help)
Operates the deployed state machines: start a run (--wait follows it), its status, its receipts, and
MonthlyBackfill's manual approval.`;

class UsageError extends Error {}

export interface LocalCommand {
  readonly input: unknown;
  readonly targetUrl: string;
  readonly ledgerDir: string | undefined;
  readonly ledgerEndpoint: string | undefined;
  readonly runsDir: string;
  readonly json: boolean;
  readonly maxTasksPerDomain?: number;
}

export function parseLocalCommand(argv: readonly string[]): LocalCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        input: { type: 'string' },
        'target-url': { type: 'string' },
        ledger: { type: 'string' },
        'ledger-endpoint': { type: 'string' },
        runs: { type: 'string' },
        json: { type: 'boolean' },
        'max-tasks-per-domain': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!values.input) throw new UsageError('--input FILE is required');
  if (!values['target-url']) throw new UsageError('--target-url URL is required');
  if (values.ledger && values['ledger-endpoint']) throw new UsageError('give --ledger or --ledger-endpoint, not both');
  let text: string;
  try {
    text = readFileSync(values.input, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --input ${values.input}: ${(err as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input ${values.input} is not JSON: ${(err as Error).message}`);
  }
  try {
    new URL(values['target-url']);
  } catch {
    throw new UsageError(`--target-url ${values['target-url']} is not a URL`);
  }
  return {
    input,
    targetUrl: values['target-url'],
    ledgerDir: values['ledger-endpoint'] ? undefined : resolve(values.ledger ?? '.safe-reindex/ledger'),
    ledgerEndpoint: values['ledger-endpoint'],
    runsDir: resolve(values.runs ?? 'runs'),
    json: values.json ?? false,
    ...(values['max-tasks-per-domain'] === undefined ? {} : { maxTasksPerDomain: maxTasksFlag(values['max-tasks-per-domain']) }),
  };
}

function maxTasksFlag(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new UsageError('--max-tasks-per-domain must be a whole number from 1 to 32');
  return n;
}

/**
 * Human output: the header, the poll lines, warnings; everything else to stderr. A single-task run
 * prints one line per poll; a partitioned run one line per turn of its partitions' polls, with the
 * run's progress and each running partition's (local/cli/poll-lines.ts). A lowered concurrency, a
 * rethrottle and a stall are also said among the poll lines (`  ! ...`), unless `out` is `err` (--json).
 */
export function terminalLog(out: (line: string) => void, err: (line: string) => void): RunLog {
  let partitioned: { runId: unknown; lines: PartitionPollLines } | undefined;
  const linesOf = (runId: unknown): PartitionPollLines => {
    if (partitioned && partitioned.runId === runId) return partitioned.lines;
    partitioned = { runId, lines: new PartitionPollLines(out) };
    return partitioned.lines;
  };
  return {
    info(message, fields = {}) {
      if (message === 'pre-flight done' && Array.isArray(fields.header)) {
        out('');
        for (const line of fields.header as string[]) out(line);
        out('');
        return;
      }
      // probe "full": the exact prediction, in place of the sample's lines above (the receipts carry the whole header).
      if (message === 'exact prediction done' && Array.isArray(fields.prediction)) {
        for (const line of fields.prediction as string[]) out(line);
        out('');
        return;
      }
      if (message === 'poll' && typeof fields.partitionId === 'string' && fields.partitionId !== WHOLE_INDEX_PARTITION_ID) {
        linesOf(fields.runId).poll(fields as unknown as PartitionPoll);
        return;
      }
      if (message === 'poll') {
        const f = fields as Record<string, number | boolean | string>;
        out(
          `  ${new Date().toISOString().slice(11, 19)}  created ${thousands(Number(f.created))}  updated ${thousands(Number(f.updated))}  ` +
            `version_conflicts ${thousands(Number(f.versionConflicts))}  of ${thousands(Number(f.total))}${f.completed ? '  (done)' : ''}`,
        );
        return;
      }
      err(`· ${message}`);
    },
    warn(message, fields = {}) {
      if (message.startsWith('task failed') && typeof fields.partitionId === 'string' && fields.partitionId !== WHOLE_INDEX_PARTITION_ID) {
        linesOf(fields.runId).failed(fields.partitionId);
      }
      const event = out === err ? undefined : runEventLine(new Date().toISOString().slice(11, 19), message, fields);
      if (event) out(event);
      err(`! ${message} ${JSON.stringify(fields)}`);
    },
  };
}

export function finalRecord(summary: RunSummary, receipts: unknown): Record<string, unknown> {
  return {
    runId: summary.runId,
    status: summary.status,
    error: summary.error,
    cause: summary.cause,
    dryRun: summary.dryRun,
    fingerprint: summary.fingerprint,
    baselines: summary.baselines,
    probe: summary.probe,
    counters: summary.counters,
    parity: summary.parity,
    foreignTasks: summary.foreignTasks,
    ...(summary.partitions ? { partitions: summary.partitions } : {}),
    ...(summary.concurrency ? { concurrency: summary.concurrency } : {}),
    ...(summary.throttle ? { throttle: summary.throttle } : {}),
    ...(summary.stall ? { stall: summary.stall } : {}),
    receipts,
  };
}

async function runLocalCommand(command: LocalCommand): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const note = (line: string) => process.stderr.write(`${line}\n`);
  // Powertools and libraries write to console.log: keep stdout for what this command promises.
  console.log = (...args: unknown[]) => console.error(...args);

  let ledgerServer: LocalLedgerConnection | undefined;
  const ledgerEndpoint = command.ledgerEndpoint ?? (ledgerServer = await connectLocalLedger(command.ledgerDir ?? resolve('.safe-reindex/ledger'))).endpoint;
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    note('\nStopping: cancelling the reindex task, releasing the lock, recording ABORTED (Ctrl-C again to quit at once)...');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result: LocalRunResult = await runLocal({
      input: command.input,
      targetUrl: command.targetUrl,
      ledgerEndpoint,
      signal: controller.signal,
      differencesDirectory: command.runsDir,
      ...(command.maxTasksPerDomain === undefined ? {} : { maxTasksPerDomain: command.maxTasksPerDomain }),
      log: command.json ? terminalLog(note, note) : terminalLog(say, note),
    });
    const runId = result.runId ?? 'invalid-input';
    const ledger = result.record ? await localLedger(ledgerEndpoint) : undefined;
    // A run that ended before ReconcileRun has its tasks only in the ledger's partition items.
    const parts = ledger && result.record && !result.record.dryRun && !result.record.partitions ? await ledger.listPartitions(runId) : undefined;
    const summary = summarise(result.record, { runId, status: result.status, error: result.error, cause: result.cause }, parts);
    const polls = ledger ? await ledger.listPolls(runId) : [];
    const receipts = result.record ? writeReceipts(command.runsDir, summary, polls) : null;
    const differences = differencesLocation(summary)
      ? writeDifferences(command.runsDir, runId, await fileDifferences(command.runsDir).read(runId))
      : undefined;
    if (command.json) {
      say(JSON.stringify(finalRecord(summary, receipts && differences ? { ...receipts, differences } : receipts)));
    } else {
      say('');
      for (const line of countersTable(summary)) say(line);
      if (summary.partitions) for (const line of ['', ...partitionLines(summary)]) say(line);
      const adjustments = adjustmentLines(summary);
      if (adjustments.length > 0) for (const line of ['', ...adjustments]) say(line);
      if (summary.parity) for (const line of parityLines(summary.parity)) say(line);
      say('');
      say(`${summary.status}${summary.error ? `: ${summary.error}` : ''}${summary.verifyOnly && summary.status === 'SUCCEEDED' ? ' (verified; nothing written)' : summary.dryRun && summary.status === 'SUCCEEDED' ? ' (dry run approved; nothing launched)' : ''}`);
      if (summary.cause) say(summary.cause);
      if (receipts) say(`receipts: ${receipts.json}\n          ${receipts.markdown}\n          ${receipts.html}${differences ? `\n          ${differences}` : ''}`);
    }
    if (result.status !== 'SUCCEEDED') note(`${result.error ?? 'RunFailed'}`);
    return result.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // The functions' execution environments end with the command, as containers do with their service.
    await shutdownFunctions();
    await ledgerServer?.stop();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (command === 'aws') return await runAwsCommand(rest);
    if (command !== 'local') throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
    return await runLocalCommand(parseLocalCommand(rest));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`safe-reindex: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
}
