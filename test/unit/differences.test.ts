import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { differencesAt } from '../../lambdas/shared/checks/differences';
import type { Difference } from '../../lambdas/shared/checks/verification';

const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

const missing: Difference = { id: 'c-2', class: 'missing', sourceVersion: 3, targetVersion: null };
const targetOnly: Difference = { id: 'c-3', class: 'targetOnly', sourceVersion: null, targetVersion: 2 };

describe('differences store', () => {
  it('file:// keeps each range chunk beside the receipts and reads them back in range order; a retried chunk replaces its own', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'differences-'));
    const store = differencesAt(pathToFileURL(`${folder}/`).href, () => new S3Client({}));

    await store.write('run-1', 'r0004', 1, [targetOnly]);
    await store.write('run-1', 'r0002', 1, [{ ...missing, id: 'stale' }]);
    await store.write('run-1', 'r0002', 1, [missing]);

    expect(store.locationOf('run-1')).toBe(`${join(folder, 'run-1', 'differences')}/`);
    expect(await store.read('run-1')).toEqual([missing, targetOnly]);
    expect(await store.read('run-never')).toEqual([]);
  });

  it('s3:// puts one JSON-lines object per chunk under <prefix><run id>/differences/', async () => {
    s3.on(PutObjectCommand).resolves({});
    const store = differencesAt('s3://safe-reindex-differences/runs/', () => new S3Client({ region: 'eu-west-1' }));

    await store.write('run-1', 'r0002', 3, [missing, targetOnly]);

    expect(store.locationOf('run-1')).toBe('s3://safe-reindex-differences/runs/run-1/differences/');
    const put = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(put).toMatchObject({ Bucket: 'safe-reindex-differences', Key: 'runs/run-1/differences/r0002-0003.jsonl' });
    expect(String(put.Body).trim().split('\n').map((l) => JSON.parse(l))).toEqual([missing, targetOnly]);
  });

  it('refuses a DIFFERENCES_URL that is neither s3:// nor file://, naming the variable', () => {
    expect(() => differencesAt('https://example.com/x', () => new S3Client({}))).toThrow(/DIFFERENCES_URL .* must be s3:\/\/bucket\/prefix\/ or file:\/\/\/folder\//);
    expect(() => differencesAt('not a url', () => new S3Client({}))).toThrow(/DIFFERENCES_URL "not a url" is not a URL/);
  });
});
