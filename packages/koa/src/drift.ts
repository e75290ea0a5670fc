import {
  findPolicyDrift,
  registerRouteWalker,
  reportPolicyDrift,
  stepRequirementOf,
  Warden,
  type CodeRoute,
  type DriftFinding,
  type DriftReportOptions,
  type Requirement,
} from '@tokenwarden/core/internal';
import type { Policy } from '@tokenwarden/core/policy';

/** The parts of an @koa/router layer that the walk reads. */
interface RouterLayer {
  readonly path: unknown;
  readonly methods: readonly string[];
  readonly stack: readonly unknown[];
}

interface RouterLike {
  readonly stack: readonly RouterLayer[];
}

const isRouter = (value: unknown): value is RouterLike =>
  value !== null && typeof value === 'object' && Array.isArray((value as RouterLike).stack);

/** A Tokenwarden middleware (what `tokenwarden()` returns carries its warden). */
function isTokenwarden(handle: unknown): boolean {
  return typeof handle === 'function' && (handle as { warden?: unknown }).warden instanceof Warden;
}

/**
 * The routes of a Koa application (its `@koa/router` routers, in the order they are used) or of
 * one router, after they are registered: method, path template, the requirements of the
 * Tokenwarden route steps on each, and whether a Tokenwarden middleware runs before it.
 */
export function koaRoutes(app: unknown): CodeRoute[] {
  const out: CodeRoute[] = [];
  if (isRouter(app)) {
    walk(app, false, out);
    return out;
  }
  const middleware = (app as { middleware?: unknown } | null)?.middleware;
  if (!Array.isArray(middleware))
    throw new TypeError('koaRoutes: pass a Koa application or router');
  let guarded = false;
  for (const fn of middleware) {
    if (isTokenwarden(fn)) guarded = true;
    const router = (fn as { router?: unknown }).router;
    if (isRouter(router)) guarded = walk(router, guarded, out);
  }
  return out;
}

/** Adds the router's routes; gives whether a Tokenwarden middleware was used on it. */
function walk(router: RouterLike, guardedAbove: boolean, out: CodeRoute[]): boolean {
  let guarded = guardedAbove;
  for (const layer of router.stack) {
    if (layer.methods.length === 0) {
      // router.use(...): middleware for the layers registered after it.
      if (layer.stack.some(isTokenwarden)) guarded = true;
      continue;
    }
    const requirements: Requirement[] = [];
    for (const fn of layer.stack) {
      const requirement = stepRequirementOf(fn);
      if (requirement !== undefined) requirements.push(requirement);
    }
    const methods = layer.methods.filter((m) => m !== 'HEAD' || !layer.methods.includes('GET'));
    const all = methods.length > 10;
    for (const method of all ? ['*'] : [...new Set(methods)]) {
      out.push({
        method,
        path: String(layer.path),
        requirements,
        // A bound step above the middleware runs the whole check itself.
        guarded: guarded || requirements.length > 0 || layer.stack.some(isTokenwarden),
      });
    }
  }
  return guarded;
}

/**
 * Compares the application's routes with the policy (see `findPolicyDrift`): call it once the
 * routers are used, before `app.listen()`. In mode `'error'` (the default when
 * `NODE_ENV=production`) any finding throws a ConfigError naming the route, the policy rule and
 * the difference, so start-up fails; in mode `'warn'` each is logged. Returns the findings.
 *
 * @example
 * app.use(tokenwarden({ ...options, policy })).use(router.routes());
 * checkPolicyDrift(app, policy);
 * app.listen(3000);
 */
export function checkPolicyDrift(
  app: unknown,
  policy: Policy,
  options: DriftReportOptions = {},
): readonly DriftFinding[] {
  return reportPolicyDrift(findPolicyDrift(policy, koaRoutes(app)), options);
}

// For `tokenwarden policy check --app`: a Koa application has its middleware list and callback().
registerRouteWalker('koa', (app) => {
  const koa = app as { middleware?: unknown; callback?: unknown } | null;
  const isApp = koa !== null && typeof koa === 'object' && Array.isArray(koa.middleware);
  return isApp && typeof koa.callback === 'function' ? koaRoutes(app) : undefined;
});
