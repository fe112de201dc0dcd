import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { preflight } from './preflight';

export const handler = lambdaHandler(preflight);
