import { lambdaHandler } from '../shared/lambda-runtime';
import { reconcile } from './reconcile';

export const handler = lambdaHandler(reconcile);
