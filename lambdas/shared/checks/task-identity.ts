import { parseOpaqueId } from '../planning/canonical-request';
import { baselineAllowance, thousands } from './counters';

/** Rail 2: is the running task the approved one? Pure checks over what `_tasks` shows. */

export interface ExpectedTask {
  readonly runId: string;
  readonly requestHash: string;
  readonly sourceUrl: string;
  readonly sourceIndex: string;
  readonly targetIndex: string;
}

export interface DescribedTask {
  readonly description?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * What the server's description says: `reindex from [scheme=https host=H port=P query={...} username=U
 * password=<<>>][source] to [dest]` (`scheme=` only when not http; Elasticsearch appends `[_doc]`).
 */
export function parseReindexDescription(description: string): { host: string; port: number; scheme: string; source: string; dest: string } | undefined {
  const remote = /^reindex from \[(?:scheme=(\S+) )?host=(\S+) port=(\d+)/.exec(description);
  const indices = /\]\[([^\]]+)\] to \[([^\]]+)\](?:\[_doc\])?\s*$/.exec(description);
  if (!remote || !indices) return undefined;
  return { scheme: remote[1] ?? 'http', host: remote[2]!, port: Number(remote[3]), source: indices[1]!, dest: indices[2]! };
}

/** Every way the task differs from the approved one; empty when it is the approved task. */
export function identityProblems(task: DescribedTask, expected: ExpectedTask): string[] {
  const problems: string[] = [];
  const tag = parseOpaqueId(task.headers?.['X-Opaque-Id']);
  if (!tag) {
    problems.push(`the task carries no X-Opaque-Id of this run (found ${JSON.stringify(task.headers?.['X-Opaque-Id'] ?? null)})`);
  } else {
    if (tag.runId !== expected.runId) problems.push(`X-Opaque-Id names run ${tag.runId}, expected ${expected.runId}`);
    if (tag.hash !== expected.requestHash) {
      problems.push(`the request sent hashes to ${tag.hash}, the approved request to ${expected.requestHash}: what was sent is not what the dry run approved`);
    }
  }
  const described = parseReindexDescription(task.description ?? '');
  if (!described) {
    problems.push(`the task description is not a remote reindex: ${JSON.stringify(task.description ?? '')}`);
    return problems;
  }
  const url = new URL(expected.sourceUrl);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (described.host !== url.hostname || described.port !== port || described.scheme !== url.protocol.replace(':', '')) {
    problems.push(`it reads from ${described.scheme}://${described.host}:${described.port}, expected ${url.protocol}//${url.hostname}:${port}`);
  }
  if (described.source !== expected.sourceIndex) problems.push(`it reads index ${described.source}, expected ${expected.sourceIndex}`);
  if (described.dest !== expected.targetIndex) problems.push(`it writes into ${described.dest}, expected ${expected.targetIndex}`);
  return problems;
}

/** After the first batch, the task's total is the source count it found: it must agree with the baseline. */
export function totalProblem(total: number, sourceBaseline: number, tolerance: number): string | undefined {
  const allowance = baselineAllowance(sourceBaseline, tolerance);
  if (Math.abs(total - sourceBaseline) <= allowance) return undefined;
  return (
    `the task found ${thousands(total)} source documents, the pre-flight counted ${thousands(sourceBaseline)} ` +
    `(allowed difference ${thousands(Math.floor(allowance))}): it is not reading what was approved`
  );
}
