import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUN_ERROR_NAMES } from '../../lambdas/shared/runtime/errors';
import { aslPlaceholders } from '../../lib/constructs/asl';
import { MONTHLY_BACKFILL_ASL, REINDEX_RUN_ASL } from '../../lib/constructs/paths';

/**
 * `DefinitionBody.fromFile` stores the ASL as an asset the template does not show, and adds no
 * Comment, timeout or Lambda retry: the contracts are checked on the files themselves.
 */

interface State {
  Type: string;
  Resource?: string;
  Error?: string;
  Comment?: string;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Parameters?: Record<string, unknown>;
  Arguments?: Record<string, unknown>;
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
  Branches?: Array<{ States: Record<string, State> }>;
}
interface Asl {
  Comment?: string;
  TimeoutSeconds?: number;
  States: Record<string, State>;
}

/** The Lambda service errors worth retrying (the project's list; aws-cdk's LambdaInvoke default retries the first three too). */
const LAMBDA_SERVICE_ERRORS = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException'];

/** Fail errors that are not run errors: each one has a runbook entry in lib/README.md. */
const README = readFileSync(new URL('../../lib/README.md', import.meta.url), 'utf8');

function allStates(states: Record<string, State>): Array<[string, State]> {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
    ...(state.Iterator ? allStates(state.Iterator.States) : []),
    ...(state.Branches ?? []).flatMap((b) => allStates(b.States)),
  ]);
}

const files = [
  ['ReindexRun', REINDEX_RUN_ASL],
  ['MonthlyBackfill', MONTHLY_BACKFILL_ASL],
] as const;

describe.each(files)('%s ASL', (name, file) => {
  const present = existsSync(file);
  const asl: Asl = present ? (JSON.parse(readFileSync(file, 'utf8')) as Asl) : { States: {} };
  const states = allStates(asl.States);
  const lambdaTasks = states.filter(
    ([, s]) => s.Type === 'Task' && (s.Resource?.startsWith('arn:aws:states:::lambda:invoke') || /^\$\{\w+FunctionArn\}$/.test(s.Resource ?? '')),
  );

  it('exists', () => {
    expect(present, `${file} is missing`).toBe(true);
  });

  it('carries its own Comment and TimeoutSeconds (fromFile ignores the construct\'s comment and timeout)', () => {
    expect(asl.Comment).toMatch(new RegExp(name));
    expect(asl.TimeoutSeconds).toBeGreaterThan(0);
  });

  it('names its resources only through ${...} placeholders (no account, region or ARN in the file)', () => {
    const text = present ? readFileSync(file, 'utf8') : '';

    expect(text).not.toMatch(/arn:aws:(lambda|states|sns|dynamodb):[a-z]/);
    expect(aslPlaceholders(file).length).toBeGreaterThan(0);
  });

  it('retries the Lambda service errors on every Lambda task', () => {
    const missing = lambdaTasks
      .filter(([, s]) => !LAMBDA_SERVICE_ERRORS.every((e) => (s.Retry ?? []).some((r) => r.ErrorEquals.includes(e) || r.ErrorEquals.includes('States.ALL'))))
      .map(([n]) => n);

    expect(lambdaTasks.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('ends in Fail states whose Error is a run error or has a runbook entry in lib/README.md, each with a Comment', () => {
    const fails = states.filter(([, s]) => s.Type === 'Fail');
    const undocumented = fails
      .map(([, s]) => s.Error ?? '')
      .filter((e) => !(RUN_ERROR_NAMES as readonly string[]).includes(e) && !README.includes(`\`${e}\``));

    expect(fails.length).toBeGreaterThan(0);
    expect(undocumented).toEqual([]);
    expect(fails.filter(([, s]) => !s.Comment).map(([n]) => n)).toEqual([]);
  });
});
