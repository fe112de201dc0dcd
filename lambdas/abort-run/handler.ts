import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { abortRun, endedExecution, type ExecutionStatusChange } from './abort-run';

/** EventBridge "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): clean up the run. */
export const handler = lambdaHandler(async (event: ExecutionStatusChange, deps) => {
  const ended = endedExecution(event);
  return ended ? abortRun(ended, deps) : { status: 'IGNORED', cancelledTask: null };
});
