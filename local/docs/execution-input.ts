import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderExecutionInputPage } from './execution-input-page';

/** `npm run docs`: writes docs/execution-input.md from the execution input schema. */

export const EXECUTION_INPUT_PAGE = fileURLToPath(new URL('../../docs/execution-input.md', import.meta.url));

writeFileSync(EXECUTION_INPUT_PAGE, renderExecutionInputPage());
process.stdout.write(`wrote ${EXECUTION_INPUT_PAGE}\n`);
