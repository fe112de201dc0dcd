import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { releaseTaskSlot } from './release-task-slot';

export const handler = lambdaHandler(releaseTaskSlot);
