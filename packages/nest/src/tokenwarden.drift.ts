import {
  Inject,
  Injectable,
  Optional,
  type INestApplicationContext,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import {
  findPolicyDrift,
  registerRouteWalker,
  reportPolicyDrift,
  type CodeRoute,
  type DriftFinding,
  type DriftMode,
  type DriftReportOptions,
} from '@tokenwarden/core/internal';
import type { Policy } from '@tokenwarden/core/policy';
import { EXEMPT, routeRequirement } from './route-requirement';
import { TOKENWARDEN_OPTIONS } from './tokens';

// The metadata keys of Nest's @Controller() and route decorators (`@nestjs/common/constants`, a
// deep import that Nest 11's ESM build cannot resolve without its extension).
const PATH_METADATA = 'path';
const METHOD_METADATA = 'method';

/** Provides the module's `drift` setting. */
export const TOKENWARDEN_DRIFT: unique symbol = Symbol('tokenwarden:drift');

// Nest's RequestMethod enum, by value.
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', '*', 'OPTIONS', 'HEAD', 'SEARCH'];

function joinPath(...parts: string[]): string {
  const joined = parts
    .flatMap((p) => p.split('/'))
    .filter((p) => p !== '')
    .join('/');
  return `/${joined}`;
}

function pathsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [''];
}

/**
 * The HTTP routes of a Nest application's controllers (global prefix not included), each with
 * the requirement its Tokenwarden decorators state. Routes the guard leaves alone (the metrics,
 * health and token endpoint controllers) count as unguarded; every other route as guarded (the
 * guard is expected globally, as `APP_GUARD`).
 */
export function nestRoutes(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  reflector: Reflector,
): CodeRoute[] {
  const out: CodeRoute[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller: unknown = wrapper.metatype;
    if (typeof controller !== 'function') continue;
    const prefixes = pathsOf(Reflect.getMetadata(PATH_METADATA, controller));
    const prototype = controller.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      if (typeof handler !== 'function') continue;
      const method: unknown = Reflect.getMetadata(METHOD_METADATA, handler);
      if (typeof method !== 'number') continue;
      const requirement = routeRequirement(reflector, handler, controller);
      // The guard leaves exempt routes (metrics, health, token endpoint) alone: outside it.
      const exempt = requirement === EXEMPT;
      for (const prefix of prefixes) {
        for (const path of pathsOf(Reflect.getMetadata(PATH_METADATA, handler))) {
          out.push({
            method: METHODS[method] ?? String(method),
            path: joinPath(prefix, path),
            requirements: requirement === undefined || exempt ? [] : [requirement],
            guarded: !exempt,
          });
        }
      }
    }
  }
  return out;
}

/**
 * Compares a Nest application's routes with the policy (see `findPolicyDrift`), e.g. in CI:
 * the application must be created (`NestFactory.create`), not necessarily listening. In mode
 * `'error'` any finding throws a ConfigError naming the route, the rule and the difference.
 */
export function checkPolicyDrift(
  app: INestApplicationContext,
  policy: Policy,
  options: DriftReportOptions = {},
): readonly DriftFinding[] {
  return reportPolicyDrift(findPolicyDrift(policy, routesOf(app)), options);
}

function routesOf(app: INestApplicationContext): CodeRoute[] {
  return nestRoutes(app.get(DiscoveryService), app.get(MetadataScanner), app.get(Reflector));
}

// For `tokenwarden policy check --app`: a Nest application (created, not necessarily listening).
registerRouteWalker('nest', (app) => {
  const nest = app as Partial<INestApplicationContext> | null;
  const isApp = nest !== null && typeof nest === 'object' && typeof nest.get === 'function';
  return isApp && typeof nest.select === 'function'
    ? routesOf(app as INestApplicationContext)
    : undefined;
});

/**
 * Checks the application's routes against the module's policy (`forRoot({ policy })`) once every
 * module is initialised: in mode `'error'` (the default when `NODE_ENV=production`) a finding
 * makes `app.init()` / `app.listen()` fail, naming the route, the policy rule and the
 * difference; in mode `'warn'` each is logged.
 */
@Injectable()
export class TokenwardenPolicyDrift implements OnApplicationBootstrap {
  /** The findings of the start-up check. */
  findings: readonly DriftFinding[] = [];

  constructor(
    @Inject(TOKENWARDEN_OPTIONS) private readonly options: unknown,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Optional() @Inject(TOKENWARDEN_DRIFT) private readonly drift?: DriftMode,
  ) {}

  onApplicationBootstrap(): void {
    const policy = (this.options as { policy?: Policy } | null)?.policy;
    if (policy === undefined) return;
    const routes = nestRoutes(this.discovery, this.scanner, this.reflector);
    this.findings = reportPolicyDrift(findPolicyDrift(policy, routes), {
      ...(this.drift !== undefined ? { drift: this.drift } : {}),
    });
  }
}
