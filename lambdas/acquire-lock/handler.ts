import { lambdaHandler } from '../shared/lambda-runtime';
import { acquireLock } from './acquire-lock';

export const handler = lambdaHandler(acquireLock);
