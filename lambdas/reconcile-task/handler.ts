import { lambdaHandler } from '../shared/lambda-runtime';
import { reconcileTask } from './reconcile-task';

export const handler = lambdaHandler(reconcileTask);
