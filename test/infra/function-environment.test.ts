import { describe, expect, it } from 'vitest';
import { synthesise } from './support';

// The source credentials reach a deployed function only through the run's Secrets Manager secret:
// SAFE_REINDEX_SOURCE_USERNAME / _PASSWORD are the local stand-in (lambdas/shared/runtime/lambda-runtime.ts
// reads them for a run that names no secret), and the stack must never set them.

type Json = Record<string, unknown>;

/** Every function's environment variables, by logical id. */
function environments(template: ReturnType<typeof synthesise>['template']): Array<[string, Json]> {
  return Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, resource]) => [
    id,
    (((resource.Properties as Json).Environment as Json | undefined)?.Variables as Json | undefined) ?? {},
  ]);
}

describe.each([
  ['the example configuration (cdk.json)', {}],
  ['a self-managed target', {
    'safe-reindex:targetService': 'self-managed',
    'safe-reindex:targetDomainArn': null,
    'safe-reindex:targetDomainEndpoint': 'https://opensearch.internal:9200',
    'safe-reindex:account': '123456789012',
    'safe-reindex:region': 'eu-west-1',
  }],
])('function environments, %s', (_name, overrides) => {
  const s = synthesise(overrides);

  it('set no SAFE_REINDEX_SOURCE_* variable on any function (source credentials come from the run\'s secret)', () => {
    const envs = environments(s.template);

    expect(envs.length).toBeGreaterThan(10);
    for (const [id, variables] of envs) {
      expect(Object.keys(variables).filter((key) => key.startsWith('SAFE_REINDEX_SOURCE_')), id).toEqual([]);
    }
  });

  it('leave tracing on (POWERTOOLS_TRACE_ENABLED is only the local runner\'s switch)', () => {
    for (const [id, variables] of environments(s.template)) {
      expect(variables.POWERTOOLS_TRACE_ENABLED, id).toBeUndefined();
    }
    s.template.allResourcesProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
  });
});
