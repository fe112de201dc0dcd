import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Difference } from './verification';

/**
 * Where full verification puts the complete list of differing ids of a run (the run record keeps the
 * counts and the first ids only): `<location><run id>/differences/<range>-<n>.jsonl`, one JSON line per
 * id. The location is a URL: `s3://<bucket>/<prefix>` on AWS (the stack's encrypted bucket,
 * DIFFERENCES_URL), `file:///<folder>/` locally, the runs folder the receipts go to.
 */

export interface DifferencesStore {
  /** Where this run's differences go, as a URL (shown in the cause and the receipts). */
  locationOf(runId: string): string;
  /** Writes one chunk of a range's confirmed differences (a retried range overwrites its own chunks). */
  write(runId: string, rangeId: string, chunk: number, differences: readonly Difference[]): Promise<void>;
}

/** Every difference of a run, read back (the receipts and `aws report`). */
export interface DifferencesReader {
  read(runId: string): Promise<Difference[]>;
}

function chunkName(rangeId: string, chunk: number): string {
  return `${rangeId}-${String(chunk).padStart(4, '0')}.jsonl`;
}

function jsonLines(differences: readonly Difference[]): string {
  return differences.map((d) => JSON.stringify(d)).join('\n') + '\n';
}

function parseLines(text: string): Difference[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Difference);
}

function withSlash(path: string): string {
  return path === '' || path.endsWith('/') ? path : `${path}/`;
}

export function fileDifferences(folder: string): DifferencesStore & DifferencesReader {
  const dirOf = (runId: string) => join(folder, runId, 'differences');
  return {
    locationOf: (runId) => `${dirOf(runId)}/`,
    async write(runId, rangeId, chunk, differences) {
      await mkdir(dirOf(runId), { recursive: true });
      await writeFile(join(dirOf(runId), chunkName(rangeId, chunk)), jsonLines(differences));
    },
    async read(runId) {
      let names: string[];
      try {
        names = (await readdir(dirOf(runId))).filter((n) => n.endsWith('.jsonl')).sort();
      } catch {
        return [];
      }
      const all: Difference[] = [];
      for (const name of names) all.push(...parseLines(await readFile(join(dirOf(runId), name), 'utf8')));
      return all;
    },
  };
}

/** The S3 client on first use (only a run with differences writes or reads any). */
export type S3ClientSource = () => S3Client | Promise<S3Client>;

export function s3Differences(s3: S3ClientSource, bucket: string, prefix: string): DifferencesStore & DifferencesReader {
  const keyOf = (runId: string) => `${withSlash(prefix)}${runId}/differences/`;
  return {
    locationOf: (runId) => `s3://${bucket}/${keyOf(runId)}`,
    async write(runId, rangeId, chunk, differences) {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      const client = await s3();
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${keyOf(runId)}${chunkName(rangeId, chunk)}`,
          Body: jsonLines(differences),
          ContentType: 'application/x-ndjson',
        }),
      );
    },
    async read(runId) {
      const { GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
      const client = await s3();
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyOf(runId), ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key?.endsWith('.jsonl')) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      const all: Difference[] = [];
      for (const key of keys.sort()) {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        all.push(...parseLines((await object.Body?.transformToString('utf8')) ?? ''));
      }
      return all;
    },
  };
}

/** The store a DIFFERENCES_URL names: `s3://bucket/prefix/` or `file:///folder/`. Throws naming the variable otherwise. */
export function differencesAt(url: string, s3: S3ClientSource): DifferencesStore & DifferencesReader {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`DIFFERENCES_URL ${JSON.stringify(url)} is not a URL (s3://bucket/prefix/ or file:///folder/)`);
  }
  if (parsed.protocol === 's3:') return s3Differences(s3, parsed.hostname, decodeURIComponent(parsed.pathname.replace(/^\//, '')));
  if (parsed.protocol === 'file:') return fileDifferences(fileURLToPath(parsed));
  throw new Error(`DIFFERENCES_URL ${JSON.stringify(url)} must be s3://bucket/prefix/ or file:///folder/`);
}
