import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { recordTaskFailure } from './record-task-failure';

export const handler = lambdaHandler(recordTaskFailure);
