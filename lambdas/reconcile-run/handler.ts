import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { reconcileRun } from './reconcile-run';

export const handler = lambdaHandler(reconcileRun);
