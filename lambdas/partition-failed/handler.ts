import { lambdaHandler } from '../shared/lambda-runtime';
import { partitionFailed } from './partition-failed';

export const handler = lambdaHandler(partitionFailed);
