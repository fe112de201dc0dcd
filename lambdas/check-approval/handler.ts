import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { checkApproval } from './check-approval';

export const handler = lambdaHandler(checkApproval);
