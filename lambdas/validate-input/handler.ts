import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { validateInput } from './validate-input';

export const handler = lambdaHandler(validateInput);
