import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/ledger/**/*.test.ts', 'test/infra/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'servers',
          include: [
            'test/contract/**/*.test.ts',
            'test/local/**/*.test.ts',
            'test/statemachine/**/*.test.ts',
            'test/bundles/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          // One Elasticsearch, one OpenSearch per supported version and one ledger for the whole run.
          globalSetup: ['test/setup/local-servers.ts'],
        },
      },
    ],
  },
});
