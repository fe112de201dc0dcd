import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { recordFailure } from './record-failure';

export const handler = lambdaHandler(recordFailure);
