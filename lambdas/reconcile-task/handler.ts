import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { reconcileTask } from './reconcile-task';

export const handler = lambdaHandler(reconcileTask);
