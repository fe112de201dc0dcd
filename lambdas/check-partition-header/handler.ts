import { lambdaHandler } from '../shared/lambda-runtime';
import { checkPartitionHeader } from './check-partition-header';

export const handler = lambdaHandler(checkPartitionHeader);
