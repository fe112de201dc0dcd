import { parseArgs } from 'node:util';
import { startLocalLedger } from '../ledger/ledger';
import { JIT_MODES, startLocalCluster, type JitMode } from './cluster';
import { defaultVersion, type Distribution } from './distributions';

/**
 * npm run local-cluster -- --distribution elasticsearch|opensearch|ledger [--version V] [--port N] [--data DIR] [--jit quick-start|full]
 *
 * Starts one real server; progress on stderr; once it answers, stdout gets exactly one line
 * `<distribution> <version> ready at <url>`; runs until SIGINT/SIGTERM, then stops it and exits 0.
 */

const USAGE =
  'usage: npm run local-cluster -- --distribution elasticsearch|opensearch|ledger [--version V] [--port N] [--data DIR] [--jit quick-start|full]';

class UsageError extends Error {}

interface CliArgs {
  readonly distribution: Distribution | 'ledger';
  readonly version?: string;
  readonly port?: number;
  readonly data?: string;
  readonly jit?: JitMode;
}

function parse(argv: string[]): CliArgs | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        distribution: { type: 'string' },
        version: { type: 'string' },
        port: { type: 'string' },
        data: { type: 'string' },
        jit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const distribution = values.distribution;
  if (distribution !== 'elasticsearch' && distribution !== 'opensearch' && distribution !== 'ledger') {
    throw new UsageError(`--distribution must be elasticsearch, opensearch or ledger, got ${distribution ?? 'nothing'}`);
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) {
      throw new UsageError(`--port must be a port number from 1 to 65535, got ${values.port}`);
    }
  }
  if (distribution === 'ledger' && values.version !== undefined) {
    throw new UsageError('--version does not apply to the ledger (dynalite)');
  }
  if (values.jit !== undefined && !JIT_MODES.includes(values.jit as JitMode)) {
    throw new UsageError(`--jit must be ${JIT_MODES.join(' or ')}, got ${values.jit}`);
  }
  if (distribution === 'ledger' && values.jit !== undefined) {
    throw new UsageError('--jit does not apply to the ledger (dynalite)');
  }
  return { distribution, version: values.version, port, data: values.data, jit: values.jit as JitMode | undefined };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (!args) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let stop: () => Promise<void>;
  // Listen before the ready line goes out: whoever reads it may signal at once.
  let stopRequested!: Promise<void>;
  const listen = () => {
    stopRequested = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  };
  if (args.distribution === 'ledger') {
    const ledger = await startLocalLedger({ port: args.port, dir: args.data });
    stop = ledger.stop;
    listen();
    process.stdout.write(`ledger dynalite ready at ${ledger.endpoint}\n`);
  } else {
    const distribution = args.distribution;
    const cluster = await startLocalCluster({
      distribution,
      version: args.version ?? defaultVersion(distribution),
      port: args.port,
      dataDir: args.data,
      ...(args.jit ? { jit: args.jit } : {}),
    });
    stop = cluster.stop;
    listen();
    process.stdout.write(`${cluster.distribution} ${cluster.version} ready at ${cluster.url}\n`);
  }

  await stopRequested;
  process.stderr.write('Stopping...\n');
  await stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`local-cluster: ${err.message}\n`);
    process.exit(1);
  },
);
