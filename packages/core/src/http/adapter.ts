import type { Decision } from '../decision';
import { ConfigError } from '../errors';
import { routeSteps, type Requirement, type RouteSteps } from '../policy/requirement';
import type { RequestView } from '../request';
import type { Access, Warden } from '../warden';
import { tagStep } from '../policy/step-tag';

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
export function routeStepNow<S extends { [ACCESS]?: Access; [ON_DENY]?: unknown }>(
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
  // A bound step above the middleware answers its denials as the middleware would.
  const onDeny = handlers.get(warden);
  if (onDeny !== undefined) source[ON_DENY] = onDeny;
  return warden.beginNow(new View(source), requirement);
}

/** What an adapter's `tokenwarden()` returns: its middleware, with route steps bound to the warden. */
export type WardenMiddleware<H> = H &
  RouteSteps<H> & {
    /** The warden: revoke tokens, record consent, read metrics. */
    readonly warden: Warden;
    /** Serves the Prometheus metrics of this warden. */
    metricsHandler(): H;
    /** Answers readiness probes for this warden (see `healthAnswer`). */
    healthHandler(): H;
  };

/**
 * An adapter's route step for a requirement: bound to a warden (`tw.requireScopes`), or
 * standalone (`requireScopes`, `warden` undefined), checking with the middleware above it.
 */
export type StepMaker<H> = (requirement: Requirement, warden: Warden | undefined) => H;

/**
 * Binds an adapter's route steps, metrics and health handlers to `warden` and hangs them, with the warden,
 * on the middleware. Steps are compiled (purposes validated) here, at start-up; so are the
 * adapter's standalone steps declared before any middleware (see {@link standaloneSteps}).
 */
export function withRouteSteps<H extends object>(
  middleware: H,
  warden: Warden,
  step: StepMaker<H>,
  metricsHandler: (warden: Warden) => H,
  healthHandler: (warden: Warden) => H,
): WardenMiddleware<H> {
  adoptWarden(step, warden);
  return Object.assign(middleware, {
    warden,
    ...routeSteps((requirement) =>
      tagStep(step(warden.requirement(requirement), warden), requirement),
    ),
    metricsHandler: () => metricsHandler(warden),
    healthHandler: () => healthHandler(warden),
  });
}

/**
 * The standalone route steps of an adapter (`requireScopes`, … exported by the package), which
 * run with whatever middleware is above them and so cannot know its purposes when made. They are
 * checked at start-up all the same: against the wardens of the adapter's middlewares made so far
 * (valid for one of them is enough), or, for steps made before any (a router module imported
 * before `tokenwarden()` runs), by the next `tokenwarden()` call, which throws ConfigError.
 */
export function standaloneSteps<H>(step: StepMaker<H>): RouteSteps<H> {
  return routeSteps((requirement) => {
    checkStandalone(registryOf(step), requirement);
    return tagStep(step(requirement, undefined), requirement);
  });
}

/** The wardens of an adapter's middlewares (held weakly), and standalone requirements to check. */
interface StandaloneRegistry {
  wardens: WeakRef<Warden>[];
  pending: Requirement[];
}

// One registry per adapter, keyed by its step maker.
const registries = new WeakMap<object, StandaloneRegistry>();

function registryOf(step: object): StandaloneRegistry {
  let registry = registries.get(step);
  if (registry === undefined) {
    registry = { wardens: [], pending: [] };
    registries.set(step, registry);
  }
  return registry;
}

function liveWardens(registry: StandaloneRegistry): Warden[] {
  const live: Warden[] = [];
  for (const ref of registry.wardens) {
    const warden = ref.deref();
    if (warden !== undefined) live.push(warden);
  }
  if (live.length !== registry.wardens.length) registry.wardens = live.map((w) => new WeakRef(w));
  return live;
}

function checkStandalone(registry: StandaloneRegistry, requirement: Requirement): void {
  const wardens = liveWardens(registry);
  if (wardens.length === 0) {
    registry.pending.push(requirement);
    return;
  }
  let failure: unknown;
  for (const warden of wardens) {
    try {
      warden.requirement(requirement);
      return;
    } catch (error) {
      failure ??= error;
    }
  }
  throw failure;
}

function adoptWarden(step: object, warden: Warden): void {
  const registry = registryOf(step);
  const pending = registry.pending;
  registry.pending = [];
  for (const requirement of pending) {
    try {
      warden.requirement(requirement);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`a route step declared before tokenwarden(): ${message}`);
    }
  }
  if (!liveWardens(registry).includes(warden)) registry.wardens.push(new WeakRef(warden));
}

/**
 * Where adapters keep the middleware's denial handler (its `onDeny` option) on the request, so
 * route steps below it, standalone ones too, answer denials the same way. Absent: the default.
 */
export const ON_DENY: unique symbol = Symbol.for('tokenwarden.onDeny');

// The denial handler of the middleware made for each warden, for its bound route steps.
const handlers = new WeakMap<Warden, unknown>();

/**
 * An adapter's `onDeny` option as a handler: the application's own function, or one of the
 * adapter's named `modes`. Undefined for the default mode (`'respond'`: the adapter writes the
 * denial). Throws ConfigError naming the accepted values for anything else. The handler is kept
 * for `warden`, so the middleware's bound steps used above it (`tw.publicRoute()`) follow it too.
 */
export function denyHandler<F extends (...args: never[]) => unknown>(
  warden: Warden,
  onDeny: string | F | undefined,
  modes: Readonly<Record<string, F>>,
): F | undefined {
  let handler: F | undefined;
  if (typeof onDeny === 'function') handler = onDeny;
  else if (typeof onDeny === 'string' && Object.hasOwn(modes, onDeny)) handler = modes[onDeny];
  else if (onDeny !== undefined && onDeny !== 'respond') {
    const names = ['respond', ...Object.keys(modes)].map((m) => `'${m}'`).join(', ');
    throw new ConfigError(`onDeny must be ${names} or a function of the denial`);
  }
  if (handler === undefined) handlers.delete(warden);
  else handlers.set(warden, handler);
  return handler;
}
