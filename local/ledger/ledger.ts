import { assertPortFree } from '../clusters/ports';
import type { LocalExecution, LocalExecutionEndStatus } from './executions';
import { createLedgerServer } from './server';

export { connectLocalLedger, stopLocalLedgerDaemon, type LocalLedgerConnection, type ConnectLocalLedgerOptions } from './connect';
export type { LocalExecution, LocalExecutionEndStatus, LocalExecutionStatus } from './executions';

export interface LocalLedgerOptions {
  /** Port on 127.0.0.1; @default a free port */
  readonly port?: number;
  /**
   * Folder for the LevelDB store, kept between runs; @default in memory. Only one process can open a
   * folder: runs that share one go through its ledger daemon (`connectLocalLedger`).
   */
  readonly dir?: string;
}

export interface LocalLedger {
  /**
   * DynamoDB API endpoint for the AWS SDK (`endpoint`), any region, any credentials. It also answers
   * Step Functions' DescribeExecution for the local runner's executions (`AWS_ENDPOINT_URL_SFN`).
   */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * The local ledger in this process: dynalite, a DynamoDB-compatible server (AWS's DynamoDB Local is
 * not open source), with the local executions' DescribeExecution on the same endpoint. The same server
 * as the ledger daemon's (`connectLocalLedger`).
 */
export async function startLocalLedger(options: LocalLedgerOptions = {}): Promise<LocalLedger> {
  if (options.port !== undefined) await assertPortFree(options.port, '--port');
  const ledger = await createLedgerServer({ ...(options.dir ? { dir: options.dir } : {}), ...(options.port === undefined ? {} : { port: options.port }) });
  return { endpoint: ledger.endpoint, stop: () => ledger.close() };
}

/**
 * Records a local execution as started (RUNNING) on the ledger endpoint, so DescribeExecution reports
 * it; RUNNING while `pid` lives, ABORTED once it is gone without `endLocalExecution`.
 */
export async function registerLocalExecution(endpoint: string, execution: LocalExecution): Promise<void> {
  await localCall(endpoint, 'RegisterExecution', {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    pid: execution.pid,
  });
}

/** Records how a local execution ended. An execution that already ended keeps its first status. */
export async function endLocalExecution(endpoint: string, executionArn: string, status: LocalExecutionEndStatus): Promise<void> {
  await localCall(endpoint, 'EndExecution', { executionArn, status });
}

async function localCall(endpoint: string, operation: string, body: object): Promise<unknown> {
  const response = await fetch(new URL('/', endpoint), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': `SafeReindexLocal.${operation}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: { __type?: string; message?: string } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // not JSON: reported below with the status
  }
  if (!response.ok) {
    throw Object.assign(new Error(`${operation} on the local ledger ${endpoint} failed: HTTP ${response.status} ${parsed.__type ?? ''} ${parsed.message ?? text}`.trim()), {
      name: parsed.__type ?? 'LocalLedgerError',
    });
  }
  return parsed;
}
