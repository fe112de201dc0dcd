import { afterAll, describe, expect, it, vi } from 'vitest';
import { runtime, tracer } from '../../lambdas/shared/runtime/lambda-runtime';

// As in a Lambda container with active tracing: the tracer reads its switch when the runtime module
// loads, so the environment is set before the imports.
vi.hoisted(() => {
  process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs24.x';
  delete process.env.POWERTOOLS_TRACE_ENABLED;
});
afterAll(() => {
  delete process.env.AWS_EXECUTION_ENV;
});

describe('the Lambda runtime with tracing on', () => {
  it('traces the AWS SDK clients it creates (each call an X-Ray subsegment)', async () => {
    const ledgerClient = runtime.documentClient().middlewareStack.identify().join(' ');
    const topicClient = (await runtime.sns()).middlewareStack.identify().join(' ');

    expect(tracer.isTracingEnabled()).toBe(true);
    expect(ledgerClient).toContain('XRaySDKInstrumentation');
    expect(topicClient).toContain('XRaySDKInstrumentation');
  });

  it('creates each client once per container', async () => {
    expect(runtime.documentClient()).toBe(runtime.documentClient());
    expect(await runtime.sns()).toBe(await runtime.sns());
  });
});
