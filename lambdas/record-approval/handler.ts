import { lambdaHandler } from '../shared/lambda-runtime';
import { recordApproval } from './record-approval';

export const handler = lambdaHandler(recordApproval);
