import { lambdaHandler } from '../shared/lambda-runtime';
import { predictEveryDocument } from './predict-every-document';

export const handler = lambdaHandler(predictEveryDocument);
