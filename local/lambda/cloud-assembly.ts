import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What `cdk synth` writes, read as the local runner needs it: each Lambda function's bundled asset,
 * handler, timeout, memory and environment, and each state machine's ASL with its
 * DefinitionSubstitutions applied. The assembly is synthesised once (with bundling, as `cdk synth`
 * does) into `cdk.out/` and reused while the files it is built from are unchanged.
 */

const here = dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = join(here, '..', '..');
export const DEFAULT_ASSEMBLY_DIR = join(PROJECT_ROOT, 'cdk.out');
/** What the assembly is built from: a change to any of these makes `cdk.out` stale. */
const INPUTS = ['bin', 'lib', 'lambdas', 'statemachines', 'cdk.json', 'package-lock.json', 'tsconfig.json'];
const STAMP = 'safe-reindex.inputs.json';
/** The account and region every local ARN names. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

type Json = Record<string, unknown>;
/** A template value: a string, or an intrinsic (`Ref`, `Fn::GetAtt`) the local runner resolves. */
export type TemplateValue = string | number | boolean | Json;

export interface AssemblyFunction {
  /** The function's logical id in the template; locally also its name. */
  readonly logicalId: string;
  /** The function's ARN as the substituted ASL names it. */
  readonly arn: string;
  /** Absolute path of the bundled handler file (`index.mjs`). */
  readonly entry: string;
  /** The handler's export name (`handler` of `index.handler`). */
  readonly exportName: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly runtime: string;
  readonly environment: Readonly<Record<string, TemplateValue>>;
  readonly tracing: boolean;
}

export interface AssemblyStateMachine {
  readonly logicalId: string;
  readonly arn: string;
  /** The ASL as deployed: DefinitionSubstitutions applied. */
  readonly definition: Json;
  /** Function logical id -> the substitution key that names it (`PreflightFunctionArn`). */
  readonly functionKeys: Readonly<Record<string, string>>;
}

export interface CloudAssembly {
  readonly dir: string;
  readonly templateFile: string;
  readonly functions: Readonly<Record<string, AssemblyFunction>>;
  /** By state machine name: `ReindexRun`, `MonthlyBackfill`. */
  readonly stateMachines: Readonly<Record<string, AssemblyStateMachine>>;
  /** Logical id -> resource type, for resolving `Ref`s in function environments. */
  readonly resourceTypes: Readonly<Record<string, string>>;
}

export function localFunctionArn(logicalId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;
}

export function localStateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
}

/** A hash of every file the assembly is built from. */
export function assemblyInputsHash(root: string = PROJECT_ROOT): string {
  const hash = createHash('sha256');
  const visit = (path: string): void => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry));
      return;
    }
    hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
  };
  for (const input of INPUTS) visit(join(root, input));
  return hash.digest('hex');
}

export interface EnsureAssemblyOptions {
  /** @default the project's cdk.out */
  readonly dir?: string;
  /** Called when a synth starts (it takes some 20 s). */
  readonly onSynth?: (reason: string) => void;
}

const loaded = new Map<string, CloudAssembly>();

/**
 * The current cloud assembly: `cdk.out` as it is when it was synthesised from the current sources by
 * this function, else synthesised anew (with bundling, from cdk.json's context). Safe when several
 * processes ask at once: one synthesises, the others wait for it.
 */
export async function ensureCloudAssembly(options: EnsureAssemblyOptions = {}): Promise<CloudAssembly> {
  const dir = options.dir ?? DEFAULT_ASSEMBLY_DIR;
  const inputs = assemblyInputsHash();
  const cached = loaded.get(`${dir}\0${inputs}`);
  if (cached) return cached;
  if (stampOf(dir) !== inputs) await synthesiseLocked(dir, inputs, options.onSynth);
  const assembly = readCloudAssembly(dir);
  loaded.set(`${dir}\0${inputs}`, assembly);
  return assembly;
}

function stampOf(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, STAMP), 'utf8')) as { inputs?: string }).inputs;
  } catch {
    return undefined;
  }
}

async function synthesiseLocked(dir: string, inputs: string, onSynth?: (reason: string) => void): Promise<void> {
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process is synthesising; a lock older than 5 minutes is left by a dead one.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (another synth); remove it if no synth runs`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (stampOf(dir) === inputs) return;
    onSynth?.(existsSync(dir) ? 'the sources changed since cdk.out was synthesised' : 'no cdk.out yet');
    const staging = `${dir}.staging-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    // Imported here: aws-cdk-lib takes a second or two to load, and only a synth needs it.
    const { createApp } = await import('../../lib/app');
    const context = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Json }).context;
    createApp(context, { outdir: staging }).app.synth();
    writeFileSync(join(staging, STAMP), JSON.stringify({ inputs, at: new Date().toISOString() }));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Reads a synthesised assembly (one stack). */
export function readCloudAssembly(dir: string): CloudAssembly {
  const templates = readdirSync(dir).filter((f) => f.endsWith('.template.json'));
  if (templates.length !== 1) throw new Error(`${dir}: expected one *.template.json, found ${templates.join(', ') || 'none'}`);
  const templateFile = join(dir, templates[0]!);
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as { Resources: Record<string, { Type: string; Properties?: Json }> };
  const resourceTypes = Object.fromEntries(Object.entries(template.Resources).map(([id, r]) => [id, r.Type]));

  const functions: Record<string, AssemblyFunction> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const p = resource.Properties ?? {};
    const key = String((p['Code'] as Json | undefined)?.['S3Key'] ?? '');
    const assetDir = join(dir, `asset.${key.replace(/\.zip$/, '')}`);
    const [file, exportName] = splitHandler(String(p['Handler'] ?? ''), logicalId);
    const entry = ['.mjs', '.js', '.cjs'].map((ext) => join(assetDir, file + ext)).find((f) => existsSync(f));
    if (!entry) throw new Error(`${logicalId}: no bundled handler ${file}.mjs in ${assetDir} (was the assembly synthesised with bundling?)`);
    functions[logicalId] = {
      logicalId,
      arn: localFunctionArn(logicalId),
      entry,
      exportName,
      timeoutSeconds: Number(p['Timeout'] ?? 3),
      memoryMb: Number(p['MemorySize'] ?? 128),
      runtime: String(p['Runtime'] ?? ''),
      environment: (((p['Environment'] as Json | undefined)?.['Variables'] as Record<string, TemplateValue> | undefined) ?? {}),
      tracing: (p['TracingConfig'] as Json | undefined)?.['Mode'] === 'Active',
    };
  }

  const stateMachines: Record<string, AssemblyStateMachine> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const name = stateMachineName(logicalId);
    const p = resource.Properties ?? {};
    const location = p['DefinitionS3Location'] as Json | undefined;
    const definitionText =
      typeof p['DefinitionString'] === 'string'
        ? (p['DefinitionString'] as string)
        : readFileSync(join(dir, `asset.${String(location?.['Key'] ?? '')}`), 'utf8');
    const values: Record<string, string> = {};
    const functionKeys: Record<string, string> = {};
    for (const [key, value] of Object.entries((p['DefinitionSubstitutions'] as Record<string, TemplateValue> | undefined) ?? {})) {
      const getAtt = typeof value === 'object' ? (value['Fn::GetAtt'] as [string, string] | undefined) : undefined;
      const ref = typeof value === 'object' ? (value['Ref'] as string | undefined) : undefined;
      if (getAtt && resourceTypes[getAtt[0]] === 'AWS::Lambda::Function' && getAtt[1] === 'Arn') {
        values[key] = localFunctionArn(getAtt[0]);
        functionKeys[getAtt[0]] = key;
      } else if (ref && resourceTypes[ref] === 'AWS::StepFunctions::StateMachine') {
        values[key] = localStateMachineArn(stateMachineName(ref));
      } else if (typeof value !== 'object') {
        values[key] = String(value);
      } else {
        throw new Error(`${name}: definition substitution ${key} = ${JSON.stringify(value)} has no local value`);
      }
    }
    stateMachines[name] = {
      logicalId,
      arn: localStateMachineArn(name),
      definition: substituteDefinition(definitionText, values),
      functionKeys,
    };
  }
  return { dir, templateFile, functions, stateMachines, resourceTypes };
}

function splitHandler(handler: string, logicalId: string): [string, string] {
  const dot = handler.lastIndexOf('.');
  if (dot <= 0) throw new Error(`${logicalId}: handler "${handler}" is not <file>.<export>`);
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

/** `PipelineReindexRunAC7C2E4E` -> `ReindexRun`: the construct's name, without the path prefix and hash. */
function stateMachineName(logicalId: string): string {
  const known = ['ReindexRun', 'MonthlyBackfill'].find((name) => new RegExp(`${name}[0-9A-F]{8}$`).test(logicalId));
  return known ?? logicalId;
}

/** `${Name}` placeholders replaced as Step Functions does with DefinitionSubstitutions (anywhere in a string). */
export function substituteDefinition(text: string, values: Readonly<Record<string, string>>): Json {
  const missing = new Set<string>();
  const replaced = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) {
      missing.add(key);
      return whole;
    }
    return JSON.stringify(value).slice(1, -1);
  });
  if (missing.size > 0) throw new Error(`placeholders without a substitution: ${[...missing].join(', ')}`);
  return JSON.parse(replaced) as Json;
}
