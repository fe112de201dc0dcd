import { describe, expect, it } from 'vitest';
import { validateInput } from '../../lambdas/validate-input/validate-input';
import type { RunDeps } from '../../lambdas/shared/runtime/run-context';

/**
 * A run without partitions became a one-partition plan in the same Map as partitioned runs. Its dry run,
 * header and fingerprint did not change: these fingerprints are the ones the single-task path computed
 * for the same inputs, so an approval a dry run recorded then still launches the live run now.
 */
const TARGET = 'https://search-target.eu-west-1.es.amazonaws.com';

const deps = {
  targetEndpoint: TARGET,
  credentialReference: () => undefined,
  ledger: { createRun: async () => ({}) },
  now: () => new Date('2026-06-01T00:00:00.000Z'),
  log: { info: () => undefined, warn: () => undefined },
} as unknown as RunDeps;

describe('approvals recorded before the one task path', () => {
  it.each([
    [
      'the worked example',
      { runId: 'calls-2026-05-dry', source: { url: 'https://es7.internal:9200', index: 'calls-2026-05' }, target: { index: 'calls-2026-05' }, dateField: 'timestamp', dryRun: true },
      'd05113ca0048d7018b865e601457a629e1c64919b58627bcf598602a8941f7dd',
    ],
    [
      'a query, create-only, a batch size and a throttle',
      {
        runId: 'calls-2026-05-q',
        source: { url: 'https://es7.internal:9200', index: 'calls-2026-05', query: { term: { tenant: 'acme' } } },
        target: { index: 'calls-2026-05' },
        mode: 'create-only',
        batchSize: 500,
        requestsPerSecond: 2000,
        dryRun: true,
      },
      'f853af7708eb54da8e2abe26d6f557ddae75bb11d1718d89452b2a7273c2fc29',
    ],
  ])('%s keeps the fingerprint its dry run recorded', async (_case, input, recorded) => {
    const run = await validateInput({ input }, deps);

    expect(run.fingerprint).toBe(recorded);
  });
});
