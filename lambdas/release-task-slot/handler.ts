import { lambdaHandler } from '../shared/lambda-runtime';
import { releaseTaskSlot } from './release-task-slot';

export const handler = lambdaHandler(releaseTaskSlot);
