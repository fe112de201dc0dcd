import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { checkParity } from './check-parity';

export const handler = lambdaHandler(checkParity);
