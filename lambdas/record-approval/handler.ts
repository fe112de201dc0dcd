import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { recordApproval } from './record-approval';

export const handler = lambdaHandler(recordApproval);
