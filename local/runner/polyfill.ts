/**
 * `Promise.withResolvers` (ES2024, Node 22) for Node 20.
 *
 * `aws-local-stepfunctions` 3.0.0 declares `engines.node >= 22` but runs on Node 20 once this one
 * method exists (its Task state uses it for the task timeout). Imported first by the local runner
 * only: never import it from Lambda code, which runs on the Lambda Node runtime as it is.
 */

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

type PromiseWithResolvers = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> };

if (typeof (Promise as PromiseWithResolvers).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
