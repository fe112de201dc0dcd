/** Server time values (`60s`, `24h`, `500ms`), as index settings spell them. */

const UNITS: Record<string, number> = { nanos: 1e-6, micros: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a server time value (`60s`, `24h`, `500ms`; a bare number is milliseconds); undefined when unreadable or negative. */
export function durationMs(value: string): number | undefined {
  const match = /^(-?\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  if (n < 0) return undefined;
  return n * (UNITS[match[2] ?? 'ms'] ?? 1);
}
