import { lambdaHandler } from '../shared/lambda-runtime';
import { finishRun } from './finish-run';

export const handler = lambdaHandler(finishRun);
