import { defineConfig } from 'vitest/config';

/**
 * `npm run test:localstack`: the deployed stack on LocalStack (own environment on this machine, or the
 * LocalStack AWS_ENDPOINT_URL names). Not part of `npm test`: setting it up and deploying takes minutes.
 */
export default defineConfig({
  test: {
    name: 'localstack',
    include: ['test/localstack/**/*.test.ts'],
    pool: 'forks',
    // One deployed stack, one set of clusters: the files run one after another.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 900_000,
    teardownTimeout: 120_000,
    globalSetup: ['test/setup/localstack.ts'],
  },
});
