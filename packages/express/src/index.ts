import type { NextFunction as Next, Request, RequestHandler, Response } from 'express';
import {
  type ACCESS,
  answerTokenRequest,
  createWarden,
  decisionOf,
  jwksAnswer,
  metricsAnswer,
  NodeRequestView,
  routeStepNow,
  routeSteps,
  settleNowOrLater,
  withRouteSteps,
  Warden,
  writeDenial,
  type Access,
  type Decision,
  type JwkSet,
  type Principal,
  type Requirement,
  type RouteSteps,
  type TokenEndpoint,
  type HandlerAnswer,
  type WardenOptions,
} from '@tokenwarden/core/internal';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified caller, set by Tokenwarden; absent on public routes called without a token. */
      auth?: Principal;
    }
  }
}

type WithAccess = Request & { [ACCESS]?: Access; cookies?: Record<string, string> };
type Step = (req: WithAccess, res: Response, next: Next) => void;

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export interface TokenwardenMiddleware extends RequestHandler, RouteSteps<RequestHandler> {
  /** The warden: revoke tokens, record consent, read metrics. */
  readonly warden: Warden;
  /** Serves the Prometheus metrics of this warden. */
  metricsHandler(): RequestHandler;
}

/** The request as the core reads it; `route`, `param` and `ip` are read after routing, if asked. */
class ExpressView extends NodeRequestView<WithAccess> {
  constructor(req: Request) {
    super(req, req.method, req.path, req.originalUrl);
  }
  get route(): string | undefined {
    return this.node.route ? this.node.baseUrl + String(this.node.route.path) : undefined;
  }
  cookie(name: string): string | undefined {
    return this.node.cookies?.[name];
  }
  param(name: string): string | undefined {
    const value: unknown = this.node.params?.[name];
    return typeof value === 'string' ? value : undefined;
  }
  // Read only when an audit event is written: resolving it walks the proxy settings.
  get ip(): string | undefined {
    return this.node.ip;
  }
}

/** A route step that adds `requirement` to the request's access (or runs the whole check). */
function guard(requirement: Requirement, warden: Warden | undefined): RequestHandler {
  warden?.requirement(requirement);
  return function tokenwardenGuard(req: WithAccess, _res: Response, next: Next) {
    const pending = routeStepNow(req, warden, requirement, ExpressView);
    settleNowOrLater(pending, settle, warden, req, next, next);
  };
}

/** Answers a denial, or lets the request on with the caller in `req.auth` and its headers set. */
function settle(step: Access | Decision, warden: Warden | undefined, req: WithAccess, next: Next) {
  const res = req.res!;
  const decision = decisionOf(step, warden, res, req);
  if (decision.outcome === 'deny') return writeDenial(res, decision);
  req.auth = decision.principal;
  const headers = decision.headers;
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
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
  const middleware: Step = function tokenwardenMiddleware(req, _res, next) {
    settleNowOrLater(warden.beginNow(new ExpressView(req)), settle, warden, req, next, next);
  };
  return withRouteSteps(middleware, warden, guard, metricsHandler);
}

/** Route steps for routers below `app.use(tw)`; they validate purposes on first use. */
type Steps = RouteSteps<RequestHandler>;
const standalone: Steps = routeSteps((requirement) => guard(requirement, undefined));
export const requireScopes: Steps['requireScopes'] = standalone.requireScopes;
export const requireConsent: Steps['requireConsent'] = standalone.requireConsent;
export const lawfulBasis: Steps['lawfulBasis'] = standalone.lawfulBasis;
export const requireDpop: Steps['requireDpop'] = standalone.requireDpop;

/** Serves `warden`'s Prometheus metrics (a generic 500 if rendering fails, never a stack trace). */
export function metricsHandler(warden: Warden): RequestHandler {
  return (_req, res) => void metricsAnswer(warden.metrics).then((answer) => send(res, answer));
}

function send(res: Response, { status, headers, body }: HandlerAnswer): void {
  res.status(status).set(headers);
  if (typeof body === 'string') res.end(body);
  else res.json(body);
}

/**
 * Serves core's `TokenEndpoint` above `app.use(tw)`, the same with or without a body parser
 * (core's `answerTokenRequest`: 8 KiB at most, form or JSON only, no repeated parameters).
 * @example
 * app.post('/oauth/token', tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets })));
 */
export function tokenEndpoint(endpoint: TokenEndpoint): RequestHandler {
  return function tokenwardenTokenEndpoint(req, res, next) {
    answerTokenRequest(endpoint, req, req).then((answer) => send(res, answer), next);
  };
}

/** Serves public keys as a JWKS: `app.get('/.well-known/jwks.json', jwksHandler(ring))`. */
export function jwksHandler(source: { jwks(): JwkSet }): RequestHandler {
  return (_req, res) => send(res, jwksAnswer(source));
}

export type { Principal } from '@tokenwarden/core';
