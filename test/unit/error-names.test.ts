import { describe, expect, it } from 'vitest';
import * as runErrors from '../../lambdas/shared/runtime/errors';
import * as ledgerModule from '../../lambdas/shared/ledger/ledger';
import * as taskSlotsModule from '../../lambdas/shared/ledger/task-slots';

// Step Functions matches Retry/Catch `ErrorEquals` against the Lambda runtime's `errorType`, which is
// the thrown error's `name`. The deployed bundles are minified, so a name taken from the class at run
// time would be whatever esbuild renamed the class to: each name must be a literal that equals the
// class name as written here.

type ErrorClass = new (...args: never[]) => Error;

/** The exported classes of a module that extend `base` (the abstract base itself left out). */
function errorClasses(module: Record<string, unknown>, base: abstract new (...args: never[]) => Error): Array<[string, ErrorClass]> {
  return Object.entries(module).filter(
    (entry): entry is [string, ErrorClass] => typeof entry[1] === 'function' && entry[1].prototype instanceof base,
  );
}

/** An instance built with arguments every constructor here accepts (a message or id, then a field or status). */
const instance = (cls: ErrorClass) => new (cls as unknown as new (a: string, b: string) => Error)('something failed', 'field');

describe('run error names (what the ASL matches)', () => {
  const classes = errorClasses(runErrors, runErrors.SafeReindexError);

  it('gives every run error class the name of the class without "Error"', () => {
    expect(classes.length).toBeGreaterThan(0);
    for (const [exported, cls] of classes) {
      expect(instance(cls).name, exported).toBe(exported.replace(/Error$/, ''));
    }
  });

  it('names every run error class after one of the run error names, or TransientCluster', () => {
    const known: readonly string[] = [...runErrors.RUN_ERROR_NAMES, 'TransientCluster'];
    for (const [exported, cls] of classes) {
      expect(known, exported).toContain(instance(cls).name);
    }
  });

  it('has a class for every run error name the runbook and the Fail states use', () => {
    const names = classes.map(([, cls]) => instance(cls).name);

    expect([...names].sort()).toEqual([...runErrors.RUN_ERROR_NAMES, 'TransientCluster'].sort());
  });

  it('keeps the name when the class is renamed, as a minifier does', () => {
    const Renamed = runErrors.InvalidInputError;
    Object.defineProperty(Renamed, 'name', { value: 'je' });
    try {
      expect(new Renamed('bad', 'source.index').name).toBe('InvalidInput');
      expect(String(new Renamed('bad', 'source.index'))).toBe('InvalidInput: bad');
    } finally {
      Object.defineProperty(Renamed, 'name', { value: 'InvalidInputError' });
    }
  });

  it('marks only TransientCluster as worth retrying', () => {
    for (const [exported, cls] of classes) {
      expect((instance(cls) as runErrors.SafeReindexError).transient, exported).toBe(exported === 'TransientClusterError');
    }
  });
});

describe('ledger error names', () => {
  const classes = [
    ['LedgerError', ledgerModule.LedgerError] as [string, ErrorClass],
    ...errorClasses(ledgerModule, ledgerModule.LedgerError),
    ...errorClasses(taskSlotsModule, ledgerModule.LedgerError),
  ];

  it('gives every ledger error class its own class name, as a literal', () => {
    expect(classes.map(([exported]) => exported)).toEqual(
      expect.arrayContaining(['LedgerError', 'RunIdAlreadyUsedError', 'RunNotFoundError', 'RunAlreadyFinishedError', 'SecretInLedgerError', 'TaskSlotError']),
    );
    for (const [exported, cls] of classes) {
      expect(instance(cls).name, exported).toBe(exported);
    }
  });
});
