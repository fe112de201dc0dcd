import { lambdaHandler } from '../shared/lambda-runtime';
import { preflight } from './preflight';

export const handler = lambdaHandler(preflight);
