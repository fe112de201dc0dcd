import { lambdaHandler } from '../shared/lambda-runtime';
import { checkHeader } from './check-header';

export const handler = lambdaHandler(checkHeader);
