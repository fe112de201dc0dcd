import { lambdaHandler } from '../shared/lambda-runtime';
import { validateInput } from './validate-input';

export const handler = lambdaHandler(validateInput);
