import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STATE_FUNCTIONS, functionKey } from '../../lambdas/states';
import { HANDLER_SETTINGS } from '../../lib/constructs/handler-functions';
import { MONTHLY_BACKFILL_ASL, REINDEX_RUN_ASL, handlerDirectories } from '../../lib/constructs/paths';
import { stateLogicByKey } from '../../local/bench/state-logic';

/** Every `${KeyFunctionArn}` an ASL file names. */
function functionKeysOf(file: string): string[] {
  return [...new Set([...readFileSync(file, 'utf8').matchAll(/"\$\{(\w+FunctionArn)\}"/g)].map((m) => m[1]!))];
}

describe('the state catalogue (lambdas/states.ts)', () => {
  it('names every handler folder once, and no other', () => {
    const dirs = STATE_FUNCTIONS.map((s) => s.dir);
    expect(new Set(dirs).size).toBe(dirs.length);
    expect([...dirs].sort()).toEqual(handlerDirectories());
  });

  it('is where the construct takes each function\'s timeout, memory and access from', () => {
    for (const s of STATE_FUNCTIONS) {
      expect(HANDLER_SETTINGS[s.dir]?.timeout?.toSeconds(), s.dir).toBe(s.timeoutSeconds);
      expect(HANDLER_SETTINGS[s.dir]?.memorySize, s.dir).toBe(s.memoryMb);
      expect(HANDLER_SETTINGS[s.dir]?.access, s.dir).toEqual(s.access);
    }
  });

  it('holds every function the state machines invoke, and each one is invoked by one of them or by the abort rule', () => {
    const invoked = [...functionKeysOf(REINDEX_RUN_ASL), ...functionKeysOf(MONTHLY_BACKFILL_ASL)];
    const catalogued = STATE_FUNCTIONS.map((s) => functionKey(s.dir));
    expect(invoked.filter((key) => !catalogued.includes(key))).toEqual([]);
    expect(catalogued.filter((key) => !invoked.includes(key))).toEqual(['AbortRunFunctionArn']);
  });

  it('finds each state\'s logic where the simulations look it up: <dir>/<dir>.ts, exported under its camel-case name', async () => {
    const logic = await stateLogicByKey();
    expect(Object.keys(logic).sort()).toEqual(STATE_FUNCTIONS.map((s) => functionKey(s.dir)).sort());
    for (const fn of Object.values(logic)) expect(typeof fn).toBe('function');
  });
});
