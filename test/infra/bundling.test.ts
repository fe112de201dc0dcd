import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/paths';
import { synthesise, type Synthesised } from './support';

// One synth with bundling: esbuild from node_modules (no Docker), ESM output that Node can load.

type Json = Record<string, unknown>;
let s: Synthesised;
let bundles: Array<{ fn: string; dir: string }>;

// Inside the project (git-ignored node_modules/.cache), so that the bundles resolve @aws-sdk/* as the runtime would.
const cacheDir = join(PROJECT_ROOT, 'node_modules', '.cache');
let outdir: string;

beforeAll(() => {
  mkdirSync(cacheDir, { recursive: true });
  outdir = mkdtempSync(join(cacheDir, 'safe-reindex-cdk-'));
  s = synthesise({}, { bundle: true, outdir });
  bundles = Object.entries(s.template.findResources('AWS::Lambda::Function')).map(([fn, resource]) => {
    const key = ((resource.Properties as Json).Code as Json).S3Key as string;
    return { fn, dir: join(outdir, `asset.${key.replace(/\.zip$/, '')}`) };
  });
}, 240_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('bundled handlers', () => {
  it('are bundled locally into one ESM file per function, with the createRequire banner and a source map', () => {
    expect(bundles.length).toBeGreaterThan(10);
    for (const { fn, dir } of bundles) {
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire as __safeReindexCreateRequire } from 'node:module';"), fn).toBe(true);
      expect(code, fn).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      expect(existsSync(join(dir, 'index.mjs.map')), fn).toBe(true);
      // @aws-sdk/* comes from the Lambda runtime.
      expect(code, fn).not.toMatch(/var\s+\w+\s*=\s*"@aws-sdk\/client-dynamodb"/);
    }
  });

  it('load in Node and export a handler function', async () => {
    for (const { fn, dir } of bundles) {
      const mod = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler?: unknown };
      expect(typeof mod.handler, fn).toBe('function');
    }
  });
});
