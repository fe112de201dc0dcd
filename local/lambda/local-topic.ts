import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * The local subscriber of the alarm topic: an endpoint for the SNS `Publish` call (the AWS query
 * protocol the SDK's SNS client speaks) on loopback, handing each published message to `onMessage`
 * as a subscriber of the topic would receive it. Functions reach it through `AWS_ENDPOINT_URL_SNS`.
 * Only Publish is answered; anything else is refused with the service's InvalidAction error.
 */

export interface PublishedMessage {
  readonly topicArn: string;
  readonly subject: string | undefined;
  readonly message: string;
}

export interface LocalTopic {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startLocalTopic(onMessage: (message: PublishedMessage) => Promise<void> | void): Promise<LocalTopic> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const requestId = randomUUID();
      const reply = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
        res.end(body);
      };
      if (form.get('Action') !== 'Publish') {
        reply(
          400,
          `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${xmlEscape(
            `local topic answers Publish only, not ${form.get('Action') ?? '(none)'}`,
          )}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
        return;
      }
      const message: PublishedMessage = {
        topicArn: form.get('TopicArn') ?? '',
        subject: form.get('Subject') ?? undefined,
        message: form.get('Message') ?? '',
      };
      // Delivery to subscribers is asynchronous on SNS: Publish answers before anyone reads the message.
      const messageId = randomUUID();
      reply(
        200,
        `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`,
      );
      setImmediate(() => void Promise.resolve(onMessage(message)).catch(() => undefined));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
