import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyFromLocalStack, deployToLocalStack, type LocalStackDeployment } from './deploy';
import { startLocalStackEnvironment, tearDownLocalStackEnvironment, useExternalLocalStack, type LocalStackEnvironment } from './environment';
import { HostSetupError } from './host';
import { runWorkedExample, stopLiveRun, type DeployedSession } from './scenarios';
import { DEFAULT_WORK_DIR, EXTERNAL_WORK_DIR } from './settings';

/**
 * `npm run localstack`: the stack deployed to LocalStack with cdklocal, and the worked example run through
 * the deployed ReindexRun with `safe-reindex aws start --wait`; then a live run stopped as the console
 * stops it, and the cleanup rule's work shown; then everything torn down.
 */

const USAGE = `usage: npm run localstack [-- --keep]
       npm run localstack -- down
       AWS_ENDPOINT_URL=http://localhost:4566 npm run localstack -- --host-address ADDRESS [--keep]

  (no arguments)  sets up LocalStack on this machine (localstack-core, Debian's Docker for the Lambda
                  containers, a bridge of its own), starts the real local clusters, deploys the stack,
                  runs the worked example (dry run, live run) and a stopped live run, and tears it all down
  --keep          keeps everything up after the runs until Ctrl-C, and prints the variables to reach it
  down            tears down what an interrupted run left behind (processes, containers, bridge, data)
  AWS_ENDPOINT_URL  a LocalStack you run yourself (e.g. the Docker image): nothing is installed or started
                  but the clusters; the stack is destroyed again at the end
  --host-address  with AWS_ENDPOINT_URL: an address of this machine your Lambda containers reach (for
                  LocalStack in Docker, the bridge's gateway, usually 172.17.0.1); the clusters listen there`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  let values: { keep?: boolean; 'host-address'?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { keep: { type: 'boolean' }, 'host-address': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    }));
  } catch (err) {
    note(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const external = process.env.AWS_ENDPOINT_URL;
  if (positionals[0] === 'down' && positionals.length === 1) {
    await tearDownLocalStackEnvironment(DEFAULT_WORK_DIR, note);
    note('Nothing of the LocalStack environment is left.');
    return 0;
  }
  if (positionals.length > 0) {
    note(`unknown argument ${positionals.join(' ')}\n${USAGE}`);
    return 2;
  }
  if (external && !values['host-address']) {
    note(`AWS_ENDPOINT_URL names your own LocalStack: give --host-address, an address of this machine its Lambda containers reach\n${USAGE}`);
    return 2;
  }
  if (!external && values['host-address']) {
    note(`--host-address goes with AWS_ENDPOINT_URL (your own LocalStack); without it this command runs its own on the bridge it creates\n${USAGE}`);
    return 2;
  }

  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  let environment: LocalStackEnvironment | undefined;
  let deployment: LocalStackDeployment | undefined;
  let stopping: Promise<void> | undefined;
  const shutDown = () => {
    stopping ??= (async () => {
      if (external && deployment && environment) {
        await destroyFromLocalStack(deployment, { awsEnv: environment.awsEnv, workDir: environment.workDir, log: note }).catch((err: Error) =>
          note(`cdklocal destroy failed (the stack ${deployment!.stackName} is left in your LocalStack): ${err.message}`),
        );
      }
      if (!environment) return;
      await environment.stop();
      note(external ? 'Stopped the clusters; your LocalStack keeps running.' : 'Torn down: no process, container, bridge or data of the environment is left.');
    })();
    return stopping;
  };
  process.once('SIGINT', () => {
    note('\nInterrupted: tearing down...');
    void shutDown().finally(() => process.exit(130));
  });

  try {
    environment = external
      ? await useExternalLocalStack({ endpoint: external, hostAddress: values['host-address']!, workDir: EXTERNAL_WORK_DIR, log: note })
      : await startLocalStackEnvironment({ log: note });
    note(`Environment up (${seconds()}). Deploying the stack with cdklocal; its target: the local OpenSearch at ${environment.targetUrl}`);
    deployment = await deployToLocalStack({ targetUrl: environment.targetUrl!, awsEnv: environment.awsEnv, workDir: environment.workDir, log: note });
    note(`Deployed ${deployment.stackName} (${seconds()}): ReindexRun ${deployment.reindexRunArn}`);
    const session: DeployedSession = {
      deployment,
      awsEnv: environment.awsEnv,
      sourceHostUrl: environment.source!.url,
      targetHostUrl: environment.target!.url,
      sourceUrl: environment.sourceUrl!,
      workDir: environment.workDir,
      runsDir: resolve('runs'),
    };
    const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15).toLowerCase();

    const example = await runWorkedExample(session, 'calls-2026-05', (chunk) => process.stdout.write(chunk), stamp);
    if (example.dry.code !== 0 || example.live.code !== 0) {
      note(`the worked example did not succeed:\n${example.dry.stderr}${example.live.stderr}`);
      return 1;
    }
    if (!example.asSeeded) say(`MISMATCH: the counters differ from what the seed implies (${JSON.stringify(example.expected)}).`);

    say('\n== a live run stopped as the console stops it (StopExecution) ==');
    const stop = await stopLiveRun(session, `calls-2026-04-${stamp}`, note);
    say(`execution ${stop.runId}: ${stop.executionStatus}${stop.executionError ? ` (${stop.executionError})` : ''}`);
    if (stop.executionStatus === 'FAILED') {
      say(`  LocalStack 2026.3.0 ends this stopped execution as FAILED (${stop.executionCause ?? 'no cause'}) where AWS reports ABORTED;`);
      say('  its status-change event reaches the cleanup rule all the same (the rule matches FAILED, ABORTED and TIMED_OUT).');
    }
    say(`cleanup rule: task ${stop.taskId} ${stop.taskStillRunning ? 'STILL RUNNING on the target' : 'cancelled (the target lists it no more)'}; lock ${stop.lockHeld ? 'STILL HELD' : 'released'} ${stop.cleanupSeconds.toFixed(1)} s after StopExecution; run record ${stop.record.status}`);
    const stopCleaned = !stop.taskStillRunning && !stop.lockHeld && stop.record.status === 'ABORTED';

    note(`Done in ${seconds()}.`);
    if (values.keep) {
      say('\nKept up until Ctrl-C. To use it from another shell:');
      for (const [key, value] of Object.entries(environment.awsEnv)) say(`  export ${key}=${value}`);
      say(`  export SAFE_REINDEX_STATE_MACHINE_ARN=${deployment.reindexRunArn}`);
      say(`  export SAFE_REINDEX_LEDGER_TABLE=${deployment.ledgerTable}`);
      say(`  source (from the functions): ${environment.sourceUrl}   (from this machine: ${environment.source!.url})`);
      say(`  target (from the functions): ${environment.targetUrl}   (from this machine: ${environment.target!.url})`);
      await new Promise<never>(() => undefined);
    }
    return example.asSeeded && stopCleaned ? 0 : 1;
  } finally {
    await shutDown();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    note(err instanceof HostSetupError ? `localstack: ${err.message}` : `localstack failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
