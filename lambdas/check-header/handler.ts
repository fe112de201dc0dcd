import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { checkHeader } from './check-header';

export const handler = lambdaHandler(checkHeader);
