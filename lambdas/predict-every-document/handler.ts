import { lambdaHandler } from '../shared/runtime/lambda-runtime';
import { predictEveryDocument } from './predict-every-document';

export const handler = lambdaHandler(predictEveryDocument);
