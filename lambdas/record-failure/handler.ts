import { lambdaHandler } from '../shared/lambda-runtime';
import { recordFailure } from './record-failure';

export const handler = lambdaHandler(recordFailure);
