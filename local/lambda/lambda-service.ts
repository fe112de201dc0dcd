import { createHash, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { AssemblyFunction } from './cloud-assembly';

/**
 * The local Lambda service: invokes a function's bundled asset the way the Lambda Node.js runtime
 * does. Each execution environment is a worker thread with the function's own environment and module
 * state, initialised once and reused warm; an environment serves one invocation at a time, so
 * concurrent invocations (Map iterations) each get their own. The result is the handler's value as
 * JSON; a thrown error is `{ errorType: error.name, errorMessage, trace }`; the function's timeout ends
 * the invocation with `Sandbox.Timedout` and discards the environment, as Lambda does.
 */

/** A function error as the Lambda runtime reports it. */
export class LambdaFunctionError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    readonly trace: readonly string[] = [],
  ) {
    super(errorMessage);
    this.name = errorType;
  }

  /** The function's error response, as Step Functions puts it in a failed Task's `Cause`. */
  toPayload(): { errorType: string; errorMessage: string; trace: readonly string[] } {
    return { errorType: this.errorType, errorMessage: this.errorMessage, trace: this.trace };
  }
}

/** Where an invocation's log lines (stdout and stderr of its environment) go. */
export type OutputSink = (line: string, stream: 'stdout' | 'stderr') => void;

export interface LocalFunction {
  readonly definition: AssemblyFunction;
  /** The environment the function runs with (the template's, resolved for this machine). */
  readonly environment: Readonly<Record<string, string>>;
}

interface Environment {
  readonly worker: Worker;
  readonly key: string;
  readonly instanceId: string;
  sink: OutputSink | undefined;
  busy: boolean;
  dead: boolean;
  lastUsed: number;
  pending?: { requestId: string; resolve: (value: unknown) => void; reject: (err: LambdaFunctionError) => void };
}

const WORKER_FILE = new URL('./lambda-worker.mjs', import.meta.url);
/** Warm environments kept across all functions of this process; the least recently used go first. */
const MAX_IDLE_ENVIRONMENTS = 32;
const environments = new Set<Environment>();

/** Environments are shared by functions with the same code and environment (a warm container). */
function keyOf(fn: LocalFunction): string {
  return createHash('sha256')
    .update(fn.definition.entry)
    .update('\0')
    .update(JSON.stringify(Object.entries(fn.environment).sort()))
    .update(`\0${fn.definition.timeoutSeconds}\0${fn.definition.memoryMb}`)
    .digest('hex');
}

function spawn(fn: LocalFunction, key: string): Environment {
  const instanceId = randomUUID().slice(0, 8);
  const { definition } = fn;
  const worker = new Worker(WORKER_FILE, {
    workerData: {
      entry: definition.entry,
      exportName: definition.exportName,
      functionName: definition.logicalId,
      functionArn: definition.arn,
      memoryMb: definition.memoryMb,
      timeoutMs: definition.timeoutSeconds * 1000,
      logGroupName: `/aws/lambda/${definition.logicalId}`,
      instanceId,
      sourceMaps: /--enable-source-maps/.test(fn.environment['NODE_OPTIONS'] ?? ''),
    },
    env: { ...fn.environment },
    stdout: true,
    stderr: true,
    // The function's memory as the heap ceiling: a function that outgrows it fails here too.
    resourceLimits: { maxOldGenerationSizeMb: Math.max(64, definition.memoryMb) },
  });
  const env: Environment = { worker, key, instanceId, sink: undefined, busy: false, dead: false, lastUsed: Date.now() };
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: worker[stream], crlfDelay: Infinity }).on('line', (line) => env.sink?.(line, stream));
  }
  worker.on('message', (message: { requestId?: string; ok?: boolean; result?: string; error?: ReturnType<LambdaFunctionError['toPayload']> }) => {
    const pending = env.pending;
    if (!pending || message.requestId !== pending.requestId) return;
    env.pending = undefined;
    if (message.ok) pending.resolve(JSON.parse(message.result ?? 'null'));
    else pending.reject(new LambdaFunctionError(message.error!.errorType, message.error!.errorMessage, message.error!.trace));
  });
  const died = (reason: string) => {
    env.dead = true;
    environments.delete(env);
    const pending = env.pending;
    env.pending = undefined;
    pending?.reject(new LambdaFunctionError('Runtime.ExitError', `RequestId: ${pending.requestId} Error: Runtime exited with error: ${reason}`));
  };
  worker.on('error', (err) => died(err.message));
  worker.on('exit', (code) => died(`exit status ${code}`));
  environments.add(env);
  return env;
}

function evictIdle(): void {
  const idle = [...environments].filter((e) => !e.busy).sort((a, b) => a.lastUsed - b.lastUsed);
  for (const env of idle.slice(0, Math.max(0, idle.length - MAX_IDLE_ENVIRONMENTS))) {
    env.dead = true;
    environments.delete(env);
    void env.worker.terminate();
  }
}

/** Invokes a function synchronously (RequestResponse): the event in, the handler's JSON result out. */
export async function invokeFunction(fn: LocalFunction, event: unknown, sink?: OutputSink): Promise<unknown> {
  const key = keyOf(fn);
  let env = [...environments].find((e) => e.key === key && !e.busy && !e.dead);
  env ??= spawn(fn, key);
  env.busy = true;
  env.sink = sink;
  env.worker.ref();
  const requestId = randomUUID();
  const timeoutMs = fn.definition.timeoutSeconds * 1000;
  const chosen = env;
  try {
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        chosen.pending = undefined;
        chosen.dead = true;
        environments.delete(chosen);
        void chosen.worker.terminate();
        reject(
          new LambdaFunctionError(
            'Sandbox.Timedout',
            `RequestId: ${requestId} Error: Task timed out after ${fn.definition.timeoutSeconds.toFixed(2)} seconds`,
          ),
        );
      }, timeoutMs);
      chosen.pending = {
        requestId,
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      // The event crosses as JSON, as it does to a real function.
      chosen.worker.postMessage({ requestId, event: JSON.parse(JSON.stringify(event ?? null)), deadlineMs: Date.now() + timeoutMs });
    });
  } finally {
    chosen.busy = false;
    chosen.lastUsed = Date.now();
    if (!chosen.dead) chosen.worker.unref();
    evictIdle();
  }
}

/** Ends every execution environment of this process (warm ones are unref'd and do not keep it alive). */
export async function shutdownFunctions(): Promise<void> {
  const all = [...environments];
  environments.clear();
  await Promise.allSettled(all.map((e) => ((e.dead = true), e.worker.terminate())));
}

/** How many execution environments exist now (tests: warm reuse, one per concurrent invocation). */
export function environmentCount(filter?: (fn: { key: string; busy: boolean }) => boolean): number {
  return [...environments].filter((e) => !e.dead && (filter ? filter(e) : true)).length;
}
