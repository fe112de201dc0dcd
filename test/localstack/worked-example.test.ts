import { describe, expect, it } from 'vitest';
import { runWorkedExample } from '../../local/localstack/scenarios';
import { localStackSession } from '../support/localstack';

describe('the worked example through the ReindexRun deployed to LocalStack', () => {
  it('dry run prints the header and launches nothing; the live run reconciles 84,987 = 70,799 + 635 + 13,553 and passes full parity', async () => {
    // Prepare
    const session = localStackSession();

    // Act: what an operator does, `safe-reindex aws start --wait`, against the deployed state machine.
    const outcome = await runWorkedExample(session, 'calls-2026-05');

    // Assess
    expect(outcome.dry.code, outcome.dry.stderr).toBe(0);
    expect(outcome.dry.stdout).toMatch(/run:\s+DRY RUN \(records the approval, launches nothing\)/);
    expect(outcome.dry.stdout).toMatch(/source count:\s+84,987/);
    expect(outcome.dry.stdout).toContain('SUCCEEDED (dry run approved; nothing launched)');
    expect(outcome.live.code, outcome.live.stderr).toBe(0);
    expect(outcome.record?.status).toBe('SUCCEEDED');
    expect(outcome.record?.counters).toMatchObject({ total: 84_987, created: 70_799, updated: 635, versionConflicts: 13_553, failures: 0 });
    expect(outcome.asSeeded).toBe(true);
    expect(outcome.live.stdout).toMatch(/70,799/);
    expect(outcome.live.stdout).toMatch(/13,553/);
    expect(outcome.record?.parity).toMatchObject({
      ok: true,
      mode: 'full',
      verification: { compared: 84_987, classes: { equal: 84_987 - 500, targetNewer: 500, regression: 0, missing: 0, targetOnly: 0 } },
    });
  });
});
