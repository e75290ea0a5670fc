import type { Requirement } from './requirement';
import { stepRequirementOf } from './step-tag';

/** A route of the application, as its framework registered it. */
export interface CodeRoute {
  /** Upper-case method, or `*` for every method (`app.all`). */
  readonly method: string;
  /** The path template, parameters as `:name`. */
  readonly path: string;
  /** The requirements of the Tokenwarden route steps (or decorators) on the route, in order. */
  readonly requirements: readonly Requirement[];
  /** Whether Tokenwarden checks the route's requests (it is below the middleware, or guarded). */
  readonly guarded: boolean;
}

/** Lists an application's routes, or answers `undefined` when `app` is not of its framework. */
export type RouteWalker = (app: unknown) => CodeRoute[] | undefined;

// Kept on the global object under a registered symbol, so every copy of core (ESM and CJS, or
// one per package) shares one list: `tokenwarden policy check --app` finds the walker of the
// framework the application uses.
const WALKERS = Symbol.for('tokenwarden.routeWalkers');

function walkers(): Map<string, RouteWalker> {
  const holder = globalThis as { [WALKERS]?: Map<string, RouteWalker> };
  return (holder[WALKERS] ??= new Map());
}

/** Registers how to list a framework's routes (the Nest adapter does, when it loads). */
export function registerRouteWalker(framework: string, walker: RouteWalker): void {
  walkers().set(framework, walker);
}

/**
 * The routes of an application of a framework Tokenwarden knows (Express, Koa, and Nest once
 * `@tokenwarden/nest` is loaded), with the framework's name; `undefined` for anything else.
 */
export function routesOfApp(app: unknown): { framework: string; routes: CodeRoute[] } | undefined {
  for (const [framework, walker] of walkers()) {
    const routes = walker(app);
    if (routes !== undefined) return { framework, routes };
  }
  return undefined;
}

/** A Tokenwarden middleware: what `tokenwarden()` of an adapter returns carries its warden. */
function isTokenwarden(handle: unknown): boolean {
  const warden = (handle as { warden?: { beginNow?: unknown } } | null)?.warden;
  return typeof handle === 'function' && typeof warden?.beginNow === 'function';
}

/** The parts of Express's router that the walk reads (Express 5, and 4 through `_router`). */
interface ExpressLayer {
  readonly handle?: unknown;
  readonly route?: {
    readonly path: unknown;
    readonly methods: Readonly<Record<string, boolean>>;
    readonly stack: readonly { readonly method?: string; readonly handle?: unknown }[];
  };
  /** Express 5: the path a router or middleware was mounted at. */
  readonly rawPath?: unknown;
}

function expressRouter(app: unknown): { readonly stack: readonly ExpressLayer[] } | undefined {
  if (typeof app !== 'function') return undefined;
  const candidate = app as { _router?: unknown; router?: unknown; stack?: unknown };
  if (Array.isArray(candidate.stack)) return candidate as { stack: ExpressLayer[] };
  // Express 4 keeps the router in `_router` (its `app.router` throws); Express 5 in `router`.
  const router = '_router' in candidate ? candidate._router : candidate.router;
  const stack = (router as { stack?: unknown } | undefined)?.stack;
  return Array.isArray(stack) ? (router as { stack: ExpressLayer[] }) : undefined;
}

/**
 * The routes of an Express application or router, once registered: method, path template (with
 * the mount path of nested routers), the requirements of the Tokenwarden steps on each, and
 * whether a Tokenwarden middleware runs before it (or a bound step runs the whole check).
 */
export function expressRoutes(app: unknown): CodeRoute[] | undefined {
  const router = expressRouter(app);
  if (router === undefined) return undefined;
  const out: CodeRoute[] = [];
  walkExpress(router.stack, '', false, out);
  return out;
}

function walkExpress(
  stack: readonly ExpressLayer[],
  prefix: string,
  guardedAbove: boolean,
  out: CodeRoute[],
): void {
  let guarded = guardedAbove;
  for (const layer of stack) {
    const route = layer.route;
    if (route === undefined) {
      if (isTokenwarden(layer.handle)) guarded = true;
      const nested = expressRouter(layer.handle);
      if (nested !== undefined) {
        const mount =
          typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walkExpress(nested.stack, prefix + mount, guarded, out);
      }
      continue;
    }
    const methods = Object.keys(route.methods).filter((m) => route.methods[m] === true);
    // `app.all` lists every method (Express 5) or sets `_all` (Express 4).
    const all = methods.length > 10 || methods.includes('_all');
    for (const method of all ? ['*'] : methods) {
      const steps = route.stack.filter((s) => all || s.method === undefined || s.method === method);
      out.push(
        codeRoute(
          method.toUpperCase(),
          prefix + String(route.path),
          steps.map((s) => s.handle),
          guarded,
        ),
      );
    }
  }
}

function codeRoute(method: string, path: string, handlers: readonly unknown[], guarded: boolean) {
  const requirements: Requirement[] = [];
  // `app.all` repeats each handler once per method.
  for (const handler of new Set(handlers)) {
    const requirement = stepRequirementOf(handler);
    if (requirement !== undefined) requirements.push(requirement);
  }
  // A bound step above the middleware runs the whole check itself.
  const checked = guarded || requirements.length > 0 || handlers.some(isTokenwarden);
  return { method, path, requirements, guarded: checked };
}

/** The parts of an @koa/router router that the walk reads. */
interface KoaRouter {
  readonly stack: readonly {
    readonly path: unknown;
    readonly methods: readonly string[];
    readonly stack: readonly unknown[];
  }[];
}

const isKoaRouter = (value: unknown): value is KoaRouter =>
  value !== null && typeof value === 'object' && Array.isArray((value as KoaRouter).stack);

/**
 * The routes of a Koa application (its `@koa/router` routers, in the order they are used) or of
 * one router, once registered: method, path template, the requirements of the Tokenwarden steps
 * on each, and whether a Tokenwarden middleware runs before it.
 */
export function koaRoutes(app: unknown): CodeRoute[] | undefined {
  const out: CodeRoute[] = [];
  if (isKoaRouter(app)) {
    walkKoa(app, false, out);
    return out;
  }
  const koa = app as { middleware?: unknown; callback?: unknown } | null;
  if (koa === null || typeof koa !== 'object' || typeof koa.callback !== 'function')
    return undefined;
  if (!Array.isArray(koa.middleware)) return undefined;
  let guarded = false;
  for (const fn of koa.middleware as unknown[]) {
    if (isTokenwarden(fn)) guarded = true;
    const router = (fn as { router?: unknown }).router;
    if (isKoaRouter(router)) guarded = walkKoa(router, guarded, out);
  }
  return out;
}

/** Adds the router's routes; gives whether a Tokenwarden middleware was used on it. */
function walkKoa(router: KoaRouter, guardedAbove: boolean, out: CodeRoute[]): boolean {
  let guarded = guardedAbove;
  for (const layer of router.stack) {
    if (layer.methods.length === 0) {
      // router.use(...): middleware for the layers registered after it.
      if (layer.stack.some(isTokenwarden)) guarded = true;
      continue;
    }
    const methods = layer.methods.filter((m) => m !== 'HEAD' || !layer.methods.includes('GET'));
    const all = methods.length > 10;
    for (const method of all ? ['*'] : [...new Set(methods)]) {
      out.push(codeRoute(method, String(layer.path), layer.stack, guarded));
    }
  }
  return guarded;
}

registerRouteWalker('express', expressRoutes);
registerRouteWalker('koa', koaRoutes);
