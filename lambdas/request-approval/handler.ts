import { lambdaFunction } from '../shared/runtime/lambda-runtime';
import { requestApproval, type ApprovalRequest } from './request-approval';

/** MonthlyBackfill's WaitForApproval task: the ledger keeps the token, ALARM_TOPIC_ARN gets the header. */
export const handler = lambdaFunction<ApprovalRequest, { notified: string }>((event, runtime) =>
  requestApproval(event, {
    ledger: runtime.ledger(),
    documentClient: runtime.documentClient(),
    tableName: runtime.ledgerTableName(),
    topicArn: runtime.env('ALARM_TOPIC_ARN'),
    publish: async (topicArn, subject, message) => {
      const { PublishCommand } = await import('@aws-sdk/client-sns');
      await (await runtime.sns()).send(new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 99), Message: message }));
    },
    now: () => new Date(),
  }),
);
