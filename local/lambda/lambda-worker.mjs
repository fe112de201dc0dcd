// One local Lambda execution environment: loads a bundled handler once (the init phase) and invokes it
// for each event, as the Lambda Node.js runtime does. Runs in its own worker thread with the function's
// environment, so module state and process.env are its own. Plain JavaScript: it runs the bundle as
// deployed, with nothing of the project's TypeScript toolchain loaded.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { entry, exportName, functionName, memoryMb, timeoutMs, logGroupName, sourceMaps } = workerData;
if (sourceMaps) process.setSourceMapsEnabled(true);

function errorResponse(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: typeof error.name === 'string' && error.name ? error.name : 'Error',
    errorMessage: typeof error.message === 'string' ? error.message : String(error),
    trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
  };
}

let handler;
let initError;
try {
  const mod = await import(pathToFileURL(entry).href);
  handler = mod[exportName];
  if (typeof handler !== 'function') {
    initError = { errorType: 'Runtime.HandlerNotFound', errorMessage: `${entry}.${exportName} is undefined or not exported`, trace: [] };
  }
} catch (err) {
  const response = errorResponse(err);
  initError = { ...response, errorType: response.errorType === 'SyntaxError' ? 'Runtime.UserCodeSyntaxError' : response.errorType };
}

parentPort.on('message', async ({ requestId, event, deadlineMs }) => {
  if (initError) {
    parentPort.postMessage({ requestId, ok: false, error: initError });
    return;
  }
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: workerData.functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: requestId,
    logGroupName,
    logStreamName: `local/[$LATEST]${workerData.instanceId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(event, context);
    // The runtime serialises the result as JSON: undefined becomes null, a non-serialisable value fails.
    parentPort.postMessage({ requestId, ok: true, result: JSON.stringify(result === undefined ? null : result) });
  } catch (err) {
    parentPort.postMessage({ requestId, ok: false, error: errorResponse(err) });
  }
});
parentPort.postMessage({ ready: true, timeoutMs });
