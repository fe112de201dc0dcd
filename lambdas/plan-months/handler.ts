import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Ledger } from '../shared/ledger';
import { planMonthsState, type MonthPlan, type PlanMonthsInvocation } from './plan-months';

/**
 * MonthlyBackfill's PlanMonths task. Reads only the ledger (runs by target index), so it needs
 * LEDGER_TABLE_NAME and read access to the table and its `byTarget` index; no cluster access.
 */

let ledger: Ledger | undefined;

function ledgerFromEnv(): Ledger {
  const tableName = process.env.LEDGER_TABLE_NAME;
  if (!tableName) throw new Error('environment variable LEDGER_TABLE_NAME is not set (the CDK construct sets it)');
  return new Ledger({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    tableName,
  });
}

export const handler = async (event: PlanMonthsInvocation): Promise<MonthPlan> => {
  ledger ??= ledgerFromEnv();
  return planMonthsState(event, { ledger });
};
