import { describe, expect, it } from 'vitest';
import { AUTO_BATCH_TARGET_BYTES, REMOTE_RESPONSE_BUFFER_BYTES, SCROLL_BATCH_CEILING, autoBatchSize } from '../../lambdas/shared/planning/batch-size';

const docs = (n: number, bytes: number) => Array.from({ length: n }, (_, i) => ({ id: `call-${String(i).padStart(7, '0')}`, sourceBytes: bytes }));

describe('autoBatchSize', () => {
  it('aims each batch at the target bytes, rounded down to two significant digits', () => {
    const auto = autoBatchSize(docs(100, 3_000), 'calls-2026-05');
    // 3,000 + 128 + 13 + 12 bytes per hit: 16 MiB / 3,153 = 5,321 -> 5,300
    expect(auto).toEqual({ batchSize: 5_300, sampled: 100, meanBytes: 3_000, maxBytes: 3_000, boundBy: 'target-bytes' });
    expect(auto.batchSize * 3_153).toBeLessThanOrEqual(AUTO_BATCH_TARGET_BYTES);
  });

  it('stops at the scroll ceiling for small documents', () => {
    expect(autoBatchSize(docs(100, 200), 'calls-2026-05')).toMatchObject({ batchSize: SCROLL_BATCH_CEILING, boundBy: 'scroll-ceiling' });
    expect(autoBatchSize(docs(100, 200), 'calls-2026-05', { scrollCeiling: 5_000 })).toMatchObject({ batchSize: 5_000, boundBy: 'scroll-ceiling' });
  });

  it('keeps a batch of documents as large as the largest sampled within a quarter of the response buffer', () => {
    const sample = [...docs(99, 500), { id: 'huge', sourceBytes: 2 * 1024 * 1024 }];
    const auto = autoBatchSize(sample, 'calls');
    expect(auto.boundBy).toBe('response-buffer');
    expect(auto.batchSize * (2 * 1024 * 1024 + 128 + 5 + 4)).toBeLessThanOrEqual(REMOTE_RESPONSE_BUFFER_BYTES / 4);
    expect(auto).toMatchObject({ batchSize: 12, maxBytes: 2 * 1024 * 1024 });
  });

  it("keeps the run's concurrent batches within half of the target's indexing-pressure limit", () => {
    // A 512 MiB heap: limit 53,687,091 bytes (10%); four tasks of 3 KB documents.
    const auto = autoBatchSize(docs(100, 3_000), 'calls-2026-05', { indexingPressureBytes: 53_687_091, concurrentTasks: 4 });
    expect(auto).toMatchObject({ boundBy: 'indexing-pressure', indexingPressureBytes: 53_687_091, concurrentTasks: 4 });
    // 53,687,091 / 2 / 4 / 3,153 = 2,128 -> 2,100
    expect(auto.batchSize).toBe(2_100);
    expect(4 * auto.batchSize * 3_153).toBeLessThanOrEqual(53_687_091 / 2);
    // A large heap leaves the target bytes in charge.
    expect(autoBatchSize(docs(100, 3_000), 'calls-2026-05', { indexingPressureBytes: 3_435_973_836, concurrentTasks: 4 }).boundBy).toBe('target-bytes');
  });

  it('keeps the default of 1,000 for an empty source, and never goes below one document', () => {
    expect(autoBatchSize([], 'calls').batchSize).toBe(1_000);
    expect(autoBatchSize(docs(3, 60 * 1024 * 1024), 'calls').batchSize).toBe(1);
  });
});
