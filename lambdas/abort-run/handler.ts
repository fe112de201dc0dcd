import { lambdaHandler } from '../shared/lambda-runtime';
import { abortRun } from './abort-run';

/** EventBridge "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): clean up the run. */
interface ExecutionStatusChange {
  readonly detail: { readonly executionArn: string; readonly status: string; readonly input?: string | null };
}

export const handler = lambdaHandler(async (event: ExecutionStatusChange, deps) => {
  const runId = (JSON.parse(event.detail.input ?? '{}') as { runId?: string }).runId;
  if (!runId) return { status: 'IGNORED', cancelledTask: null };
  return abortRun(runId, deps);
});
