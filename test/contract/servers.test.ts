import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { clientFor } from '../support/client';
import { localServers } from '../support/servers';

const servers = localServers();

describe('the local servers are the real releases from Maven Central', () => {
  it('Elasticsearch answers GET / as 7.10.2 with its release build hash and Lucene 8.7.0', async () => {
    const { body } = await clientFor(servers.source.url).info();
    expect(body.version.number).toBe('7.10.2');
    expect(body.version.build_hash).toBe('747e1cc71def077253878a59143c1f785afa92b9');
    expect(body.version.lucene_version).toBe('8.7.0');
  });

  it.each(servers.targets.map((t) => [t.version, t] as const))(
    'OpenSearch %s answers GET / with its own version, a real build hash and the matching Lucene',
    async (version, target) => {
      const { body } = await clientFor(target.url).info();
      expect(body.version.distribution).toBe('opensearch');
      expect(body.version.number).toBe(version);
      expect(body.version.build_hash).toMatch(/^[0-9a-f]{40}$/);
      expect(body.version.lucene_version).toMatch(version.startsWith('3.') ? /^10\./ : /^9\.12\./);
    },
  );

  it('the ledger answers the DynamoDB API through the AWS SDK', async () => {
    const dynamo = new DynamoDBClient({
      endpoint: servers.ledgerEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const out = await dynamo.send(new ListTablesCommand({}));
    expect(Array.isArray(out.TableNames)).toBe(true);
  });
});
