import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './environment';
import type { Log } from './host';
import { ACCOUNT, REGION } from './settings';

/**
 * The stack as a team would deploy it to LocalStack: the same app and template, synthesised into a
 * directory of its own (deploying from the project root would re-synthesise with the whole project as
 * an asset), bootstrapped and deployed with cdklocal. Only context values differ from a real deployment:
 * a self-managed target at the local OpenSearch, and the secret the Secrets Manager run may read.
 */

export interface LocalStackDeployment {
  readonly stackName: string;
  readonly reindexRunArn: string;
  readonly monthlyBackfillArn: string;
  readonly ledgerTable: string;
  readonly alarmTopicArn: string;
  readonly dashboardName: string;
  readonly outputs: Readonly<Record<string, string>>;
  /** The synthesised cloud assembly that was deployed (and that `destroyFromLocalStack` removes again). */
  readonly assemblyDir: string;
}

export interface DeployOptions {
  /** The target as the functions reach it, e.g. http://10.213.0.1:9201 */
  readonly targetUrl: string;
  /** Secret ARNs runs may name as source.credentialsSecret. */
  readonly sourceSecretArns?: readonly string[];
  /** The SDK environment for LocalStack (endpoint, region, credentials). */
  readonly awsEnv: Readonly<Record<string, string>>;
  readonly stackName?: string;
  readonly workDir: string;
  readonly log: Log;
}

/** The context a LocalStack deployment uses: what a self-managed target needs, nothing LocalStack's own. */
export function localStackContext(options: Pick<DeployOptions, 'targetUrl' | 'sourceSecretArns' | 'stackName'>): Record<string, unknown> {
  return {
    'safe-reindex:stackName': options.stackName ?? 'SafeReindex',
    'safe-reindex:targetService': 'self-managed',
    'safe-reindex:targetDomainEndpoint': options.targetUrl,
    'safe-reindex:sourceSecretArns': [...(options.sourceSecretArns ?? [])],
    'safe-reindex:account': ACCOUNT,
    'safe-reindex:region': REGION,
    'safe-reindex:logRetentionDays': 7,
  };
}

/** Runs a command, keeping its output for the error it throws when the command fails. */
function runQuietly(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; what: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${options.what} exited ${code}:\n${output.trim().split('\n').slice(-30).join('\n')}`));
    });
  });
}

function cdklocal(args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return runQuietly(join(PROJECT_ROOT, 'node_modules', '.bin', 'cdklocal'), args, { ...options, what: `cdklocal ${args.join(' ')}` });
}

export async function deployToLocalStack(options: DeployOptions): Promise<LocalStackDeployment> {
  const stackName = options.stackName ?? 'SafeReindex';
  mkdirSync(options.workDir, { recursive: true });
  const assemblyDir = mkdtempSync(join(options.workDir, 'cdk.out-'));
  options.log(`Synthesising the stack into ${assemblyDir} (target ${options.targetUrl}, self-managed)`);
  await runQuietly(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), [join(PROJECT_ROOT, 'local', 'localstack', 'synth.ts'), assemblyDir, JSON.stringify(localStackContext({ ...options, stackName }))], {
    cwd: PROJECT_ROOT,
    env: process.env,
    what: 'the synth',
  });

  const env = cdklocalEnv(options.awsEnv);
  // Outside the project: a cdk.json in the working directory would make the CLI synthesise the project.
  const cwd = mkdtempSync(join(options.workDir, 'cdklocal-'));
  try {
    options.log(`cdklocal bootstrap aws://${ACCOUNT}/${REGION}`);
    await cdklocal(['bootstrap', `aws://${ACCOUNT}/${REGION}`, '--no-notices'], { cwd, env });
    const outputsFile = join(cwd, 'outputs.json');
    options.log(`cdklocal deploy ${stackName}`);
    await cdklocal(['deploy', '--app', assemblyDir, '--all', '--require-approval', 'never', '--no-notices', '--outputs-file', outputsFile], { cwd, env });
    const outputs = (JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>)[stackName] ?? {};
    const output = (key: string) => {
      const value = outputs[key];
      if (!value) throw new Error(`the deployed stack has no output ${key} (outputs: ${Object.keys(outputs).join(', ')})`);
      return value;
    };
    return {
      stackName,
      reindexRunArn: output('ReindexRunStateMachineArn'),
      monthlyBackfillArn: output('MonthlyBackfillStateMachineArn'),
      ledgerTable: output('LedgerTableName'),
      alarmTopicArn: output('AlarmTopicArn'),
      dashboardName: output('DashboardName'),
      outputs,
      assemblyDir,
    };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** `cdklocal destroy` of what `deployToLocalStack` deployed: a LocalStack the user runs is left as it was found (but for the bootstrap stack). */
export async function destroyFromLocalStack(deployment: LocalStackDeployment, options: Pick<DeployOptions, 'awsEnv' | 'workDir' | 'log'>): Promise<void> {
  const cwd = mkdtempSync(join(options.workDir, 'cdklocal-'));
  try {
    options.log(`cdklocal destroy ${deployment.stackName}`);
    await cdklocal(['destroy', '--app', deployment.assemblyDir, '--all', '--force', '--no-notices'], { cwd, env: cdklocalEnv(options.awsEnv) });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function cdklocalEnv(awsEnv: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const endpoint = awsEnv.AWS_ENDPOINT_URL!.replace('127.0.0.1', 'localhost');
  return {
    ...process.env,
    ...awsEnv,
    // cdklocal hands only these to the CDK CLI unchanged; with them the bootstrap and the deploy use the same account.
    AWS_ENVAR_ALLOWLIST: 'AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_REGION,AWS_DEFAULT_REGION',
    // Without the S3 endpoint named as well, the bootstrap's asset upload fails with NoCredentials.
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ENDPOINT_URL: endpoint,
    CDK_DISABLE_VERSION_CHECK: '1',
  };
}
