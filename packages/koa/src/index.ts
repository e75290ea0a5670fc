import type { Context, Middleware, Next } from 'koa';
import { createWarden, standaloneSteps, Warden, withRouteSteps } from '@tokenwarden/core/internal';
import { decisionOf, routeStepNow, settleNowOrLater } from '@tokenwarden/core/internal';
import { denyHandler, ON_DENY, throwDenial } from '@tokenwarden/core/internal';
import { answerTokenRequest, jwksAnswer, metricsAnswer } from '@tokenwarden/core/internal';
import { healthAnswer, NodeRequestView, stringIn } from '@tokenwarden/core/internal';
import type { ACCESS, Access, Decision, DenyDecision, Principal } from '@tokenwarden/core/internal';
import type { HandlerAnswer, JwkSet, Requirement, TokenEndpoint } from '@tokenwarden/core/internal';
import type { ParsedTokenBody, WardenMiddleware, WardenOptions } from '@tokenwarden/core/internal';

/**
 * What Tokenwarden puts in `ctx.state`. Apps on Koa's default state need nothing (see below);
 * apps that type their own state include it: `new Koa<MyState & TokenwardenState>()`.
 */
export interface TokenwardenState {
  /** The verified caller; absent on public routes called without a token. */
  auth?: Principal;
}

declare module 'koa' {
  // Typed `ctx.state.auth` for apps on Koa's default state, with no declaration of their own.
  interface DefaultState {
    /** The verified caller, set by Tokenwarden; absent on public routes called without a token. */
    auth?: Principal;
  }
}

/** Answers a denial instead of Tokenwarden (`onDeny`), e.g. with `ctx.throw`. */
export type DenyHandler = (decision: DenyDecision, ctx: Context) => void;
type WithAccess = Context & { [ACCESS]?: Access; [ON_DENY]?: DenyHandler };
/** What @koa/router leaves on the context; read only after routing, hence `unknown`. */
type Routed = { _matchedRoute?: unknown; routerPath?: unknown; params?: unknown };

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export type TokenwardenMiddleware = WardenMiddleware<Middleware>;

/** Settings of the Koa middleware itself (the warden's are its first argument). */
export interface MiddlewareOptions {
  /**
   * What a denial does here and in the route steps below: `'respond'` sets it as the response;
   * `'throw'` throws a `TokenwardenDenial` (status, code, headers, body, `expose`) into Koa's
   * error handling; a function answers it itself. Default: `'respond'`.
   */
  readonly onDeny?: 'respond' | 'throw' | DenyHandler;
}

/** The request as the core reads it; `route`, `param` and `ip` are read after routing, if asked. */
class KoaView extends NodeRequestView {
  constructor(private readonly ctx: Context) {
    super(ctx.req, ctx.method, ctx.path, ctx.originalUrl);
  }
  get route(): string | undefined {
    const route = (this.ctx as Routed)._matchedRoute ?? (this.ctx as Routed).routerPath;
    return typeof route === 'string' || route instanceof RegExp ? String(route) : undefined;
  }
  // The raw cookie, like cookie-parser's `req.cookies` in Express: never signature-checked.
  cookie(name: string): string | undefined {
    return this.ctx.cookies.get(name, { signed: false });
  }
  param(name: string): string | undefined {
    return stringIn((this.ctx as Routed).params, name);
  }
  get ip(): string | undefined {
    return this.ctx.ip;
  }
}

/** Answers a denial as is, or lets the request on with the caller in `ctx.state.auth`. */
function settle(step: Access | Decision, warden: Warden | undefined, ctx: WithAccess, next: Next) {
  const decision = decisionOf(step, warden, ctx.res, ctx);
  if (decision.outcome === 'deny' && ctx[ON_DENY]) return ctx[ON_DENY](decision, ctx);
  if (decision.headers !== undefined) ctx.set(decision.headers);
  if (decision.outcome === 'allow') {
    ctx.state.auth = decision.principal;
    return next();
  }
  ctx.status = decision.status;
  // A string body keeps the problem+json type set above on Koa 2 too (an object becomes JSON).
  ctx.body = JSON.stringify(decision.body);
  return undefined;
}

/** A route step that adds `requirement` to the request's access (or runs the whole check). */
function guard(requirement: Requirement, warden: Warden | undefined): Middleware {
  return function tokenwardenGuard(ctx: WithAccess, next: Next) {
    const pending = routeStepNow(ctx, warden, requirement, KoaView);
    return settleNowOrLater(pending, settle, warden, ctx, next);
  };
}

/**
 * Protects every route below it: each request needs a valid, unrevoked token (except
 * `publicPaths`). Add route steps for scopes, consent or another lawful basis.
 * @example
 * const tw = tokenwarden({ jwt, purposes: ['marketing'] });
 * router.get('/orders', requireScopes('orders:read'), (ctx) => (ctx.body = list(ctx.state.auth)));
 * app.use(tw).use(router.routes());
 */
export function tokenwarden(
  options: WardenOptions | Warden,
  settings: MiddlewareOptions = {},
): TokenwardenMiddleware {
  const warden = options instanceof Warden ? options : createWarden(options);
  const onDeny = denyHandler(warden, settings.onDeny, { throw: throwDenial });
  const middleware = function tokenwardenMiddleware(ctx: WithAccess, next: Next) {
    if (onDeny !== undefined) ctx[ON_DENY] = onDeny;
    return settleNowOrLater(warden.beginNow(new KoaView(ctx)), settle, warden, ctx, next);
  };
  return withRouteSteps<Middleware>(middleware, warden, guard, metricsHandler, healthHandler);
}

/** Route steps for routers below `app.use(tw)`, checked against the wardens at start-up. */
const standalone = standaloneSteps<Middleware>(guard);
export const { requireScopes, requireAnyScope, requireConsent, lawfulBasis } = standalone;
export const { requireDpop, claimEquals, claimIncludes, claimCheck } = standalone;

/** Serves `warden`'s Prometheus metrics (a generic 500 if rendering fails). Mount it above `tw`. */
export function metricsHandler(warden: Warden): Middleware {
  return async (ctx: Context) => send(ctx, await metricsAnswer(warden.metrics));
}

/** Readiness probe: 200 `{ status: 'ok' }`, or 503 with a reason code. Mount it above `tw`. */
export function healthHandler(warden: Warden): Middleware {
  return async (ctx: Context) => send(ctx, await healthAnswer(warden));
}

function send(ctx: Context, answer: HandlerAnswer): void {
  ctx.status = answer.status;
  ctx.set(answer.headers);
  ctx.body = answer.body;
}

/**
 * Serves core's `TokenEndpoint` on a router above `app.use(tw)`, with or without a body parser
 * (@koa/bodyparser; core's `answerTokenRequest`: 8 KiB at most, form or JSON, no repeated params).
 * @example
 * open.post('/oauth/token', tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets })));
 */
export function tokenEndpoint(endpoint: TokenEndpoint): Middleware {
  return async function tokenwardenTokenEndpoint(ctx: Context) {
    send(ctx, await answerTokenRequest(endpoint, ctx.req, ctx.request as ParsedTokenBody));
  };
}

/** Serves public keys as a JWKS: `open.get('/.well-known/jwks.json', jwksHandler(ring))`. */
export function jwksHandler(source: { jwks(): JwkSet }): Middleware {
  return (ctx) => send(ctx, jwksAnswer(source));
}

export * from './extras';
