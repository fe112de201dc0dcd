import { readFileSync } from 'node:fs';
import type * as iam from 'aws-cdk-lib/aws-iam';

/** `${Name}` placeholders of an ASL file, sorted, each once. */
export function aslPlaceholders(aslPath: string): string[] {
  const text = readFileSync(aslPath, 'utf8');
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

/**
 * One definition substitution and the grant that makes it usable, kept together so that neither
 * exists without the other.
 */
export interface Substitution {
  /** The value put in place of `${key}`. */
  readonly value: string;
  /** Grants the state machine's role what the substituted resource needs. */
  grant(role: iam.IGrantable): void;
}

/**
 * The substitutions an ASL file asks for, taken from what the construct offers; throws early, naming
 * the file, the placeholders without a value and the ones that have one.
 */
export function substitutionsFor(
  owner: string,
  aslPath: string,
  offered: Readonly<Record<string, Substitution>>,
): Array<[string, Substitution]> {
  const wanted = aslPlaceholders(aslPath);
  const unknown = wanted.filter((key) => !(key in offered));
  if (unknown.length > 0) {
    throw new Error(
      `${owner}: ${aslPath} has placeholders without a value: ${unknown.map((k) => '${' + k + '}').join(', ')}; ` +
        `the ones this construct can fill are ${Object.keys(offered).sort().join(', ')}`,
    );
  }
  return wanted.map((key) => [key, offered[key]!]);
}
