import { afterEach, describe, expect, it, vi } from 'vitest';
import { METRICS_NAMESPACE } from '../../lambdas/shared/runtime/metrics';
import { powertoolsRunMetrics } from '../../lambdas/shared/runtime/metrics';
import { ANY_INDEX_DIMENSIONS, RUN_ALARMS } from '../../lib/constructs/monitoring';
import { POWERTOOLS_SERVICE_NAME } from '../../lib/constructs/handler-functions';

// The alarms watch the series the handlers really emit. Powertools writes EMF lines to stdout; read them.

interface Emf {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  [key: string]: unknown;
}

function emitted(values: Parameters<ReturnType<typeof powertoolsRunMetrics>['emit']>[1]): Emf[] {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  try {
    powertoolsRunMetrics().emit('calls-2026-05', values);
  } finally {
    write.mockRestore();
    log.mockRestore();
  }
  return lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Emf);
}

afterEach(() => vi.restoreAllMocks());

describe('metrics the alarms watch', () => {
  it('are emitted once per index and once for any index, whose dimensions are exactly the alarms\' dimensions', () => {
    const [perIndex, anyIndex] = emitted({ Created: 7, CounterMismatch: 1 });

    expect(perIndex!._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: METRICS_NAMESPACE, Dimensions: [['service', 'TargetIndex']] });
    expect(perIndex!.TargetIndex).toBe('calls-2026-05');
    expect(anyIndex!._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: METRICS_NAMESPACE, Dimensions: [Object.keys(ANY_INDEX_DIMENSIONS)] });
    for (const [name, value] of Object.entries(ANY_INDEX_DIMENSIONS)) expect(anyIndex![name]).toBe(value);
    expect(anyIndex!.TargetIndex).toBeUndefined();
  });

  it('carry the service name the functions are deployed with', () => {
    expect(ANY_INDEX_DIMENSIONS).toEqual({ service: POWERTOOLS_SERVICE_NAME });
  });

  it('include every alarmed metric under its alarmed name', () => {
    const values = Object.fromEntries(RUN_ALARMS.map((a) => [a.metricName, 1]));
    const names = emitted(values).flatMap((e) => e._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name));

    for (const alarm of RUN_ALARMS) expect(names.filter((n) => n === alarm.metricName)).toHaveLength(2);
  });
});
