import { lambdaHandler } from '../shared/lambda-runtime';
import { pollPartition } from './poll-partition';

export const handler = lambdaHandler(pollPartition);
