import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files the constructs read, resolved from this module's own directory (never the working
 * directory), so a team's app that imports the construct from elsewhere finds them too.
 */
const HERE = dirname(fileURLToPath(import.meta.url));

/** The project root: package.json, package-lock.json, tsconfig.json, lambdas/, statemachines/. */
export const PROJECT_ROOT = resolve(HERE, '..', '..');
export const LAMBDAS_DIR = join(PROJECT_ROOT, 'lambdas');
export const STATEMACHINES_DIR = join(PROJECT_ROOT, 'statemachines');
export const REINDEX_RUN_ASL = join(STATEMACHINES_DIR, 'reindex-run.asl.json');
export const MONTHLY_BACKFILL_ASL = join(STATEMACHINES_DIR, 'monthly-backfill.asl.json');

/** `validate-input` → `ValidateInput`: the prefix of the ASL placeholder `ValidateInputFunctionArn`. */
export function pascalCase(dirName: string): string {
  return dirName
    .split(/[-_]/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/** Every `lambdas/<dir>/handler.ts`, as directory names, sorted. */
export function handlerDirectories(lambdasDir: string = LAMBDAS_DIR): string[] {
  return readdirSync(lambdasDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(lambdasDir, entry.name, 'handler.ts')))
    .map((entry) => entry.name)
    .sort();
}
