import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { assertPortFree } from '../clusters/ports';

export interface LocalLedgerOptions {
  /** Port on 127.0.0.1; @default a free port */
  readonly port?: number;
  /** Folder for the LevelDB store, kept between runs; @default in memory */
  readonly dir?: string;
}

export interface LocalLedger {
  /** DynamoDB API endpoint for the AWS SDK (`endpoint`), any region, any credentials. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

type DynaliteFactory = (options: Record<string, unknown>) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** The local ledger: dynalite, a DynamoDB-compatible server (AWS's DynamoDB Local is not open source). */
export async function startLocalLedger(options: LocalLedgerOptions = {}): Promise<LocalLedger> {
  if (options.port !== undefined) await assertPortFree(options.port, '--port');
  if (options.dir) mkdirSync(resolve(options.dir), { recursive: true });
  // Tables become ACTIVE at once: the ledger creates its table on first use.
  const server = dynalite({
    path: options.dir ? resolve(options.dir) : undefined,
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(options.port ?? 0, '127.0.0.1', () => res());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((res, rej) => {
        server.closeAllConnections?.();
        server.close((err) => (err ? rej(err) : res()));
      }),
  };
}
