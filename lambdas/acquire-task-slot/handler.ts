import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { acquireTaskSlot } from './acquire-task-slot';

export const handler = lambdaHandler(acquireTaskSlot);
