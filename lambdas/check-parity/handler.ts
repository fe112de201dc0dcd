import { lambdaHandler } from '../shared/lambda-runtime';
import { checkParity } from './check-parity';

export const handler = lambdaHandler(checkParity);
