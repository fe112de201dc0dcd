import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { acquireLock } from './acquire-lock';

export const handler = lambdaHandler(acquireLock);
