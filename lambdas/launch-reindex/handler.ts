import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { launchReindex } from './launch-reindex';

export const handler = lambdaHandler(launchReindex);
