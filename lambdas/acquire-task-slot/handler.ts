import { lambdaHandler } from '../shared/lambda-runtime';
import { acquireTaskSlot } from './acquire-task-slot';

export const handler = lambdaHandler(acquireTaskSlot);
