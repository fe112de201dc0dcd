import { lambdaHandler } from '../shared/lambda-runtime';
import { pollTask } from './poll-task';

export const handler = lambdaHandler(pollTask);
