import { inject } from 'vitest';
import type { DeployedSession } from '../../local/localstack/scenarios';

export interface LocalStackSession extends DeployedSession {
  /** The host's address as the Lambda containers reach it. */
  readonly hostAddress: string;
  /** The Secrets Manager secret (SOURCE_CREDENTIALS) the deployed stack may read. */
  readonly secretArn: string;
}

/** What the secret holds; the password must never show up in what the run leaves behind. */
export const SOURCE_CREDENTIALS = { username: 'svc-backfill', password: 'Ls-S3cret-never-logged-4821' } as const;

declare module 'vitest' {
  export interface ProvidedContext {
    localStackSession: LocalStackSession;
  }
}

export function localStackSession(): LocalStackSession {
  return inject('localStackSession');
}
