import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ExecutionInputSchema, parseRunConfig, type TargetContext } from '../../lambdas/shared/runtime/config';
import { InvalidInputError } from '../../lambdas/shared/runtime/errors';

/**
 * docs/execution-input.md, rendered from ExecutionInputSchema: its JSON Schema (types, defaults,
 * enums, bounds, patterns, descriptions, and the `checks` key that says what a refinement refuses),
 * the checks parseRunConfig makes after the schema, and two example inputs, each run through
 * parseRunConfig while rendering so that the page cannot show an input the pipeline refuses.
 */

/** The part of a JSON Schema node this page reads. */
export interface SchemaNode {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly anyOf?: readonly SchemaNode[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: unknown;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly default?: unknown;
  readonly description?: string;
  readonly checks?: string;
}

interface Field {
  readonly path: string;
  readonly node: SchemaNode;
  readonly required: boolean;
}

/** An object of the input and its fields; the top level has the path ''. */
interface ObjectTable {
  readonly path: string;
  readonly node: SchemaNode;
  readonly fields: readonly Field[];
}

/** A check of parseRunConfig's, with inputs it refuses, each naming `field`. */
export interface CrossFieldRule {
  readonly rule: string;
  readonly refused: ReadonlyArray<{ readonly change: Record<string, unknown>; readonly field: string }>;
}

/** config.test.ts's target, with the deployment's default cap on reindex tasks per domain. */
export const EXAMPLE_TARGET: TargetContext = { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com', maxTasksPerDomain: 4 };

/** The input config.test.ts validates its cases against: nothing but what has no default. */
export const MINIMAL_INPUT = {
  runId: 'calls-2026-05-dry',
  source: { url: 'https://es7.internal:9200', index: 'calls-2026-05' },
  target: { index: 'calls-2026-05' },
};

/**
 * The console example of docs/design.md ("Execution input", the secret as README's console run names
 * it), as a live partitioned run with the partitions of README's "Partitioned runs".
 */
export const FULL_INPUT = {
  runId: 'calls-2026-05-live',
  source: {
    url: 'https://es7.internal:9200',
    index: 'calls-2026-05',
    credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source-AbCdEf',
    query: null,
  },
  target: { index: 'calls-2026-05' },
  mode: 'merge',
  dryRun: false,
  dateField: 'timestamp',
  batchSize: 1000,
  requestsPerSecond: null,
  parity: { mode: 'full', countTolerance: 0.0002, sampleSize: 65, concurrency: 4 },
  verifyOnly: false,
  probe: 'sample',
  guards: { dryRunMaxAgeHours: 24, stallMinutes: 15, allowBrokenVersioning: false, tombstoneRetention: '24h', acceptResurrectedDeletes: false },
  partitions: 'auto',
  maxConcurrency: 4,
  approvedFingerprint: 'a'.repeat(64),
};

/** parseRunConfig's checks after the schema, in the order it makes them. */
export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  {
    rule: '`verifyOnly: true` refuses `dryRun` (either value), `approvedFingerprint`, `partitions` and `maxConcurrency`: a verify-only run reads both clusters and writes nothing.',
    refused: [
      { change: { verifyOnly: true, dryRun: true }, field: 'dryRun' },
      { change: { verifyOnly: true, approvedFingerprint: 'a'.repeat(64) }, field: 'approvedFingerprint' },
      { change: { verifyOnly: true, dateField: 'timestamp', partitions: 4 }, field: 'partitions' },
      { change: { verifyOnly: true, maxConcurrency: 1 }, field: 'maxConcurrency' },
    ],
  },
  {
    rule: '`target.index` must not be `source.index` when `source.url` is the target cluster (the same host and port as the deployment\'s target endpoint; `localhost` counts as `127.0.0.1`, no port as 80 for http and 443 for https).',
    refused: [{ change: { source: { url: 'https://SEARCH-calls.eu-west-1.es.amazonaws.com:443/', index: 'calls-2026-05' } }, field: 'target.index' }],
  },
  {
    rule: '`maxConcurrency` above 1 needs a partitioned run: `partitions` a number above 1, or `"auto"`.',
    refused: [
      { change: { maxConcurrency: 2 }, field: 'maxConcurrency' },
      { change: { partitions: 1, maxConcurrency: 2 }, field: 'maxConcurrency' },
    ],
  },
  {
    rule: '`approvedFingerprint` needs `dryRun: false`: it names the dry run the live run launches.',
    refused: [{ change: { approvedFingerprint: 'a'.repeat(64) }, field: 'approvedFingerprint' }],
  },
  {
    rule: '`partitions` above 1 needs a `dateField` to split on (`"auto"` without one runs one task).',
    refused: [{ change: { partitions: 4 }, field: 'partitions' }],
  },
  {
    rule: '`maxConcurrency` is at most the deployment\'s `maxTasksPerDomain` (4 unless the deployment sets it).',
    refused: [{ change: { dateField: 'timestamp', partitions: 'auto', maxConcurrency: 5 }, field: 'maxConcurrency' }],
  },
];

function inputJsonSchema(): SchemaNode {
  return z.toJSONSchema(ExecutionInputSchema, { io: 'input' }) as SchemaNode;
}

function joinPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

function fieldsOf(path: string, node: SchemaNode): Field[] {
  return Object.entries(node.properties ?? {}).map(([key, child]) => ({
    path: joinPath(path, key),
    node: child,
    required: node.required?.includes(key) ?? false,
  }));
}

function isObjectWithFields(node: SchemaNode): boolean {
  return node.properties !== undefined;
}

/** The top level, then each object field, depth first. */
function objectTables(path: string, node: SchemaNode): ObjectTable[] {
  const fields = fieldsOf(path, node);
  const nested = fields.filter((f) => isObjectWithFields(f.node)).flatMap((f) => objectTables(f.path, f.node));
  return [{ path, node, fields }, ...nested];
}

function literal(value: unknown): string {
  return `\`${JSON.stringify(value)}\``;
}

function typeOf(node: SchemaNode): string {
  if (node.anyOf) return node.anyOf.map(typeOf).join(' or ');
  if (node.enum) return node.enum.map(literal).join(', ');
  if (node.const !== undefined) return literal(node.const);
  if (node.type === 'object' && !node.properties) return 'object (JSON)';
  return node.type ?? 'any';
}

function boundsOf(node: SchemaNode): string | undefined {
  if (node.minimum !== undefined && node.maximum !== undefined) return `from ${node.minimum} to ${node.maximum}`;
  const parts = [
    node.exclusiveMinimum === undefined ? undefined : `above ${node.exclusiveMinimum}`,
    node.minimum === undefined ? undefined : `at least ${node.minimum}`,
    node.maximum === undefined ? undefined : `at most ${node.maximum}`,
  ];
  return parts.filter((part) => part !== undefined).join(', ') || undefined;
}

function constraintsOf(node: SchemaNode): string[] {
  const own = [boundsOf(node), node.pattern === undefined ? undefined : `matches \`${node.pattern}\``, node.checks];
  return [...own.filter((c): c is string => c !== undefined), ...(node.anyOf ?? []).flatMap(constraintsOf)];
}

function defaultsOfFields(node: SchemaNode): Record<string, unknown> {
  return Object.fromEntries(Object.entries(node.properties ?? {}).map(([key, child]) => [key, child.default]));
}

function defaultOf(node: SchemaNode): string {
  if (!('default' in node)) return '';
  if (isObjectWithFields(node) && isDeepStrictEqual(node.default, defaultsOfFields(node))) return "its fields' defaults";
  return literal(node.default);
}

/** A table cell: one line, its pipes escaped (GitHub ends a cell at `|`, even inside code). */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

function anchorOf(path: string): string {
  return path.replace(/\./g, '');
}

function descriptionOf(field: Field): string {
  const description = field.node.description ?? '';
  return isObjectWithFields(field.node) ? `${description} Its fields: [${field.path}](#${anchorOf(field.path)}).` : description;
}

function fieldRow(field: Field): string {
  const cells = [
    `\`${field.path}\``,
    typeOf(field.node),
    defaultOf(field.node),
    field.required ? 'yes' : 'no',
    constraintsOf(field.node).join('; '),
    descriptionOf(field),
  ];
  return `| ${cells.map(cell).join(' | ')} |`;
}

function tableSection(table: ObjectTable): string[] {
  const heading = table.path === '' ? ['### Top level'] : [`### ${table.path}`, '', cell(table.node.description ?? '')];
  return [
    ...heading,
    '',
    '| Field | Type | Default | Required | Constraints | Description |',
    '|---|---|---|---|---|---|',
    ...table.fields.map(fieldRow),
    '',
  ];
}

function refusalOf(input: unknown, target: TargetContext): InvalidInputError | undefined {
  try {
    parseRunConfig(input, target);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidInputError) return err;
    throw err;
  }
}

/** The message parseRunConfig gives for each of the rule's inputs; throws where it does not refuse one as documented. */
export function refusalsOf(rule: CrossFieldRule, target: TargetContext = EXAMPLE_TARGET): string[] {
  return rule.refused.map(({ change, field }) => {
    const refusal = refusalOf({ ...MINIMAL_INPUT, ...change }, target);
    if (refusal?.field !== field) {
      throw new Error(`the rule "${rule.rule}" says ${JSON.stringify(change)} is refused naming ${field}; parseRunConfig ${refusal ? `names ${refusal.field}` : 'accepts it'}`);
    }
    return refusal.message;
  });
}

function ruleRow(rule: CrossFieldRule): string {
  const fields = [...new Set(rule.refused.map((r) => `\`${r.field}\``))].join(', ');
  const first = rule.refused[0]!;
  return `| ${[rule.rule, fields, literal(first.change), `\`${refusalsOf(rule)[0]}\``].map(cell).join(' | ')} |`;
}

/** An example as parseRunConfig returns it; throws, naming the example, where parseRunConfig refuses it. */
export function parsedExample(name: string, input: unknown): unknown {
  try {
    return parseRunConfig(input, EXAMPLE_TARGET);
  } catch (err) {
    throw new Error(`the ${name} example is refused: ${(err as Error).message}`);
  }
}

function validExample(name: string, input: unknown): unknown {
  parsedExample(name, input);
  return input;
}

function jsonBlock(value: unknown): string[] {
  return ['```json', JSON.stringify(value, null, 2), '```'];
}

function introLines(): string[] {
  return [
    '<!-- Generated by `npm run docs` from ExecutionInputSchema in lambdas/shared/runtime/config.ts: edit the schema, not this page. -->',
    '',
    '# Execution input',
    '',
    'What an operator pastes when starting the `ReindexRun` state machine ("Start execution" in the console,',
    '`npx safe-reindex aws start --input run.json`, or `npx safe-reindex local --input run.json`). Its place in the run is in',
    '[design.md](design.md#execution-input-what-an-operator-pastes-in-the-console). `MonthlyBackfill`\'s `run` is this input',
    'without `runId` and `dryRun`, which the backfill sets for each month.',
    '',
    'Bad input fails the run at its first state with `InvalidInput`, and nothing is written anywhere. Its cause names the first',
    'bad field: `<field> is required`, `<field> is not a known field` (unknown fields are refused at every level), or `<field>`',
    'and what is wrong with it. "Required" below means the operator must give the field; every other one takes its default or',
    'stays absent.',
    '',
  ];
}

function rulesLines(): string[] {
  return [
    '## Rules across fields',
    '',
    `Checked after every field is valid, in this order; the first broken rule fails the run. Each message is what the`,
    `pipeline answers for the minimal example below with the fields of "For example" set, against the target endpoint`,
    `\`${EXAMPLE_TARGET.endpoint}\` and \`maxTasksPerDomain\` ${EXAMPLE_TARGET.maxTasksPerDomain}.`,
    '',
    '| Rule | Field named | For example | Message |',
    '|---|---|---|---|',
    ...CROSS_FIELD_RULES.map(ruleRow),
    '',
  ];
}

function exampleLines(): string[] {
  return [
    '## Examples',
    '',
    '### Minimal',
    '',
    'A dry run of one index: every other field takes its default.',
    '',
    ...jsonBlock(MINIMAL_INPUT),
    '',
    'What the pipeline makes of it, the defaults filled in:',
    '',
    ...jsonBlock(parsedExample('minimal', MINIMAL_INPUT)),
    '',
    '### Full',
    '',
    'A live, partitioned run giving every field an operator sets; `approvedFingerprint` stands for the fingerprint its dry run printed.',
    '',
    ...jsonBlock(validExample('full', FULL_INPUT)),
    '',
  ];
}

export function renderExecutionInputPage(): string {
  const tables = objectTables('', inputJsonSchema());
  return [...introLines(), '## Fields', '', ...tables.flatMap(tableSection), ...rulesLines(), ...exampleLines()].join('\n');
}
