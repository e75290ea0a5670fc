import type { Context, Middleware, Next } from 'koa';
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
  type Access,
  type Decision,
  type JwkSet,
  type Principal,
  type Requirement,
  type RouteSteps,
  type TokenEndpoint,
  type HandlerAnswer,
  type ParsedTokenBody,
  type WardenOptions,
} from '@tokenwarden/core/internal';

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

type WithAccess = Context & { [ACCESS]?: Access };
/** What @koa/router leaves on the context; read only after routing, hence `unknown`. */
type Routed = { _matchedRoute?: unknown; routerPath?: unknown; params?: Record<string, unknown> };

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export interface TokenwardenMiddleware extends Middleware, RouteSteps<Middleware> {
  /** The warden: revoke tokens, record consent, read metrics. */
  readonly warden: Warden;
  /** Serves the Prometheus metrics of this warden. */
  metricsHandler(): Middleware;
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
    const value = (this.ctx as Routed).params?.[name];
    return typeof value === 'string' ? value : undefined;
  }
  get ip(): string | undefined {
    return this.ctx.ip;
  }
}

/** Answers a denial as is, or lets the request on with the caller in `ctx.state.auth`. */
function settle(step: Access | Decision, warden: Warden | undefined, ctx: WithAccess, next: Next) {
  const decision = decisionOf(step, warden, ctx.res, ctx);
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
  warden?.requirement(requirement);
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
export function tokenwarden(options: WardenOptions | Warden): TokenwardenMiddleware {
  const warden = options instanceof Warden ? options : createWarden(options);
  const middleware = function tokenwardenMiddleware(ctx: WithAccess, next: Next) {
    return settleNowOrLater(warden.beginNow(new KoaView(ctx)), settle, warden, ctx, next);
  };
  return withRouteSteps(middleware, warden, guard, metricsHandler);
}

/** Route steps for routers below `app.use(tw)`; they validate purposes on first use. */
const standalone = routeSteps<Middleware>((requirement) => guard(requirement, undefined));
export const { requireScopes, requireConsent, lawfulBasis, requireDpop } = standalone;

/** Serves `warden`'s Prometheus metrics (a generic 500 if rendering fails). Mount it above `tw`. */
export function metricsHandler(warden: Warden): Middleware {
  return async (ctx: Context) => send(ctx, await metricsAnswer(warden.metrics));
}

function send(ctx: Context, answer: HandlerAnswer): void {
  ctx.status = answer.status;
  ctx.set(answer.headers);
  ctx.body = answer.body;
}

/**
 * Serves core's `TokenEndpoint` on a router above `app.use(tw)`, the same with or without a body
 * parser (core's `answerTokenRequest`: 8 KiB at most, form or JSON only, no repeated parameters).
 * @example
 * open.post('/oauth/token', tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets })));
 */
export function tokenEndpoint(endpoint: TokenEndpoint): Middleware {
  return async function tokenwardenTokenEndpoint(ctx: Context) {
    // `body`/`rawBody` exist only when a body parser (e.g. @koa/bodyparser) set them.
    send(ctx, await answerTokenRequest(endpoint, ctx.req, ctx.request as ParsedTokenBody));
  };
}

/** Serves public keys as a JWKS: `open.get('/.well-known/jwks.json', jwksHandler(ring))`. */
export function jwksHandler(source: { jwks(): JwkSet }): Middleware {
  return (ctx) => send(ctx, jwksAnswer(source));
}

export type { Principal } from '@tokenwarden/core';
