import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApp } from '../../lib/app';
import { PROJECT_ROOT } from '../../lib/constructs/paths';

/**
 * Each handler as the CDK app bundles it for Lambda (the same NodejsFunction settings, local esbuild),
 * its minified size, and the time its module takes to initialise in a fresh Node process (median of
 * a few). The bundles live under node_modules/.cache so that `@aws-sdk/*`, external as on Lambda
 * (the runtime provides it), resolves from this project.
 */
export interface BundleFigure {
  readonly handler: string;
  readonly bytes: number;
  readonly initMs: number;
}

const INIT_RUNS = 3;

export function measureBundles(): BundleFigure[] {
  const cache = join(PROJECT_ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const outdir = mkdtempSync(join(cache, 'safe-reindex-bench-'));
  try {
    const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
    const { stack } = createApp(cdkJson.context, { outdir, cfnValidation: false });
    const template = (stack.node.root as unknown as { synth(): { getStackByName(n: string): { template: Record<string, unknown> } } })
      .synth()
      .getStackByName(stack.stackName).template as { Resources: Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }> };
    return Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([logicalId, r]) => {
        const key = (r.Properties.Code as { S3Key: string }).S3Key;
        const file = join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
        const times = Array.from({ length: INIT_RUNS }, () => initMs(file)).sort((a, b) => a - b);
        return { handler: logicalId.replace(/Handler[0-9A-F]{8}$/, '').replace(/[0-9A-F]{8}$/, ''), bytes: statSync(file).size, initMs: times[1]! };
      })
      .sort((a, b) => a.handler.localeCompare(b.handler));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function initMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  // Environment the handlers read at init (none connects at init: clients are created on first use).
  const env = { ...process.env, AWS_REGION: 'eu-west-1', TARGET_ENDPOINT: 'https://example.invalid', LEDGER_TABLE_NAME: 'bench' };
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' }));
}
