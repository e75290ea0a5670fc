import type { Context, Middleware, Next } from 'koa';
import {
  createWarden,
  headerValuesOf,
  Warden,
  type Access,
  type AllowDecision,
  type Decision,
  type DenyDecision,
  type Principal,
  routeSteps,
  type RequestView,
  type RouteSteps,
  type Requirement,
  type WardenOptions,
} from '@tokenwarden/core';

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

const ACCESS = Symbol.for('tokenwarden.access');
type WithAccess = Context & { [ACCESS]?: Access };

/** What @koa/router leaves on the context; read only after routing, hence `unknown`. */
interface Routed {
  readonly _matchedRoute?: unknown;
  readonly routerPath?: unknown;
  readonly params?: unknown;
}

/** The middleware `tokenwarden()` returns, with route helpers bound to its warden. */
export interface TokenwardenMiddleware extends Middleware, RouteSteps<Middleware> {
  /** The warden: revoke tokens, record consent, read metrics. */
  readonly warden: Warden;
  /** Serves the Prometheus metrics of this warden. */
  metricsHandler(): Middleware;
}

/**
 * The request as the core reads it. `route`, `param` and `ip` are read when asked, after routing.
 * A class, so a request costs one small object and no closures.
 */
class KoaView implements RequestView {
  readonly method: string;
  readonly path: string;
  readonly url: string;

  constructor(private readonly ctx: Context) {
    this.method = ctx.method;
    this.path = ctx.path;
    this.url = ctx.originalUrl;
  }

  get route(): string | undefined {
    const routed = this.ctx as Routed;
    const route = routed._matchedRoute ?? routed.routerPath;
    return typeof route === 'string' || route instanceof RegExp ? String(route) : undefined;
  }

  headerValues(name: string): readonly string[] | undefined {
    return headerValuesOf(this.ctx.req, name);
  }

  // The raw cookie, like cookie-parser's `req.cookies` in Express: never signature-checked.
  cookie(name: string): string | undefined {
    return this.ctx.cookies.get(name, { signed: false });
  }

  param(name: string): string | undefined {
    const params = (this.ctx as Routed).params as Readonly<Record<string, unknown>> | undefined;
    const value = params?.[name];
    return typeof value === 'string' ? value : undefined;
  }

  // Read only when an audit event is written.
  get ip(): string | undefined {
    return this.ctx.ip;
  }
}

/** Writes a denial as is: status, headers (RFC 6750, problem+json) and the problem body. */
function writeDenial(ctx: Context, decision: DenyDecision): void {
  ctx.status = decision.status;
  ctx.set(decision.headers);
  // A string body keeps the problem+json type set above on Koa 2 too (an object becomes JSON).
  ctx.body = JSON.stringify(decision.body);
}

/**
 * Runs the pipeline and answers a denial, or adopts the access for the rest of the chain. The
 * decision is recorded once, with the status the client got (as in the Express adapter). Warm
 * requests are decided without a promise.
 */
function enforce(warden: Warden, ctx: WithAccess, next: Next, requirement?: Requirement) {
  const pending = warden.beginNow(new KoaView(ctx), requirement);
  return pending instanceof Promise
    ? pending.then((access) => adopt(warden, ctx, next, access))
    : adopt(warden, ctx, next, pending);
}

function adopt(warden: Warden, ctx: WithAccess, next: Next, access: Access) {
  warden.track(ctx.res, access);
  const decision = access.decision;
  if (decision.outcome === 'deny') return writeDenial(ctx, decision);
  ctx[ACCESS] = access;
  return proceed(ctx, decision, next);
}

/** Answers a route step's denial, or lets the request on. */
function conclude(ctx: WithAccess, decision: Decision, next: Next) {
  if (decision.outcome === 'deny') return writeDenial(ctx, decision);
  return proceed(ctx, decision, next);
}

/** Lets an allowed request on: the caller in `ctx.state.auth`, the decision's headers set. */
function proceed(ctx: WithAccess, decision: AllowDecision, next: Next) {
  ctx.state.auth = decision.principal;
  if (decision.headers !== undefined) ctx.set(decision.headers);
  return next();
}

/** A route step that adds `requirement` to the request's access (or runs the whole check). */
function guard(requirement: Requirement, warden: Warden | undefined): Middleware {
  warden?.requirement(requirement);
  return function tokenwardenGuard(ctx: WithAccess, next: Next) {
    const adopted = ctx[ACCESS];
    if (adopted) {
      const decision = adopted.authorizeNow(requirement);
      return decision instanceof Promise
        ? decision.then((d) => conclude(ctx, d, next))
        : conclude(ctx, decision, next);
    }
    if (!warden) {
      throw new Error(
        'Tokenwarden route steps need app.use(tokenwarden(options)) before the router, or use the steps of the middleware (tw.requireScopes)',
      );
    }
    return enforce(warden, ctx, next, requirement);
  };
}

/**
 * Protects every route below it: each request needs a valid, unrevoked token (except
 * `publicPaths`). Add route steps for scopes, consent or another lawful basis; the caller is in
 * `ctx.state.auth`.
 *
 * @example
 * const tw = tokenwarden({ jwt, purposes: ['marketing'] });
 * const router = new Router();
 * router.get('/orders', requireScopes('orders:read'), (ctx) => {
 *   ctx.body = listOrders(ctx.state.auth?.subject);
 * });
 * app.use(tw);
 * app.use(router.routes());
 */
export function tokenwarden(options: WardenOptions | Warden): TokenwardenMiddleware {
  const warden = options instanceof Warden ? options : createWarden(options);
  const middleware = function tokenwardenMiddleware(ctx: WithAccess, next: Next) {
    return enforce(warden, ctx, next);
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
export const { requireScopes, requireConsent, lawfulBasis, requireDpop } = routeSteps<Middleware>(
  (requirement) => guard(requirement, undefined),
);

/** Serves `warden`'s Prometheus metrics. Mount it before `app.use(tokenwarden(...))` or protect it. */
export function metricsHandler(warden: Warden): Middleware {
  return async function tokenwardenMetrics(ctx: Context) {
    const text = await warden.metrics.render();
    ctx.set('content-type', warden.metrics.contentType);
    ctx.body = text;
  };
}

export type { Principal } from '@tokenwarden/core';
export { jwksHandler, tokenEndpoint } from './token-endpoint';
