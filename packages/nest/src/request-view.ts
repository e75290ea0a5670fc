import {
  NodeRequestView,
  type NodeRequestLike,
  type RequestView,
} from '@tokenwarden/core/internal';

/**
 * The fields of an Express or Fastify request that Tokenwarden reads. Express requests are Node
 * `IncomingMessage`s themselves; Fastify wraps one in `raw`.
 */
export interface HttpRequestLike {
  readonly method?: string;
  /** Fastify: the raw request target. Express: the target relative to the router mount. */
  readonly url?: string;
  /** Express: the request target as received. */
  readonly originalUrl?: string;
  readonly headers?: NodeRequestLike['headers'];
  readonly rawHeaders?: NodeRequestLike['rawHeaders'];
  /** Fastify: the Node request. */
  readonly raw?: Partial<NodeRequestLike> & { readonly method?: string; readonly url?: string };
  /** Express: the matched route. */
  readonly route?: { readonly path?: unknown };
  /** Express: the mount path of the router that matched. */
  readonly baseUrl?: string;
  /** Fastify 4.10+: the matched route options. */
  readonly routeOptions?: { readonly url?: string };
  readonly params?: unknown;
  readonly ip?: string;
  /** Set by cookie-parser or @fastify/cookie, when installed. */
  readonly cookies?: unknown;
}

function nodeRequest(request: HttpRequestLike): NodeRequestLike {
  const raw = request.raw;
  if (raw?.headers && raw.rawHeaders) return raw as NodeRequestLike;
  // Express: the request is the Node request.
  if (request.headers && request.rawHeaders) return request as NodeRequestLike;
  return { headers: request.headers ?? {}, rawHeaders: request.rawHeaders ?? [] };
}

function stringField(record: unknown, name: string): string | undefined {
  if (record === null || typeof record !== 'object') return undefined;
  const value: unknown = (record as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The core's view of an Express or Fastify request. A class, so a request costs one small object
 * and no closures; `route`, `param` and `ip` are read when asked (the address only when an audit
 * event is written: resolving it walks the proxy settings).
 */
class NestRequestView extends NodeRequestView {
  private readonly request: HttpRequestLike;

  constructor(request: HttpRequestLike) {
    const url = request.originalUrl ?? request.raw?.url ?? request.url ?? '/';
    const query = url.indexOf('?');
    super(
      nodeRequest(request),
      (request.method ?? request.raw?.method ?? 'GET').toUpperCase(),
      query === -1 ? url : url.slice(0, query),
      url,
    );
    this.request = request;
  }

  get route(): string | undefined {
    const request = this.request;
    if (request.routeOptions?.url !== undefined) return request.routeOptions.url;
    const path = request.route?.path;
    return typeof path === 'string' ? (request.baseUrl ?? '') + path : undefined;
  }

  cookie(name: string): string | undefined {
    return stringField(this.request.cookies, name);
  }

  param(name: string): string | undefined {
    return stringField(this.request.params, name);
  }

  get ip(): string | undefined {
    return this.request.ip;
  }
}

/**
 * Builds the core's {@link RequestView} from an Express or Fastify request, as Nest hands it to
 * guards. Raw headers come from the Node request, so repeated `Authorization` headers are seen.
 */
export function requestViewOf(request: HttpRequestLike): RequestView {
  return new NestRequestView(request);
}
