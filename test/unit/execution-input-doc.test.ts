import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ExecutionInputSchema } from '../../lambdas/shared/runtime/config';
import { FULL_INPUT, parsedExample, refusalsOf, renderExecutionInputPage } from '../../local/docs/execution-input-page';

const PAGE = new URL('../../docs/execution-input.md', import.meta.url);

/** The schema's own walk, not the page's: every field path whose value holds no fields of its own. */
function leafPaths(schema: z.ZodType, path = ''): string[] {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) inner = inner.unwrap() as z.ZodType;
  if (!(inner instanceof z.ZodObject)) return [path];
  return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, field]) => leafPaths(field, path ? `${path}.${key}` : key));
}

describe('docs/execution-input.md', () => {
  const page = renderExecutionInputPage();

  it('is what npm run docs renders from the schema, byte for byte', () => {
    expect(readFileSync(PAGE, 'utf8'), 'run npm run docs').toBe(page);
  });

  it('has a row for every leaf field of the schema', () => {
    const leaves = leafPaths(ExecutionInputSchema);
    expect(leaves).toContain('guards.tombstoneRetention');
    expect(leaves.filter((path) => !page.includes(`| \`${path}\` |`))).toEqual([]);
  });

  it('cannot render an example the pipeline refuses, or a rule it does not enforce', () => {
    expect(() => parsedExample('full', { ...FULL_INPUT, verifyOnly: true })).toThrow('the full example is refused: dryRun is for a reindex');
    expect(() => refusalsOf({ rule: 'batchSize is refused', refused: [{ change: { batchSize: 10 }, field: 'batchSize' }] })).toThrow(
      'the rule "batchSize is refused" says {"batchSize":10} is refused naming batchSize; parseRunConfig accepts it',
    );
  });
});
