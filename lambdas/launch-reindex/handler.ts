import { lambdaHandler } from '../shared/lambda-runtime';
import { launchReindex } from './launch-reindex';

export const handler = lambdaHandler(launchReindex);
