import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { sourceSecret } from '../../lambdas/shared/runtime/lambda-runtime';

const secrets = mockClient(SecretsManagerClient);
const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
const config = (secret: string | null) =>
  parseRunConfig(
    { runId: 'calls-dry', source: { url: 'https://es7.internal:9200', index: 'calls', credentialsSecret: secret }, target: { index: 'calls' } },
    { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com' },
  );

beforeEach(() => {
  secrets.reset();
  process.env.AWS_REGION = 'eu-west-1';
  process.env.SOURCE_SECRET_ARNS = [arn('es-source'), arn('no-password'), arn('cached')].join(',');
});
afterEach(() => {
  delete process.env.SOURCE_SECRET_ARNS;
});

describe('sourceSecret (the Lambda side of the source credentials)', () => {
  it('reads username and password from the JSON secret', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: arn('es-source') }).resolves({ SecretString: '{"username":"svc","password":"pw"}' });
    await expect(sourceSecret(config(arn('es-source')))).resolves.toEqual({ username: 'svc', password: 'pw' });
  });

  it('needs no secret for an unauthenticated source', async () => {
    await expect(sourceSecret(config(null))).resolves.toBeUndefined();
    expect(secrets.calls()).toHaveLength(0);
  });

  it('refuses a secret this deployment was not configured to read, without asking Secrets Manager', async () => {
    await expect(sourceSecret(config(arn('someone-else')))).rejects.toThrow('is not one of the secrets this deployment may read');
    expect(secrets.calls()).toHaveLength(0);
  });

  it('names what is missing from a secret without a password, and never its content', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"svc","pass":"hunter2"}' });
    const err = (await sourceSecret(config(arn('no-password'))).catch((e: Error) => e)) as Error;
    expect(err.message).toBe(`secret ${arn('no-password')} must be JSON with "username" and "password"`);
    expect(err.message).not.toContain('hunter2');
  });

  it('reads the secret once per container for a while (a poll loop does not hit Secrets Manager every time)', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"svc","password":"pw"}' });
    await sourceSecret(config(arn('cached')));
    await sourceSecret(config(arn('cached')));
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });
});
