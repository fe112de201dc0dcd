import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HandlerFunctions } from '../../lib/constructs/handler-functions';
import { LAMBDAS_DIR, PROJECT_ROOT } from '../../lib/constructs/paths';

// What Step Functions sees of a thrown error is the Lambda runtime's `errorType`, the error's `name`,
// and Retry/Catch match it by string. The check runs on the bundle as shipped (HandlerFunctions'
// esbuild options: minified), since minification is what renamed the classes.

type Json = Record<string, unknown>;
type Handler = (event: unknown, context: Json) => Promise<unknown>;

// Inside the project (git-ignored node_modules/.cache), so that the bundle resolves @aws-sdk/* as the runtime would.
const cacheDir = join(PROJECT_ROOT, 'node_modules', '.cache');
let workDir: string;
let validateInput: Handler;

beforeAll(async () => {
  mkdirSync(cacheDir, { recursive: true });
  workDir = mkdtempSync(join(cacheDir, 'safe-reindex-errors-'));
  // One handler directory, so only ValidateInput is bundled: the real handler, re-exported.
  const lambdasDir = join(workDir, 'lambdas');
  mkdirSync(join(lambdasDir, 'validate-input'), { recursive: true });
  const real = relative(join(lambdasDir, 'validate-input'), join(LAMBDAS_DIR, 'validate-input', 'handler')).split('\\').join('/');
  writeFileSync(join(lambdasDir, 'validate-input', 'handler.ts'), `export { handler } from '${real}';\n`);

  const outdir = join(workDir, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'BundledErrors');
  new HandlerFunctions(stack, 'Handlers', { environment: {}, lambdasDir });
  app.synth();
  const fn = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))[0]!;
  const key = ((fn.Properties as Json).Code as Json).S3Key as string;
  const entry = join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');

  vi.stubEnv('TARGET_ENDPOINT', 'http://127.0.0.1:9');
  vi.stubEnv('TARGET_SIGV4', 'false');
  vi.stubEnv('LEDGER_TABLE_NAME', 'safe-reindex-ledger');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('POWERTOOLS_TRACE_ENABLED', 'false');
  validateInput = ((await import(pathToFileURL(entry).href)) as { handler: Handler }).handler;
}, 240_000);

afterEach(() => vi.restoreAllMocks());
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(workDir, { recursive: true, force: true });
});

const context = {
  functionName: 'SafeReindex-ValidateInputFunction',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:SafeReindex-ValidateInputFunction',
  memoryLimitInMB: '256',
  awsRequestId: 'request-1',
};

describe('the bundled ValidateInput handler', () => {
  it("fails bad input with errorType 'InvalidInput', the name the ASL's Catch matches", async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    const err = (await validateInput({ input: { runId: 'calls-dry' } }, context).catch((e: unknown) => e)) as Error;

    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('InvalidInput');
    // keepNames: the class keeps its source name in the minified bundle too (readable stack traces).
    expect(err.constructor.name).toBe('InvalidInputError');
  });
});
