import { lambdaHandler } from '../shared/lambda-runtime';
import { recordTaskFailure } from './record-task-failure';

export const handler = lambdaHandler(recordTaskFailure);
