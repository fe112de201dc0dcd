import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { pollTask } from './poll-task';

export const handler = lambdaHandler(pollTask);
