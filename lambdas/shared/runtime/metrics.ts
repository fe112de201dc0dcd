import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricName, RunMetrics } from './run-context';

export const METRICS_NAMESPACE = 'SafeReindex';
export const TARGET_INDEX_DIMENSION = 'TargetIndex';

const UNITS: Record<MetricName, (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  Created: MetricUnit.Count,
  Updated: MetricUnit.Count,
  VersionConflicts: MetricUnit.Count,
  Failures: MetricUnit.Count,
  CounterMismatch: MetricUnit.Count,
  ParityDrift: MetricUnit.NoUnit,
  SampleMissing: MetricUnit.Count,
  VerifiedDifferences: MetricUnit.Count,
  Stalled: MetricUnit.Count,
  ForeignReindexCancelled: MetricUnit.Count,
};

/**
 * Powertools metrics (EMF), each value twice: with the target index as a dimension (dashboards) and
 * without (alarms that fire for any index, including ones unknown at deploy time).
 */
export function powertoolsRunMetrics(metrics: Metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'safe-reindex' })): RunMetrics {
  return {
    emit(targetIndex, values) {
      const entries = Object.entries(values) as Array<[MetricName, number]>;
      if (entries.length === 0) return;
      metrics.addDimension(TARGET_INDEX_DIMENSION, targetIndex);
      for (const [name, value] of entries) metrics.addMetric(name, UNITS[name], value);
      metrics.publishStoredMetrics();
      for (const [name, value] of entries) metrics.addMetric(name, UNITS[name], value);
      metrics.publishStoredMetrics();
    },
  };
}
