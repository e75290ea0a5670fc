import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  createWarden,
  headerValuesOf,
  Warden,
  writeDenial,
  type Access,
  type Decision,
  type Principal,
  routeSteps,
  type RequestView,
  type RouteSteps,
  type Requirement,
  type WardenOptions,
} from '@tokenwarden/core';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified caller, set by Tokenwarden; absent on public routes called without a token. */
      auth?: Principal;
    }
  }
}

const ACCESS = Symbol.for('tokenwarden.access');
type WithAccess = Request & { [ACCESS]?: Access };

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export interface TokenwardenMiddleware extends RequestHandler, RouteSteps<RequestHandler> {
  /** The warden: revoke tokens, record consent, read metrics. */
  readonly warden: Warden;
  /** Serves the Prometheus metrics of this warden. */
  metricsHandler(): RequestHandler;
}

/**
 * The request as the core reads it. `route`, `param` and `ip` are read when asked, after routing.
 * A class, so a request costs one small object and no closures.
 */
class ExpressView implements RequestView {
  readonly method: string;
  readonly path: string;
  readonly url: string;

  constructor(private readonly req: Request) {
    this.method = req.method;
    this.path = req.path;
    this.url = req.originalUrl;
  }

  get route(): string | undefined {
    const req = this.req;
    return req.route ? req.baseUrl + String(req.route.path) : undefined;
  }

  headerValues(name: string): readonly string[] | undefined {
    return headerValuesOf(this.req, name);
  }

  cookie(name: string): string | undefined {
    return (this.req as Request & { cookies?: Record<string, string> }).cookies?.[name];
  }

  param(name: string): string | undefined {
    const value: unknown = this.req.params?.[name];
    return typeof value === 'string' ? value : undefined;
  }

  // Read only when an audit event is written: resolving it walks the proxy settings.
  get ip(): string | undefined {
    return this.req.ip;
  }
}

/** A route step that adds `requirement` to the request's access (or runs the whole check). */
function guard(requirement: Requirement, warden: Warden | undefined): RequestHandler {
  warden?.requirement(requirement);
  return function tokenwardenGuard(req: WithAccess, res: Response, next: NextFunction) {
    const access = req[ACCESS];
    if (!access && !warden) {
      return next(
        new Error(
          'Tokenwarden route steps need app.use(tokenwarden(options)) before the route, or use the steps of the middleware (tw.requireScopes)',
        ),
      );
    }
    let pending: Decision | Access | Promise<Decision | Access>;
    try {
      pending = access
        ? access.authorizeNow(requirement)
        : warden!.beginNow(new ExpressView(req), requirement);
    } catch (error) {
      return next(error);
    }
    conclude(pending, warden, req, res, next);
  };
}

/** Settles the request now, or when the pipeline's I/O is done (warm requests never wait). */
function conclude(
  pending: Decision | Access | Promise<Decision | Access>,
  warden: Warden | undefined,
  req: WithAccess,
  res: Response,
  next: NextFunction,
): void {
  if (pending instanceof Promise) {
    pending.then((result) => settle(warden, req, res, next, result), next);
  } else {
    settle(warden, req, res, next, pending);
  }
}

/**
 * Answers a denial, or lets the request on with the caller in `req.auth` and the decision's
 * headers set. A fresh access (from the middleware, or a step without it) is tied to the response
 * first: one audit event per request, with the status actually sent.
 */
function settle(
  warden: Warden | undefined,
  req: WithAccess,
  res: Response,
  next: NextFunction,
  result: Decision | Access,
): void {
  let decision: Decision;
  try {
    if ('outcome' in result) {
      decision = result;
    } else {
      warden!.track(res, result);
      decision = result.decision;
      if (decision.outcome === 'allow') req[ACCESS] = result;
    }
    if (decision.outcome === 'deny') return writeDenial(res, decision);
    req.auth = decision.principal;
    const headers = decision.headers;
    if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
  } catch (error) {
    return next(error);
  }
  next();
}

/**
 * Protects every route below it: each request needs a valid, unrevoked token (except
 * `publicPaths`). Add route steps for scopes, consent or another lawful basis.
 *
 * @example
 * const tw = tokenwarden({ jwt, purposes: ['marketing'] });
 * app.use(tw);
 * app.get('/orders', requireScopes('orders:read'), handler);
 */
export function tokenwarden(options: WardenOptions | Warden): TokenwardenMiddleware {
  const warden = options instanceof Warden ? options : createWarden(options);
  const middleware = function tokenwardenMiddleware(
    req: WithAccess,
    res: Response,
    next: NextFunction,
  ) {
    let pending: Access | Promise<Access>;
    try {
      pending = warden.beginNow(new ExpressView(req));
    } catch (error) {
      return next(error);
    }
    conclude(pending, warden, req, res, next);
  };
  return Object.assign(middleware, {
    warden,
    ...routeSteps((requirement) => guard(requirement, warden)),
    metricsHandler: () => metricsHandler(warden),
  });
}

/**
 * Standalone route steps for routers below `app.use(tokenwarden(...))`: they add to the request's
 * access. Purposes are validated on first use; the middleware's own steps validate at start-up.
 */
const standalone: RouteSteps<RequestHandler> = routeSteps((r) => guard(r, undefined));
export const requireScopes: RouteSteps<RequestHandler>['requireScopes'] = standalone.requireScopes;
export const requireConsent: RouteSteps<RequestHandler>['requireConsent'] =
  standalone.requireConsent;
export const lawfulBasis: RouteSteps<RequestHandler>['lawfulBasis'] = standalone.lawfulBasis;
export const requireDpop: RouteSteps<RequestHandler>['requireDpop'] = standalone.requireDpop;

/** Serves `warden`'s Prometheus metrics. Mount it before `app.use(tokenwarden(...))` or protect it. */
export function metricsHandler(warden: Warden): RequestHandler {
  return async function tokenwardenMetrics(_req: Request, res: Response, next: NextFunction) {
    try {
      const text = await warden.metrics.render();
      res.setHeader('content-type', warden.metrics.contentType);
      res.end(text);
    } catch (error) {
      next(error);
    }
  };
}

export type { Principal } from '@tokenwarden/core';
export { jwksHandler, tokenEndpoint } from './token-endpoint';
