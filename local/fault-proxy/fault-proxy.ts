import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * An HTTP proxy in front of a real cluster that fails on demand (real servers do not), and keeps a log
 * of every request that reached it, so a test can prove that nothing was written.
 */

export type FaultAction =
  /** Answer with this status and body instead of forwarding. */
  | { readonly kind: 'status'; readonly status: number; readonly body?: unknown }
  /** Wait, then forward. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Drop the connection with a TCP reset before any response byte. */
  | { readonly kind: 'reset' }
  /**
   * Forward the request with its body and headers changed: what a faulty client would have sent
   * (e.g. a launch whose bytes differ from the approved request, tagged with their own hash).
   */
  | { readonly kind: 'rewrite'; readonly rewrite: (request: RewritableRequest) => RewritableRequest };

/** A request as a `rewrite` fault sees and returns it. */
export interface RewritableRequest {
  readonly method: string;
  /** Path with its query string. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface FaultRule {
  /** HTTP method(s) to match, any case; @default any */
  readonly method?: string | readonly string[];
  /** Path without the query string: a string with `*` wildcards (whole path), or a RegExp. */
  readonly path: string | RegExp;
  readonly action: FaultAction;
  /** Fire this many times, then let requests pass; @default every time */
  readonly times?: number;
  /** Chance that a matching request fires the fault, 0..1; @default 1 */
  readonly probability?: number;
  /** Fire only for requests whose headers pass this test (e.g. no or wrong credentials); @default any */
  readonly headers?: (headers: Readonly<Record<string, string | string[] | undefined>>) => boolean;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path with its query string, as the client sent it. */
  readonly path: string;
  /** Status the client received; 0 when the connection was reset or the cluster unreachable. */
  status: number;
  /** When the request reached the proxy (epoch ms). */
  readonly receivedAt: number;
  /** The fault that answered it, if any. */
  readonly fault?: FaultAction['kind'];
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface InjectedFault {
  /** How many requests this rule has fired on so far. */
  fired(): number;
  remove(): void;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  inject(rule: FaultRule): InjectedFault;
  /** Remove every rule. */
  clear(): void;
  /** Every request that reached the proxy, in arrival order. */
  requests(): readonly ProxiedRequest[];
  /** The requests that could change data or cluster state (see `isWriteRequest`). */
  writeRequests(): readonly ProxiedRequest[];
  /** Forget the request log. */
  resetLog(): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Base URL of the real cluster, e.g. http://127.0.0.1:9200 */
  readonly target: string;
  /** Port to listen on; @default a free port */
  readonly port?: number;
  /** Address to listen on (and to name in `url`); @default 127.0.0.1 */
  readonly host?: string;
  /** Random source for `probability`; @default Math.random */
  readonly random?: () => number;
}

const SEARCH_READ_SUFFIXES = ['/_search', '/_count', '/_mget', '/_msearch', '/_field_caps', '/_validate/query', '/_explain'];

/**
 * True for requests that can write documents or change the cluster: every method but GET and HEAD,
 * except the read APIs sent with POST (search, scroll, count, mget, ...) and clearing a scroll.
 */
export function isWriteRequest(method: string, path: string): boolean {
  const verb = method.toUpperCase();
  if (verb === 'GET' || verb === 'HEAD') return false;
  const pathname = path.split('?')[0]!.replace(/\/+$/, '');
  // Continuing or clearing a scroll (DELETE) reads nothing new and writes nothing.
  if (pathname.startsWith('/_search/scroll')) return false;
  if (verb === 'POST' && SEARCH_READ_SUFFIXES.some((s) => pathname.endsWith(s) || pathname.includes(`${s}/`))) {
    return false;
  }
  return true;
}

/** Error bodies exactly as the servers send them, for `status` faults. */
export const serverErrors = {
  /** 429: a full thread pool queue (Elasticsearch names it es_rejected_execution_exception). */
  rejected(type = 'es_rejected_execution_exception'): { kind: 'status'; status: number; body: unknown } {
    const reason =
      'rejected execution of org.elasticsearch.transport.TransportService$7@1f2e3d4c on ' +
      'EsThreadPoolExecutor[name = node/search, queue capacity = 1000, active threads = 13, queued tasks = 1000]';
    return {
      kind: 'status',
      status: 429,
      body: { error: { root_cause: [{ type, reason }], type, reason }, status: 429 },
    };
  },
  /** 503: no shard or master available. */
  unavailable(): { kind: 'status'; status: number; body: unknown } {
    const cause = { type: 'cluster_block_exception', reason: 'blocked by: [SERVICE_UNAVAILABLE/2/no master];' };
    return { kind: 'status', status: 503, body: { error: { root_cause: [cause], ...cause }, status: 503 } };
  },
  /** 401: what a cluster with security on answers a request without valid credentials. */
  unauthorized(path = '/'): { kind: 'status'; status: number; body: unknown } {
    const cause = {
      type: 'security_exception',
      reason: `missing authentication credentials for REST request [${path}]`,
      header: { 'WWW-Authenticate': 'Basic realm="security" charset="UTF-8"' },
    };
    return { kind: 'status', status: 401, body: { error: { root_cause: [cause], ...cause }, status: 401 } };
  },
  /** 502: what a load balancer in front of the cluster answers while a node is away. */
  badGateway(): { kind: 'status'; status: number; body: unknown } {
    return { kind: 'status', status: 502, body: { message: 'Bad Gateway' } };
  },
};

interface ActiveRule {
  readonly rule: FaultRule;
  readonly matchPath: (pathname: string) => boolean;
  fired: number;
}

function pathMatcher(pattern: string | RegExp): (pathname: string) => boolean {
  if (pattern instanceof RegExp) return (p) => pattern.test(p);
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (p) => regex.test(p);
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = options.random ?? Math.random;
  const host = options.host ?? '127.0.0.1';
  let rules: ActiveRule[] = [];
  let log: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();

  const pickFault = (method: string, pathname: string, headers: IncomingMessage['headers']): FaultAction | undefined => {
    for (const active of rules) {
      const { rule } = active;
      const methods = rule.method === undefined ? undefined : [rule.method].flat().map((m) => m.toUpperCase());
      if (methods && !methods.includes(method)) continue;
      if (!active.matchPath(pathname)) continue;
      if (rule.headers && !rule.headers(headers)) continue;
      if (rule.times !== undefined && active.fired >= rule.times) continue;
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      active.fired += 1;
      return rule.action;
    }
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest) => {
    const upstream = httpRequest(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (up) => {
        entry.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      entry.status = 502;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `fault proxy: cluster unreachable: ${err.message}` }));
      } else {
        res.destroy(err);
      }
    });
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.url ?? '/';
    const pathname = path.split('?')[0]!;
    const fault = pickFault(method, pathname, req.headers);
    const entry: ProxiedRequest = { method, path, status: 0, receivedAt: Date.now(), headers: req.headers, ...(fault ? { fault: fault.kind } : {}) };
    log.push(entry);
    if (!fault) return forward(req, res, entry);
    switch (fault.kind) {
      case 'status': {
        req.resume();
        entry.status = fault.status;
        const body = fault.body === undefined ? '' : JSON.stringify(fault.body);
        res.writeHead(fault.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case 'delay':
        setTimeout(() => forward(req, res, entry), fault.ms);
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'rewrite': {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const changed = fault.rewrite({ method, path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
          const headers: Record<string, string | string[] | undefined> = { ...changed.headers, host: target.host, 'content-length': String(Buffer.byteLength(changed.body)) };
          delete headers['transfer-encoding'];
          const upstream = httpRequest(
            { protocol: target.protocol, hostname: target.hostname, port: target.port, method: changed.method, path: changed.path, headers },
            (up) => {
              entry.status = up.statusCode ?? 0;
              res.writeHead(up.statusCode ?? 502, up.headers);
              up.pipe(res);
            },
          );
          upstream.on('error', (err) => {
            entry.status = 502;
            if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: `fault proxy: cluster unreachable: ${err.message}` }));
          });
          upstream.end(changed.body);
        });
        return;
      }
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://${host}:${port}`,
    port,
    inject(rule) {
      const active: ActiveRule = { rule, matchPath: pathMatcher(rule.path), fired: 0 };
      rules.push(active);
      return {
        fired: () => active.fired,
        remove: () => {
          rules = rules.filter((r) => r !== active);
        },
      };
    },
    clear() {
      rules = [];
    },
    requests: () => [...log],
    writeRequests: () => log.filter((r) => isWriteRequest(r.method, r.path)),
    resetLog() {
      log = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
