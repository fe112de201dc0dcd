import { hashOfSentRequest, opaqueId, parseOpaqueId, type CredentialReference } from '../../lambdas/shared/planning/canonical-request';
import type { FaultRule } from './fault-proxy';

/**
 * A fault rule for the proxy in front of the target: the `_reindex` launch reaches the cluster with
 * its body changed by `mutate` and tagged, as the launch tags what it sends, with the hash of the
 * changed bytes. It is what a faulty launch would send (the wrong configuration actually started), so
 * rail 2 has to catch it from the running task alone.
 */
export function tamperedLaunch(
  mutate: (body: Record<string, unknown>) => void,
  options: { credentials?: CredentialReference; onSent?: () => void } = {},
): FaultRule {
  return {
    method: 'POST',
    path: '/_reindex',
    times: 1,
    action: {
      kind: 'rewrite',
      rewrite(request) {
        const body = JSON.parse(request.body) as Record<string, unknown>;
        mutate(body);
        const bodyBytes = JSON.stringify(body);
        const url = new URL(request.path, 'http://target');
        const tag = parseOpaqueId(String(request.headers['x-opaque-id'] ?? ''));
        const headers = { ...request.headers };
        if (tag) {
          const params = Object.fromEntries(url.searchParams.entries());
          const hash = hashOfSentRequest({ method: request.method, path: url.pathname, params, bodyBytes }, options.credentials);
          headers['x-opaque-id'] = opaqueId(tag.runId, hash);
        }
        options.onSent?.();
        return { ...request, headers, body: bodyBytes };
      },
    },
  };
}
