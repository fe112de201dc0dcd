import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { Ledger } from '../shared/ledger';
import { requestApproval, type ApprovalRequest } from './request-approval';

const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
const sns = new SNSClient({});

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (the CDK construct sets it)`);
  return value;
}

export const handler = async (event: ApprovalRequest) => {
  const tableName = required('LEDGER_TABLE_NAME');
  return requestApproval(event, {
    ledger: new Ledger({ client: documentClient, tableName }),
    documentClient,
    tableName,
    topicArn: required('ALARM_TOPIC_ARN'),
    publish: async (topicArn, subject, message) => {
      await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 99), Message: message }));
    },
    now: () => new Date(),
  });
};
