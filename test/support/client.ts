import { Client } from '@opensearch-project/opensearch';

/** The official OpenSearch client, used against both servers without special options. */
export function clientFor(url: string): Client {
  return new Client({ node: url, requestTimeout: 60_000 });
}
