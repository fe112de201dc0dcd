import { lambdaHandler } from '../shared/lambda-runtime';
import { checkApproval } from './check-approval';

export const handler = lambdaHandler(checkApproval);
