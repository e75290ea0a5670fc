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

/** The parts of Express's router that the walk reads (Express 5, and 4 through `_router`). */
interface Layer {
  readonly handle?: unknown;
  readonly route?: {
    readonly path: unknown;
    readonly methods: Readonly<Record<string, boolean>>;
    readonly stack: readonly { readonly method?: string; readonly handle?: unknown }[];
  };
  /** Express 5: the path a router or middleware was mounted at. */
  readonly rawPath?: unknown;
}

interface RouterLike {
  readonly stack: readonly Layer[];
}

function routerOf(app: unknown): RouterLike | undefined {
  if (app === null || (typeof app !== 'function' && typeof app !== 'object')) return undefined;
  const candidate = app as { _router?: unknown; router?: unknown; stack?: unknown };
  if (Array.isArray(candidate.stack)) return candidate as RouterLike;
  // Express 4 keeps the router in `_router` (its `app.router` throws); Express 5 in `router`.
  const router = '_router' in candidate ? candidate._router : candidate.router;
  const stack = (router as { stack?: unknown } | undefined)?.stack;
  return Array.isArray(stack) ? (router as RouterLike) : undefined;
}

/** A Tokenwarden middleware (what `tokenwarden()` returns carries its warden). */
function isTokenwarden(handle: unknown): boolean {
  return typeof handle === 'function' && (handle as { warden?: unknown }).warden instanceof Warden;
}

/**
 * The routes of an Express application (or router) after they are registered: method, path
 * template (with the mount path of nested routers), the requirements of the Tokenwarden route
 * steps on each, and whether a Tokenwarden middleware runs before it.
 */
export function expressRoutes(app: unknown): CodeRoute[] {
  const router = routerOf(app);
  if (router === undefined) {
    throw new TypeError('expressRoutes: pass an Express application or router');
  }
  const out: CodeRoute[] = [];
  walk(router, '', false, out);
  return out;
}

function walk(router: RouterLike, prefix: string, guardedAbove: boolean, out: CodeRoute[]): void {
  let guarded = guardedAbove;
  for (const layer of router.stack) {
    const route = layer.route;
    if (route !== undefined) {
      const path = prefix + (typeof route.path === 'string' ? route.path : String(route.path));
      const methods = Object.keys(route.methods).filter((m) => route.methods[m] === true);
      const all = methods.length > 10 || route.methods._all === true;
      for (const method of all ? ['*'] : methods) {
        const requirements: Requirement[] = [];
        for (const step of route.stack) {
          if (!all && step.method !== undefined && step.method !== method) continue;
          const requirement = stepRequirementOf(step.handle);
          if (requirement !== undefined) requirements.push(requirement);
          if (isTokenwarden(step.handle)) guarded = true;
        }
        out.push({
          method: method.toUpperCase(),
          path,
          requirements,
          // A bound step above the middleware runs the whole check itself.
          guarded: guarded || requirements.length > 0,
        });
        if (all) break;
      }
      continue;
    }
    if (isTokenwarden(layer.handle)) {
      guarded = true;
      continue;
    }
    const nested = routerOf(layer.handle);
    if (nested !== undefined) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      walk(nested, prefix + mount, guarded, out);
    }
  }
}

/**
 * Compares the application's routes with the policy (see `findPolicyDrift`): call it once the
 * routes are registered, before `app.listen()`. In mode `'error'` (the default when
 * `NODE_ENV=production`) any finding throws a ConfigError naming the route, the policy rule and
 * the difference, so start-up fails; in mode `'warn'` each is logged. Returns the findings.
 *
 * @example
 * app.use(tokenwarden({ ...options, policy }));
 * app.get('/customers/:id', handler);
 * checkPolicyDrift(app, policy);
 * app.listen(3000);
 */
export function checkPolicyDrift(
  app: unknown,
  policy: Policy,
  options: DriftReportOptions = {},
): readonly DriftFinding[] {
  return reportPolicyDrift(findPolicyDrift(policy, expressRoutes(app)), options);
}

// For `tokenwarden policy check --app`: Express applications and routers are functions.
registerRouteWalker('express', (app) =>
  typeof app === 'function' && routerOf(app) !== undefined ? expressRoutes(app) : undefined,
);
