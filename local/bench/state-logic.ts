import { STATE_FUNCTIONS, functionKey, logicName } from '../../lambdas/states';
import type { RunDeps, StateInvocation } from '../../lambdas/shared/runtime/run-context';

/** A state's logic as its `lambdas/<dir>/<dir>.ts` exports it. */
export type StateLogic = (invocation: StateInvocation, deps: RunDeps) => Promise<unknown>;

/**
 * Every function of the state catalogue by its ASL key (`PollTaskFunctionArn`), as the real logic:
 * the simulations run these unless they model a state (a cluster they do not have).
 */
export async function stateLogicByKey(): Promise<Record<string, StateLogic>> {
  const entries = await Promise.all(
    STATE_FUNCTIONS.map(async (s) => {
      const module = (await import(`../../lambdas/${s.dir}/${s.dir}.ts`)) as Record<string, unknown>;
      const logic = module[logicName(s.dir)];
      if (typeof logic !== 'function') throw new Error(`lambdas/${s.dir}/${s.dir}.ts exports no ${logicName(s.dir)}`);
      return [functionKey(s.dir), logic as StateLogic] as const;
    }),
  );
  return Object.fromEntries(entries);
}
