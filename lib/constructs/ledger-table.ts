import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import {
  LEDGER_BY_TARGET_INDEX,
  LEDGER_GSI_PARTITION_KEY,
  LEDGER_GSI_SORT_KEY,
  LEDGER_PARTITION_KEY,
  LEDGER_SORT_KEY,
  LEDGER_TTL_ATTRIBUTE,
} from '../../lambdas/shared/ledger/ledger';

export interface LedgerTableProps {
  /**
   * What happens to the table (the runs' receipts) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse `DeleteTable` until switched off.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * The ledger (docs/design.md "Ledger"): one on-demand DynamoDB table with the key schema of
 * `lambdas/shared/ledger/ledger.ts` (pk/sk, the `byTarget` index on gsi1pk/gsi1sk, TTL on `expiresAt` for
 * dry-run approvals), point-in-time recovery and encryption at rest. Its records are the receipts a
 * team reads months later, so it is retained by default.
 */
export class LedgerTable extends Construct {
  readonly table: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: LedgerTableProps = {}) {
    super(scope, id);
    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: LEDGER_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: LEDGER_SORT_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: LEDGER_BY_TARGET_INDEX,
      partitionKey: { name: LEDGER_GSI_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: LEDGER_GSI_SORT_KEY, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.table = table;
  }
}
