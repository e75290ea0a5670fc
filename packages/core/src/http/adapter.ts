import type { Decision } from '../decision';
import { routeSteps, type Requirement, type RouteSteps } from '../policy/requirement';
import type { RequestView } from '../request';
import type { Access, Warden } from '../warden';

/** Where adapters keep a request's access between their middleware and their route steps. */
export const ACCESS: unique symbol = Symbol.for('tokenwarden.access');

/**
 * The decision an adapter acts on, from what `Warden.beginNow` or `Access.authorizeNow` gave. A
 * fresh access is tied to the Node response first (one audit event per request, with the status
 * actually sent) and, when allowed, kept in `holder[ACCESS]` for the route steps that follow.
 */
export function decisionOf<A extends { readonly decision: Decision }, R>(
  result: A | Decision,
  warden: { track(res: R, access: A): void } | undefined,
  res: R,
  holder: { [ACCESS]?: A },
): Decision {
  if ('outcome' in result) return result;
  warden!.track(res, result);
  if (result.decision.outcome === 'allow') holder[ACCESS] = result;
  return result.decision;
}

/**
 * What a route step decides, now or later: its requirement on the access the middleware left on
 * `source` (`req`, `ctx`), or, when the step is used without the middleware, the whole check on a
 * new `View` of `source`. Throws when there is neither an access nor a warden to check with.
 */
export function routeStepNow<S extends { [ACCESS]?: Access }>(
  source: S,
  warden: Warden | undefined,
  requirement: Requirement,
  View: new (source: S) => RequestView,
): Access | Decision | Promise<Access> | Promise<Decision> {
  const access = source[ACCESS];
  if (access !== undefined) return access.authorizeNow(requirement);
  if (warden === undefined) {
    throw new Error(
      'Tokenwarden route steps need the tokenwarden(options) middleware before them, or use the steps of the middleware (tw.requireScopes)',
    );
  }
  return warden.beginNow(new View(source), requirement);
}

/** What an adapter's `tokenwarden()` returns: its middleware, with route steps bound to the warden. */
export type WardenMiddleware<H> = H &
  RouteSteps<H> & {
    /** The warden: revoke tokens, record consent, read metrics. */
    readonly warden: Warden;
    /** Serves the Prometheus metrics of this warden. */
    metricsHandler(): H;
  };

/**
 * Binds an adapter's route steps and metrics handler to `warden` and hangs them, with the warden,
 * on the middleware. Steps are compiled (purposes validated) here, at start-up.
 */
export function withRouteSteps<H extends object>(
  middleware: H,
  warden: Warden,
  step: (requirement: Requirement, warden: Warden) => H,
  metricsHandler: (warden: Warden) => H,
): WardenMiddleware<H> {
  return Object.assign(middleware, {
    warden,
    ...routeSteps((requirement) => step(requirement, warden)),
    metricsHandler: () => metricsHandler(warden),
  });
}
