import { lambdaFunction } from '../shared/runtime/lambda-runtime';
import { planMonthsState, type MonthPlan, type PlanMonthsInvocation } from './plan-months';

/**
 * MonthlyBackfill's PlanMonths task. Reads only the ledger (runs by target index), so it needs
 * LEDGER_TABLE_NAME and read access to the table and its `byTarget` index; no cluster access.
 */
export const handler = lambdaFunction<PlanMonthsInvocation, MonthPlan>((event, runtime) => planMonthsState(event, { ledger: runtime.ledger() }));
