import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One cdk-nag finding acknowledged, with the reason a reviewer reads. */
export interface NagAcknowledgement {
  /** The finding, e.g. `AwsSolutions-IAM5[Resource::<LedgerTable1234.Arn>/index/*]`. */
  readonly id: string;
  readonly reason: string;
}

/**
 * Acknowledges cdk-nag findings on a construct and everything under it (cdk-nag 3 reads the
 * `Validations.of(...).acknowledge()` metadata; each finding is acknowledged by its full id).
 */
export function acknowledge(scope: IConstruct, acknowledgements: readonly NagAcknowledgement[]): void {
  if (acknowledgements.length > 0) Validations.of(scope).acknowledge(...acknowledgements);
}

/**
 * A value as cdk-nag spells it in a finding id: tokens resolved, `Fn::GetAtt` as `<Id.Attr>`, `Ref` as
 * `<Id>`, `Fn::Join` flattened (the same rendering as cdk-nag's flattenCfnReference).
 */
export function nagSpelling(scope: IConstruct, value: unknown): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    const obj = node as Record<string, unknown>;
    if (obj['Fn::Join']) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map(visit).join(delimiter);
    }
    if (obj['Fn::Sub']) return visit(obj['Fn::Sub']);
    if (obj['Fn::GetAtt']) {
      const [resource, attribute] = obj['Fn::GetAtt'] as [unknown, unknown];
      return `<${visit(resource)}.${visit(attribute)}>`;
    }
    if (obj['Fn::ImportValue']) return visit(obj['Fn::ImportValue']);
    if (obj.Ref) return `<${visit(obj.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(value));
}

/** A state machine role's `Resource: *` statements: what logging ALL and tracing need. */
export const STATE_MACHINE_SERVICE_WILDCARDS: NagAcknowledgement = {
  id: 'AwsSolutions-IAM5[Resource::*]',
  reason:
    'Step Functions logging to CloudWatch Logs (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions.',
};
