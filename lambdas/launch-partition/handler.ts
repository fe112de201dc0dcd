import { lambdaHandler } from '../shared/lambda-runtime';
import { launchPartition } from './launch-partition';

export const handler = lambdaHandler(launchPartition);
