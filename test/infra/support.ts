import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { createApp, type CreateAppOptions, type SafeReindexApp } from '../../lib/app';

/** The example context of cdk.json: the settings `npm run synth` uses. */
export const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> }).context;

export interface Synthesised extends SafeReindexApp {
  readonly template: Template;
}

/**
 * The app with cdk.json's context (plus overrides), synthesised once. Without bundling unless asked:
 * the template is the same apart from asset hashes, and esbuild runs 15 times otherwise.
 */
export function synthesise(overrides: Record<string, unknown> = {}, options: CreateAppOptions = {}): Synthesised {
  const outdir = options.outdir ?? mkdtempSync(join(tmpdir(), 'safe-reindex-cdk-'));
  const remove = () => rmSync(outdir, { recursive: true, force: true });
  let built: SafeReindexApp;
  try {
    built = createApp({ ...CDK_JSON_CONTEXT, ...overrides }, { bundle: false, cfnValidation: false, ...options, outdir });
  } catch (err) {
    if (!options.outdir) remove();
    throw err;
  }
  // Registered where the suite is collected; a caller in a hook removes s.app.outdir itself.
  if (!options.outdir) afterAll(remove);
  return { ...built, template: Template.fromStack(built.stack) };
}

type Json = Record<string, unknown>;

/** Every statement of every IAM policy attached to a role (by the role's logical id). */
export function roleStatements(template: Template, roleLogicalId: string): Json[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => ((p.Properties as Json).Roles as Json[]).some((r) => r.Ref === roleLogicalId))
    .flatMap((p) => (((p.Properties as Json).PolicyDocument as Json).Statement as Json[]));
}

/** Every statement of every IAM policy in the template, with the policy's logical id. */
export function allStatements(template: Template): Array<{ policy: string; statement: Json }> {
  return Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([policy, p]) =>
    (((p.Properties as Json).PolicyDocument as Json).Statement as Json[]).map((statement) => ({ policy, statement })),
  );
}

export const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
