import type { NextFunction as Next, Request, RequestHandler, Response } from 'express';
import { createWarden, standaloneSteps, Warden, withRouteSteps } from '@tokenwarden/core/internal';
import { decisionOf, routeStepNow, settleNowOrLater } from '@tokenwarden/core/internal';
import { denyHandler, ON_DENY, TokenwardenDenial, writeDenial } from '@tokenwarden/core/internal';
import { answerTokenRequest, jwksAnswer, metricsAnswer } from '@tokenwarden/core/internal';
import { healthAnswer, NodeRequestView, stringIn } from '@tokenwarden/core/internal';
import type { ACCESS, Access, Decision, DenyDecision, JwkSet } from '@tokenwarden/core/internal';
import type { HandlerAnswer, Principal, Requirement, RouteSteps } from '@tokenwarden/core/internal';
import type { TokenEndpoint, WardenMiddleware, WardenOptions } from '@tokenwarden/core/internal';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified caller, set by Tokenwarden; absent on public routes called without a token. */
      auth?: Principal;
    }
  }
}

/** Answers a denial instead of Tokenwarden (`onDeny`): respond, or call `next(err)`. */
export type DenyHandler = (decision: DenyDecision, req: Request, res: Response, next: Next) => void;
type WithAccess = Request & { [ACCESS]?: Access; [ON_DENY]?: DenyHandler; cookies?: unknown };

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export type TokenwardenMiddleware = WardenMiddleware<RequestHandler>;

/** Settings of the Express middleware itself (the warden's are its first argument). */
export interface MiddlewareOptions {
  /**
   * What a denial does here and in the route steps below: `'respond'` writes it at once; `'next'`
   * calls `next(err)` with a `TokenwardenDenial` (status, code, headers, body) for your error
   * handler; a function answers it itself. Default: `'respond'`.
   */
  readonly onDeny?: 'respond' | 'next' | DenyHandler;
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
    return stringIn(this.node.cookies, name);
  }
  param(name: string): string | undefined {
    return stringIn(this.node.params, name);
  }
  // Read only when an audit event is written: resolving it walks the proxy settings.
  get ip(): string | undefined {
    return this.node.ip;
  }
}

/** A route step that adds `requirement` to the request's access (or runs the whole check). */
function guard(requirement: Requirement, warden: Warden | undefined): RequestHandler {
  return function tokenwardenGuard(req: WithAccess, _res: Response, next: Next) {
    const pending = routeStepNow(req, warden, requirement, ExpressView);
    settleNowOrLater(pending, settle, warden, req, next, next);
  };
}

/** Answers a denial, or lets the request on with the caller in `req.auth` and its headers set. */
function settle(step: Access | Decision, warden: Warden | undefined, req: WithAccess, next: Next) {
  const res = req.res!;
  const decision = decisionOf(step, warden, res, req);
  if (decision.outcome === 'deny') return (req[ON_DENY] ?? respond)(decision, req, res, next);
  req.auth = decision.principal;
  const headers = decision.headers;
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
  next();
}

const respond: DenyHandler = (decision, _req, res) => writeDenial(res, decision);
const toNext: DenyHandler = (decision, _req, _res, next) => next(new TokenwardenDenial(decision));

/**
 * Protects every route below it: each request needs a valid, unrevoked token (except
 * `publicPaths`, or none at all with `credentialsRequired: false`). Add route steps for scopes,
 * claims, consent or another lawful basis.
 *
 * @example
 * const tw = tokenwarden({ jwt, purposes: ['marketing'] }, { onDeny: 'next' });
 * app.use(tw);
 * app.get('/orders', requireScopes('orders:read'), handler);
 */
export function tokenwarden(
  options: WardenOptions | Warden,
  settings: MiddlewareOptions = {},
): TokenwardenMiddleware {
  const warden = options instanceof Warden ? options : createWarden(options);
  const onDeny = denyHandler(warden, settings.onDeny, { next: toNext });
  const middleware = function tokenwardenMiddleware(req: WithAccess, _res: Response, next: Next) {
    if (onDeny !== undefined) req[ON_DENY] = onDeny;
    settleNowOrLater(warden.beginNow(new ExpressView(req)), settle, warden, req, next, next);
  };
  return withRouteSteps<RequestHandler>(middleware, warden, guard, metricsHandler, healthHandler);
}

/** Route steps for routers below `app.use(tw)`, checked against the wardens at start-up. */
type Steps = RouteSteps<RequestHandler>;
const standalone: Steps = standaloneSteps(guard);
export const requireScopes: Steps['requireScopes'] = standalone.requireScopes;
export const requireAnyScope: Steps['requireAnyScope'] = standalone.requireAnyScope;
export const requireConsent: Steps['requireConsent'] = standalone.requireConsent;
export const lawfulBasis: Steps['lawfulBasis'] = standalone.lawfulBasis;
export const requireDpop: Steps['requireDpop'] = standalone.requireDpop;
export const claimEquals: Steps['claimEquals'] = standalone.claimEquals;
export const claimIncludes: Steps['claimIncludes'] = standalone.claimIncludes;
export const claimCheck: Steps['claimCheck'] = standalone.claimCheck;

/** Serves `warden`'s Prometheus metrics (a generic 500 if rendering fails, never a stack trace). */
export function metricsHandler(warden: Warden): RequestHandler {
  return (_req, res) => void metricsAnswer(warden.metrics).then((answer) => send(res, answer));
}

/** Readiness probe: 200 `{ status: 'ok' }`, or 503 with a reason code (see `warden.ready()`). */
export function healthHandler(warden: Warden): RequestHandler {
  return (_req, res) => void healthAnswer(warden).then((answer) => send(res, answer));
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

export { checkPolicyDrift, gracefulShutdown, type Principal } from '@tokenwarden/core';
export { secretScanningHandler, type SecretScanningOptions } from './secret-scanning';
