import { lambdaHandler } from '../shared/lambda-runtime';
import { reconcilePartition } from './reconcile-partition';

export const handler = lambdaHandler(reconcilePartition);
