import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAMBDAS_DIR, handlerDirectories } from '../../lib/constructs/paths';

/** Every relative import of every file under lambdas/, as [importer, imported] paths relative to lambdas/. */
function importEdges(): Array<[string, string]> {
  const files = readdirSync(LAMBDAS_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.flatMap((file) => {
    const text = readFileSync(join(LAMBDAS_DIR, file), 'utf8');
    const specs = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
    return specs.map((spec): [string, string] => [file, relative(LAMBDAS_DIR, resolve(dirname(join(LAMBDAS_DIR, file)), spec))]);
  });
}

describe('the import graph of lambdas/', () => {
  it('has no state folder import another: what two states share lives in lambdas/shared/', () => {
    const states = new Set(handlerDirectories());
    const edges = importEdges();
    const folderOf = (path: string) => path.split(/[\\/]/)[0]!;

    const crossing = edges.filter(([from, to]) => states.has(folderOf(from)) && states.has(folderOf(to)) && folderOf(from) !== folderOf(to));

    expect(edges.length).toBeGreaterThan(100);
    expect(crossing).toEqual([]);
  });

  it('has shared/ import no state folder', () => {
    const states = new Set(handlerDirectories());

    const upward = importEdges().filter(([from, to]) => from.startsWith('shared') && states.has(to.split(/[\\/]/)[0]!));

    expect(upward).toEqual([]);
  });
});
