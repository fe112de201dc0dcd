import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Elasticsearch, one OpenSearch per supported version and one ledger for the whole run.
    globalSetup: ['test/setup/local-servers.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
