import { lambdaHandler } from '../shared/lambda-runtime';
import { reconcileRun } from './reconcile-run';

export const handler = lambdaHandler(reconcileRun);
