import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { finishRun } from './finish-run';

export const handler = lambdaHandler(finishRun);
