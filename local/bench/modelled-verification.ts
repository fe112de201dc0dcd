import { DEFAULT_VERIFY_INVOCATION_SECONDS } from '../../lambdas/shared/checks/verify-ranges';

/**
 * Full verification's rate in the simulations, documents compared per second (both ways): below what
 * figure 8 of `npm run bench` measures with the source 150 ms away (about 31,000 on 2 cores), so the
 * simulated verification lasts longer, and loops more, than a measured one.
 */
export const MODELLED_VERIFY_DOCS_PER_SECOND = 20_000;

/**
 * CheckParity in the simulations (no clusters there): full verification of `docs` documents at
 * `docsPerSecond`, in invocations of at most the handler's own budget, each one a trip round the
 * state machine's `IsEveryDocumentVerified` loop. `spend` moves the simulated clock.
 */
export function modelledCheckParity(docs: number, docsPerSecond: number, spend: (ms: number) => void): () => Promise<{ ok: true; done: boolean }> {
  let leftSeconds: number | undefined;
  return async () => {
    leftSeconds ??= docs / docsPerSecond;
    const seconds = Math.min(leftSeconds, DEFAULT_VERIFY_INVOCATION_SECONDS);
    leftSeconds -= seconds;
    spend(seconds * 1000);
    return { ok: true, done: leftSeconds <= 0 };
  };
}
