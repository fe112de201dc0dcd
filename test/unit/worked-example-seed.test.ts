import { describe, expect, it } from 'vitest';
import {
  DUAL_WRITE_FROM_DAY,
  WORKED_EXAMPLE_1_1000,
  expectedCounters,
  seedDocs,
  targetCopy,
} from '../../local/seed/worked-example';

describe('worked-example seed', () => {
  it('is 1/1000 of the worked example of docs/design.md', () => {
    expect(expectedCounters(WORKED_EXAMPLE_1_1000)).toEqual({
      total: 84_987,
      created: 70_799,
      updated: 635,
      versionConflicts: 13_553,
    });
  });

  it('produces exactly the shape asked for, with unique ids in timestamp order', () => {
    const docs = seedDocs(WORKED_EXAMPLE_1_1000);
    const count = (kind: string) => docs.filter((d) => d.kind === kind).length;
    expect([count('missing'), count('targetOlder'), count('equal'), count('targetNewer')]).toEqual([70_799, 635, 13_053, 500]);
    expect(new Set(docs.map((d) => d.id)).size).toBe(docs.length);
    expect(docs.map((d) => d.timestamp)).toEqual([...docs.map((d) => d.timestamp)].sort());
  });

  it('puts every dual-written document in the dual-write days, with each kind present every day', () => {
    const overlap = seedDocs(WORKED_EXAMPLE_1_1000).filter((d) => d.kind !== 'missing');
    const days = new Map<number, Set<string>>();
    for (const d of overlap) {
      const day = new Date(d.timestamp).getUTCDate();
      expect(day).toBeGreaterThanOrEqual(DUAL_WRITE_FROM_DAY);
      days.set(day, (days.get(day) ?? new Set()).add(d.kind));
    }
    expect([...days.values()].every((kinds) => kinds.size === 3)).toBe(true);
  });

  it('gives the target an older, equal or newer version by kind, and no copy of missing documents', () => {
    const versions = Object.fromEntries(
      seedDocs({ missing: 1, targetOlder: 1, equal: 1, targetNewer: 1 }).map((d) => {
        const copy = targetCopy(d);
        return [d.kind, copy === undefined ? 'none' : Math.sign(copy.version - d.sourceVersion)];
      }),
    );
    expect(versions).toEqual({ missing: 'none', targetOlder: -1, equal: 0, targetNewer: 1 });
  });
});
