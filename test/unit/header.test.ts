import { describe, expect, it } from 'vitest';
import { buildCanonicalRequest, credentialReference } from '../../lambdas/shared/planning/canonical-request';
import { parseRunConfig } from '../../lambdas/shared/runtime/config';
import { coverageOf } from '../../lambdas/shared/checks/coverage';
import { renderHeader, sentSettings, withoutUserinfo, type HeaderInput } from '../../lambdas/shared/planning/header';
import { probe, type SampledPair } from '../../lambdas/shared/checks/probe';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-source';

function sample(): SampledPair[] {
  return [
    ...Array.from({ length: 13_053 }, (_, i) => ({ id: `eq-${i}`, targetVersion: 5_000, sourceVersion: 5_000 })),
    ...Array.from({ length: 635 }, (_, i) => ({ id: `old-${i}`, targetVersion: 4_000, sourceVersion: 4_001 })),
    ...Array.from({ length: 500 }, (_, i) => ({ id: `new-${i}`, targetVersion: 7_001, sourceVersion: 7_000 })),
  ];
}

function dryRunHeader(overrides: Partial<HeaderInput> = {}): HeaderInput {
  return {
    runId: 'calls-2026-05-dry',
    dryRun: true,
    source: { url: 'https://es7.internal:9200', index: 'calls-2026-05', credentialsReference: SECRET },
    target: { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com', index: 'calls-2026-05' },
    mode: 'merge',
    sent: { versionType: 'external', conflicts: 'proceed', batchSize: 1000, requestsPerSecond: null, query: null },
    sourceCount: 84_987,
    targetCount: 14_188,
    coverage: coverageOf([
      { day: '2026-05-27', count: 1_188 },
      { day: '2026-05-28', count: 3_000 },
      { day: '2026-05-29', count: 3_000 },
      { day: '2026-05-30', count: 3_000 },
      { day: '2026-05-31', count: 4_000 },
    ]),
    probe: probe({ pairs: sample(), sourceCount: 84_987, targetCount: 14_188, mode: 'merge' }),
    fingerprint: 'f'.repeat(64),
    approval: { kind: 'dry-run' },
    ...overrides,
  };
}

describe('renderHeader with batchSize "auto"', () => {
  const sent = { versionType: 'external', conflicts: 'proceed', requestsPerSecond: null, query: null } as const;

  it('shows the size the dry run resolved and what bounds it', () => {
    const batch = { batchSize: 5_300, sampled: 100, meanBytes: 3_000, maxBytes: 3_412, boundBy: 'target-bytes' } as const;
    const text = renderHeader(dryRunHeader({ sent: { ...sent, batchSize: 5_300 }, batch })).join('\n');
    expect(text).toContain('batch size:           5,300 (auto)\n                      from 100 sampled source documents: _source mean 2.9 KiB, largest 3.3 KiB; bound by about 16.0 MiB per batch');
  });

  it('names the buffer or the scroll ceiling when either bounds it', () => {
    const buffer = { batchSize: 12, sampled: 100, meanBytes: 25_000, maxBytes: 2_097_152, boundBy: 'response-buffer' } as const;
    expect(renderHeader(dryRunHeader({ sent: { ...sent, batchSize: 12 }, batch: buffer })).join('\n')).toContain(
      "largest 2.0 MiB; bound by a quarter of the target's 100.0 MiB buffer for a remote response",
    );
    const pressure = { batchSize: 2_100, sampled: 100, meanBytes: 3_000, maxBytes: 3_000, boundBy: 'indexing-pressure', indexingPressureBytes: 53_687_091, concurrentTasks: 4 } as const;
    expect(renderHeader(dryRunHeader({ sent: { ...sent, batchSize: 2_100 }, batch: pressure })).join('\n')).toContain(
      "bound by half of the target's indexing-pressure limit (51.2 MiB per node) shared by 4 concurrent task(s)",
    );
    const ceiling = { batchSize: 10_000, sampled: 100, meanBytes: 300, maxBytes: 410, boundBy: 'scroll-ceiling' } as const;
    expect(renderHeader(dryRunHeader({ sent: { ...sent, batchSize: 10_000 }, batch: ceiling })).join('\n')).toContain(
      "_source mean 300 B, largest 410 B; bound by the scroll ceiling (10,000, the source's index.max_result_window)",
    );
  });

  it('says so when no dry run has resolved it (a live run without an approval)', () => {
    expect(renderHeader(dryRunHeader({ dryRun: false, sent: { ...sent, batchSize: 'auto' }, batch: null })).join('\n')).toContain(
      'batch size:           auto: no dry run has resolved it',
    );
  });
});

describe('renderHeader', () => {
  it('renders every field the operator approves', () => {
    // Act
    const text = renderHeader(dryRunHeader()).join('\n');

    // Assess
    for (const expected of [
      'run id:               calls-2026-05-dry',
      'run:                  DRY RUN',
      'source:               https://es7.internal:9200 index calls-2026-05',
      'source query:         none (all documents)',
      `source credentials:   ${SECRET}`,
      'target:               https://search-calls.eu-west-1.es.amazonaws.com index calls-2026-05',
      'mode:                 merge (dest.version_type: external, conflicts: proceed)',
      'batch size:           1,000',
      'requests per second:  unthrottled',
      'source count:         84,987',
      'target count:         14,188',
      'target coverage:      2026-05-27 .. 2026-05-31 (UTC), 5 day(s), 3 full day(s), 14,188 docs',
      'probe:                14,188 sampled: 13,053 equal, 635 source newer, 500 target newer, 0 target only',
      'predicted:            84,987 = 70,799 created + 635 updated + 13,553 version_conflicts',
      'examples:             eq-0: source _version 5000, target _version 5000 (equal)',
      'old-0: source _version 4001, target _version 4000 (sourceNewer)',
      'new-0: source _version 7000, target _version 7001 (targetNewer)',
      `fingerprint:          ${'f'.repeat(64)}`,
      'approval:             none (dry run records it)',
    ]) {
      expect(text).toContain(expected);
    }
  });

  it('says the prediction is exact as of the dry run when the probe sampled every target document', () => {
    const lines = renderHeader(dryRunHeader());

    const at = lines.findIndex((l) => l.startsWith('predicted:'));
    expect(lines[at + 1]).toBe('                      exact as of this dry run: the sample is every target document (dual-write keeps moving it)');
  });

  it('shows the 95% interval of each predicted counter beside a sampled prediction', () => {
    // Prepare: 65 of the 14,188 target documents sampled, one of them older than its source copy
    const pairs = [
      { id: 'old-0', targetVersion: 4_000, sourceVersion: 4_001 },
      ...Array.from({ length: 64 }, (_, i) => ({ id: `eq-${i}`, targetVersion: 5_000 + i, sourceVersion: 5_000 + i })),
    ];
    const sampled = probe({ pairs, sourceCount: 84_987, targetCount: 14_188, mode: 'merge' });

    // Act
    const lines = renderHeader(dryRunHeader({ probe: sampled }));

    // Assess
    const at = lines.findIndex((l) => l.startsWith('predicted:'));
    expect(lines[at]).toBe('predicted:            84,987 = 70,799 created + 218 updated + 13,970 version_conflicts');
    const { created, updated, versionConflicts } = sampled.interval;
    const range = (r: { low: number; high: number }) => `${r.low.toLocaleString('en-US')} to ${r.high.toLocaleString('en-US')}`;
    expect(lines[at + 1]).toBe(
      `                      95% interval: ${range(created)} created, ${range(updated)} updated, ${range(versionConflicts)} version_conflicts (from 65 sampled target documents)`,
    );
    expect(updated.high - updated.low).toBeGreaterThan(1_000);
  });

  it('says which parity check the run ends with: full verification of every document, or the sample', () => {
    const full = renderHeader(dryRunHeader({ parity: { mode: 'full', sampleSize: 65, concurrency: 4 } }));
    const sampled = renderHeader(dryRunHeader({ parity: { mode: 'sample', sampleSize: 65, concurrency: 4 } }));

    expect(full.find((l) => l.startsWith('parity:'))).toMatch(/^parity: +full verification: every document's id and version on both clusters, both ways, differences looked up twice$/);
    expect(sampled.find((l) => l.startsWith('parity:'))).toMatch(/^parity: +sample: 65 source ids looked up on the target and 65 target ids on the source \(not every document\)$/);
  });

  it('shows five examples', () => {
    const lines = renderHeader(dryRunHeader());

    expect(lines.filter((l) => l.includes('_version'))).toHaveLength(5);
  });

  it('renders the settings of a canonical request as sent, for every mode', () => {
    // Prepare
    const config = (mode: string) =>
      parseRunConfig(
        {
          runId: 'calls-2026-05',
          source: { url: 'https://es7.internal:9200', index: 'calls-2026-05', credentialsSecret: SECRET, query: { range: { timestamp: { gte: '2026-05-01' } } } },
          target: { index: 'calls-2026-05' },
          mode,
          requestsPerSecond: 5_000,
        },
        { endpoint: 'https://search-calls.eu-west-1.es.amazonaws.com' },
      );
    const render = (mode: string) => {
      const c = config(mode);
      return renderHeader(dryRunHeader({ mode: c.mode, sent: sentSettings(buildCanonicalRequest(c, credentialReference(c))) })).join('\n');
    };

    // Act / Assess
    expect(render('merge')).toContain('merge (dest.version_type: external, conflicts: proceed)');
    expect(render('create-only')).toContain('create-only (dest.version_type: not sent (internal), dest.op_type: create, conflicts: proceed)');
    expect(render('overwrite')).toContain('overwrite (dest.version_type: not sent (internal), conflicts: not sent (abort))');
    expect(render('merge')).toContain('requests per second:  5,000');
    expect(render('merge')).toContain('source query:         {"range":{"timestamp":{"gte":"2026-05-01"}}}');
    expect(render('merge')).not.toContain('{{secret:');
  });

  it('states the approval of a live run, or its absence', () => {
    const approved = renderHeader(
      dryRunHeader({
        runId: 'calls-2026-05',
        dryRun: false,
        approval: { kind: 'approved', dryRunId: 'calls-2026-05-dry', approvedAt: '2026-06-01T08:00:00.000Z', validUntil: '2026-06-02T08:00:00.000Z' },
      }),
    ).join('\n');
    const missing = renderHeader(dryRunHeader({ dryRun: false, approval: { kind: 'missing' } })).join('\n');

    expect(approved).toContain('run:                  LIVE');
    expect(approved).toContain('approved by dry run calls-2026-05-dry at 2026-06-01T08:00:00.000Z, valid until 2026-06-02T08:00:00.000Z');
    expect(missing).toContain('DryRunRequired');
  });

  it('renders an empty target and no probe', () => {
    const text = renderHeader(dryRunHeader({ targetCount: 0, coverage: coverageOf([]), probe: null, source: { url: 'http://127.0.0.1:9200', index: 'a', credentialsReference: null } })).join('\n');

    expect(text).toContain('target coverage:      empty (no dual-write data)');
    expect(text).toContain('probe:                not run (empty target)');
    expect(text).toContain('source credentials:   none');
  });

  it('never prints a password, even one passed in a URL', () => {
    // Prepare
    const input = dryRunHeader({
      source: { url: 'https://elastic:hunter2@es7.internal:9200', index: 'calls-2026-05', credentialsReference: SECRET },
      target: { endpoint: 'https://admin:s3cret@search-calls.eu-west-1.es.amazonaws.com/', index: 'calls-2026-05' },
    });

    // Act
    const text = renderHeader(input).join('\n');

    // Assess
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('elastic:');
    expect(text).toContain('source:               https://es7.internal:9200 index calls-2026-05');
    expect(text).toContain('target:               https://search-calls.eu-west-1.es.amazonaws.com index calls-2026-05');
  });
});

describe('withoutUserinfo', () => {
  it('strips userinfo from URLs and from text that does not parse as one', () => {
    expect(withoutUserinfo('https://user:pass@host:9200')).toBe('https://host:9200');
    expect(withoutUserinfo('https://host:9200/prefix')).toBe('https://host:9200/prefix');
    expect(withoutUserinfo('user:pass@host:9200')).toBe('host:9200');
  });
});
