import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureCloudAssembly, type CloudAssembly } from '../../local/lambda/cloud-assembly';

// The bundles `cdk synth` writes (esbuild from node_modules, no Docker): the project's cdk.out, synthesised
// once per change of its sources and shared with every local run, so what is checked here is what runs.

let assembly: CloudAssembly;
let bundles: Array<{ fn: string; code: string; entry: string }>;

/** The AWS SDK packages a function's bundle imports when it loads (the static imports esbuild hoists to its top). */
function staticSdkImports(code: string): string[] {
  return [...new Set([...code.matchAll(/\bfrom\s*"(@aws-sdk\/[a-z0-9-]+)"/g)].map((m) => m[1]!))].sort();
}

beforeAll(async () => {
  assembly = await ensureCloudAssembly();
  bundles = Object.values(assembly.functions).map((f) => ({ fn: f.logicalId, entry: f.entry, code: readFileSync(f.entry, 'utf8') }));
}, 240_000);

describe('bundled handlers', () => {
  it('are bundled locally into one ESM file per function, with the createRequire banner and a source map', () => {
    expect(bundles.length).toBeGreaterThan(10);
    for (const { fn, code, entry } of bundles) {
      expect(code.startsWith("import { createRequire as __safeReindexCreateRequire } from 'node:module';"), fn).toBe(true);
      expect(code, fn).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      expect(existsSync(join(dirname(entry), 'index.mjs.map')), fn).toBe(true);
      // @aws-sdk/* comes from the Lambda runtime.
      expect(code, fn).not.toMatch(/var\s+\w+\s*=\s*"@aws-sdk\/client-dynamodb"/);
    }
  });

  it('load only the AWS SDK clients every function needs; Step Functions, S3 and SNS on first use', () => {
    for (const { fn, code } of bundles) {
      // The ledger (DynamoDB) and the source secret (Powertools Parameters bundles its Secrets Manager import).
      expect(staticSdkImports(code), fn).toEqual(['@aws-sdk/client-dynamodb', '@aws-sdk/client-secrets-manager', '@aws-sdk/lib-dynamodb']);
    }
    const loadedOnUse = (pkg: string) => bundles.filter((b) => b.code.includes(`import("${pkg}")`)).map((b) => b.fn);
    expect(loadedOnUse('@aws-sdk/client-sfn').length).toBeGreaterThan(0);
    expect(loadedOnUse('@aws-sdk/client-s3').length).toBeGreaterThan(0);
    expect(loadedOnUse('@aws-sdk/client-sns').some((fn) => fn.includes('RequestApproval'))).toBe(true);
  });

  it("carry zod's English messages only, not its other locales (the namespace import lets esbuild drop them)", () => {
    const withZod = bundles.filter((b) => b.code.includes('Invalid input'));
    expect(withZod.length).toBeGreaterThan(5);
    // Words of zod's German and French messages ("Ungültige Eingabe: erwartet ...", "Entrée invalide : ... attendu").
    for (const { fn, code } of withZod) expect(code, fn).not.toMatch(/erwartet|attendu/);
  });

  it('load in plain Node (as the Lambda runtime loads them) and export a handler function', () => {
    // A child process: imported here, the bundles would go through vitest's transform instead.
    const script = `for (const url of JSON.parse(process.argv[1])) { const m = await import(url); console.log(typeof m.handler); }`;
    const urls = bundles.map((b) => pathToFileURL(b.entry).href);
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(urls)], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim().split('\n')).toEqual(bundles.map(() => 'function'));
  });
});
