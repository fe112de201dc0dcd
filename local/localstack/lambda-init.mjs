#!/var/lang/bin/node
/**
 * The Lambda init LocalStack's docker executor starts in each function container (as /var/rapid/init),
 * in place of the runtime-interface-emulator binary it would otherwise download. It speaks the
 * executor's protocol: load the handler, POST <LOCALSTACK_RUNTIME_ENDPOINT>/status/<id>/ready (or
 * /error), accept POST /invoke on port 9563, run the handler in this process, then POST the logs and
 * the result to <endpoint>/invocations/<request id>/logs and /response (or /error).
 * It runs on the image's own Node (the Lambda runtime's major version); no dependency.
 */
import { chmodSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// As PID 1 this process gets no default signal handling: without these, `docker stop` (LocalStack's
// shutdown, one container after another) waits out its grace period for each container.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

const INVOCATION_PORT = 9563;
const endpoint = required('LOCALSTACK_RUNTIME_ENDPOINT');
const runtimeId = required('LOCALSTACK_RUNTIME_ID');
const taskRoot = process.env.LAMBDA_TASK_ROOT ?? '/var/task';
const timeoutMs = Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT ?? '3') * 1000;

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`lambda-init: ${name} is not set (this init runs only under LocalStack's docker executor)\n`);
    process.exit(1);
  }
  return value;
}

for (const { path, mode } of JSON.parse(process.env.LOCALSTACK_CHMOD_PATHS ?? '[]')) {
  try {
    chmodSync(path, Number.parseInt(mode, 8));
  } catch {
    // A path the code package does not have.
  }
}

// Everything the handler writes during one invocation goes to LocalStack as that invocation's logs.
let captured = [];
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return write(chunk, ...rest);
  };
}

async function post(path, body) {
  const response = await fetch(`${endpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!response.ok) process.stderr.write(`lambda-init: POST ${path} answered ${response.status}\n`);
}

function errorBody(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: error.name || 'Error',
    errorMessage: error.message,
    stackTrace: String(error.stack ?? '').split('\n'),
  };
}

async function loadHandler() {
  const spec = process.env._HANDLER ?? 'index.handler';
  const dot = spec.lastIndexOf('.');
  const modulePath = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const file = ['.mjs', '.js', '.cjs'].map((ext) => join(taskRoot, modulePath + ext)).find((f) => existsSync(f));
  if (!file) throw Object.assign(new Error(`Cannot find module '${modulePath}' in ${taskRoot}`), { name: 'Runtime.ImportModuleError' });
  const loaded = await import(pathToFileURL(file).href);
  const handler = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  }
  return handler;
}

function contextFor(invocation, deadline) {
  return {
    awsRequestId: invocation['invoke-id'],
    invokedFunctionArn: invocation['invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function invoke(handler, invocation) {
  const requestId = invocation['invoke-id'];
  const started = Date.now();
  const deadline = started + timeoutMs;
  captured = [`START RequestId: ${requestId} Version: ${process.env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST'}\n`];
  process.env._X_AMZN_TRACE_ID = invocation['trace-id'] ?? '';
  let outcome;
  let timer;
  try {
    const event = invocation.payload ? JSON.parse(invocation.payload) : {};
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`), { name: 'Sandbox.Timedout' })),
        timeoutMs,
      );
    });
    const result = await Promise.race([Promise.resolve(handler(event, contextFor(invocation, deadline))), timedOut]);
    outcome = { path: 'response', body: JSON.stringify(result ?? null) };
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 'ERROR', ...errorBody(err) })}\n`);
    outcome = { path: 'error', body: JSON.stringify(errorBody(err)) };
  } finally {
    clearTimeout(timer);
  }
  captured.push(`END RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${Date.now() - started} ms\n`);
  const logs = captured.join('');
  captured = [];
  await post(`/invocations/${requestId}/logs`, { logs });
  await post(`/invocations/${requestId}/${outcome.path}`, outcome.body);
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  await post(`/status/${runtimeId}/error`, errorBody(err));
  process.exit(1);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/invoke') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200).end();
    const invocation = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    invoke(handler, invocation).catch((err) => process.stderr.write(`lambda-init: ${err?.stack ?? err}\n`));
  });
});
server.listen(INVOCATION_PORT, '0.0.0.0', () => {
  post(`/status/${runtimeId}/ready`, {}).catch((err) => {
    process.stderr.write(`lambda-init: could not report ready: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
});
