import type { TestProject } from 'vitest/node';
import { deployToLocalStack, destroyFromLocalStack, type LocalStackDeployment } from '../../local/localstack/deploy';
import { startLocalStackEnvironment, useExternalLocalStack, type LocalStackEnvironment } from '../../local/localstack/environment';
import { createSourceSecret } from '../../local/localstack/scenarios';
import { EXTERNAL_WORK_DIR } from '../../local/localstack/settings';
import { SOURCE_CREDENTIALS, type LocalStackSession } from '../support/localstack';

/**
 * Once per `npm run test:localstack`: LocalStack (this machine's own environment, or the one
 * AWS_ENDPOINT_URL names, whose Lambda containers reach this machine at SAFE_REINDEX_HOST_ADDRESS),
 * the real clusters, a Secrets Manager secret with source credentials, and the stack deployed with
 * cdklocal, allowed to read that secret. Torn down (or, on a LocalStack the user runs, destroyed) at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`[localstack] ${line}\n`);
  const external = process.env.AWS_ENDPOINT_URL;
  let environment: LocalStackEnvironment | undefined;
  let deployment: LocalStackDeployment | undefined;
  const teardown = async () => {
    if (external && deployment && environment) {
      await destroyFromLocalStack(deployment, { awsEnv: environment.awsEnv, workDir: environment.workDir, log }).catch((err: Error) => log(err.message));
    }
    await environment?.stop();
  };
  try {
    if (external) {
      const hostAddress = process.env.SAFE_REINDEX_HOST_ADDRESS;
      if (!hostAddress) throw new Error('AWS_ENDPOINT_URL is set: give SAFE_REINDEX_HOST_ADDRESS, an address of this machine the Lambda containers reach (e.g. 172.17.0.1)');
      environment = await useExternalLocalStack({ endpoint: external, hostAddress, workDir: EXTERNAL_WORK_DIR, log });
    } else {
      environment = await startLocalStackEnvironment({ log });
    }
    const secretArn = await createSourceSecret(environment.awsEnv, `safe-reindex/source-${Date.now().toString(36)}`, SOURCE_CREDENTIALS);
    deployment = await deployToLocalStack({ targetUrl: environment.targetUrl!, sourceSecretArns: [secretArn], awsEnv: environment.awsEnv, workDir: environment.workDir, log });
    const session: LocalStackSession = {
      deployment,
      awsEnv: environment.awsEnv,
      hostAddress: environment.hostAddress,
      sourceHostUrl: environment.source!.url,
      targetHostUrl: environment.target!.url,
      sourceUrl: environment.sourceUrl!,
      workDir: environment.workDir,
      secretArn,
    };
    project.provide('localStackSession', session);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
