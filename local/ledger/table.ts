import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  LEDGER_BILLING_MODE,
  LEDGER_BY_TARGET_INDEX,
  LEDGER_GSI_PARTITION_KEY,
  LEDGER_GSI_SORT_KEY,
  LEDGER_PARTITION_KEY,
  LEDGER_SORT_KEY,
  LEDGER_TTL_ATTRIBUTE,
  LedgerError,
} from '../../lambdas/shared/ledger/ledger';

/* Local only: on AWS the CDK ledger construct creates the table. */

/**
 * Creates the ledger table with the schema the CDK construct uses, waits until it is ACTIVE and
 * enables TTL on `expiresAt`. Idempotent. dynalite does not implement `UpdateTimeToLive`: there the
 * TTL step is skipped (approvals are age-checked on read anyway).
 */
export async function createLedgerTable(client: DynamoDBDocumentClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: LEDGER_BILLING_MODE,
        AttributeDefinitions: [
          { AttributeName: LEDGER_PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_SORT_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_GSI_PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: LEDGER_GSI_SORT_KEY, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: LEDGER_PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: LEDGER_SORT_KEY, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: LEDGER_BY_TARGET_INDEX,
            KeySchema: [
              { AttributeName: LEDGER_GSI_PARTITION_KEY, KeyType: 'HASH' },
              { AttributeName: LEDGER_GSI_SORT_KEY, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException) && (err as Error).name !== 'ResourceInUseException') throw err;
  }
  for (let attempt = 0; ; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const gsiActive = (Table?.GlobalSecondaryIndexes ?? []).every((gsi) => gsi.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && gsiActive) break;
    if (attempt >= 600) throw new LedgerError(`ledger table ${tableName} did not become ACTIVE`);
    await new Promise((res) => setTimeout(res, 100));
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: LEDGER_TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (err) {
    const name = (err as Error).name;
    // dynalite: UnknownOperationException. Real DynamoDB, second call: "TimeToLive is already enabled".
    if (name === 'UnknownOperationException') return;
    if (name === 'ValidationException' && /already enabled/i.test((err as Error).message)) return;
    throw err;
  }
}
