import { ConfigError } from '../errors';
import { routesOfApp, type CodeRoute } from './app-routes';
import type { Requirement } from './requirement';
import { policyRequirement, PolicyRouteTable, routeName, touchesPersonalData } from './routes';
import type { PolicyRoute, RoutePolicy } from '../internal/route-policy';

export {
  expressRoutes,
  koaRoutes,
  registerRouteWalker,
  routesOfApp,
  type CodeRoute,
  type RouteWalker,
} from './app-routes';

/** What kind of disagreement a drift finding is. */
export type DriftKind =
  'unmatched_route' | 'missing_handler' | 'weakened' | 'unguarded' | 'no_data_subject';

/** One way the application disagrees with its policy. */
export interface DriftFinding {
  readonly kind: DriftKind;
  /** The route in code (`GET /customers/:id`), when the finding is about one. */
  readonly route?: string;
  /** The policy rule, as `routes[3] (GET /customers/:id)`, when there is one. */
  readonly rule?: string;
  /** The route, the rule and the difference, in one line. */
  readonly message: string;
}

/** What start-up does with drift: `'error'` fails, `'warn'` logs each finding. */
export type DriftMode = 'error' | 'warn';

/** The drift mode: as given, else `'error'` when `NODE_ENV=production`, else `'warn'`. */
export function driftMode(mode?: DriftMode): DriftMode {
  if (mode === undefined) return process.env.NODE_ENV === 'production' ? 'error' : 'warn';
  if (mode !== 'error' && mode !== 'warn') throw new ConfigError("drift must be 'error' or 'warn'");
  return mode;
}

const ruleName = (route: PolicyRoute, index: number) => `routes[${index}] (${routeName(route)})`;

/**
 * Compares the application's routes with the policy's: a route Tokenwarden checks that no policy
 * route covers, a policy route no handler serves, a policy route served where Tokenwarden does
 * not check it, code that weakens a rule (another lawful basis or purpose, fewer scopes, public),
 * and a personal-data route of the policy that names no data subject.
 */
export function findPolicyDrift(policy: RoutePolicy, routes: readonly CodeRoute[]): DriftFinding[] {
  const findings: DriftFinding[] = [];
  const table = new PolicyRouteTable(policy, (route) => policyRequirement(policy, route));
  const served = new Set<number>();
  for (const code of routes) {
    const name = `${code.method} ${code.path}`;
    const methods = code.method === '*' ? methodsOf(policy) : [code.method];
    const matches = [
      ...new Set(methods.map((m) => table.match(m, code.path)?.compiled).filter((c) => c)),
    ] as NonNullable<ReturnType<typeof table.match>>['compiled'][];
    if (matches.length === 0) {
      if (code.guarded) {
        findings.push({
          kind: 'unmatched_route',
          route: name,
          message: `${name}: no policy route covers it; declare it under routes (with public: true if it is open)`,
        });
      }
      continue;
    }
    for (const matched of matches) {
      served.add(matched.index);
      const rule = ruleName(matched.route, matched.index);
      if (!code.guarded) {
        if (matched.route.public !== true) {
          findings.push({
            kind: 'unguarded',
            route: name,
            rule,
            message: `${name}: served where Tokenwarden does not check it (above its middleware, or without its guard), but policy rule ${rule} requires ${describe(matched.value)}; move it below the middleware or declare it public: true`,
          });
        }
        continue;
      }
      for (const difference of weakenings(matched.value, code.requirements)) {
        findings.push({
          kind: 'weakened',
          route: name,
          rule,
          message: `${name}: ${difference}, but policy rule ${rule} requires ${describe(matched.value)}; make the code agree with the policy or drop the step (the policy alone enforces the route)`,
        });
      }
    }
  }
  (policy.routes ?? []).forEach((route, index) => {
    const rule = ruleName(route, index);
    if (!served.has(index)) {
      findings.push({
        kind: 'missing_handler',
        rule,
        message: `policy rule ${rule} has no handler in the application; remove the rule or fix its method and path`,
      });
    }
    if (
      route.public !== true &&
      route.dataSubject === undefined &&
      touchesPersonalData(route, policy)
    ) {
      findings.push({
        kind: 'no_data_subject',
        rule,
        message: `policy rule ${rule} reaches personal data but names no data subject; add dataSubject: { param: ... } or dataSubject: token`,
      });
    }
  });
  return findings;
}

function methodsOf(policy: RoutePolicy): string[] {
  return [...new Set((policy.routes ?? []).map((r) => r.method))];
}

/** Each way the steps in code ask for less than, or something other than, the policy. */
function weakenings(policy: Requirement, steps: readonly Requirement[]): string[] {
  const out: string[] = [];
  const codeScopes = steps.flatMap((s) => s.scopes ?? []);
  const declaresScopes = steps.some((s) => s.scopes !== undefined);
  if (steps.some((s) => s.public === true) && policy.public !== true) {
    out.push('the code declares the route public');
  }
  const missing = (policy.scopes ?? []).filter((s) => !codeScopes.includes(s));
  if (declaresScopes && missing.length > 0) {
    out.push(
      `the code requires scopes [${codeScopes.join(', ')}], without ${missing.map((s) => `'${s}'`).join(', ')}`,
    );
  }
  for (const step of steps) {
    if (step.consent) {
      const purpose = step.consent.purpose;
      if (policy.lawfulBasis) {
        out.push(`the code asks consent for '${purpose}' (another lawful basis)`);
      } else if (policy.consent && policy.consent.purpose !== purpose) {
        out.push(`the code asks consent for another purpose, '${purpose}'`);
      }
      out.push(...subjectDifference(policy, step.consent.subject));
    }
    if (step.lawfulBasis) {
      const { basis, purpose } = step.lawfulBasis;
      if (policy.consent) {
        out.push(`the code declares lawful basis '${basis}' instead of consent`);
      } else if (policy.lawfulBasis && policy.lawfulBasis.basis !== basis) {
        out.push(`the code declares another lawful basis, '${basis}'`);
      } else if (
        policy.lawfulBasis?.purpose !== undefined &&
        purpose !== undefined &&
        purpose !== policy.lawfulBasis.purpose
      ) {
        out.push(`the code declares another purpose, '${purpose}'`);
      }
      out.push(...subjectDifference(policy, step.lawfulBasis.subject));
    }
    if (step.dataSubject !== undefined) out.push(...subjectDifference(policy, step.dataSubject));
  }
  return out;
}

/** A data subject in code other than the policy's (a function of the request is not compared). */
function subjectDifference(policy: Requirement, subject: unknown): string[] {
  const rule = policy.dataSubject;
  if (rule === undefined || typeof rule === 'function' || subject === undefined) return [];
  const named = (s: unknown) =>
    s === 'token' ? 'the caller' : `':${String((s as { param: unknown }).param)}'`;
  if (subject !== 'token' && (typeof subject !== 'object' || subject === null)) return [];
  if (subject !== 'token' && !('param' in subject)) return [];
  const same =
    rule === 'token'
      ? subject === 'token'
      : subject !== 'token' && (subject as { param: unknown }).param === rule.param;
  return same
    ? []
    : [`the code takes the data subject from ${named(subject)} instead of ${named(rule)}`];
}

/** What a policy requirement asks, in words. */
function describe(req: Requirement): string {
  if (req.public === true) return 'nothing (public)';
  const parts: string[] = [];
  if (req.scopes?.length) parts.push(`scopes [${req.scopes.join(', ')}]`);
  if (req.consent) parts.push(`consent for '${req.consent.purpose}'`);
  if (req.lawfulBasis) {
    const purpose = req.lawfulBasis.purpose;
    parts.push(`lawful basis '${req.lawfulBasis.basis}'${purpose ? ` for '${purpose}'` : ''}`);
  }
  return parts.length > 0 ? parts.join(' and ') : 'a valid token';
}

/** Options of {@link reportPolicyDrift}. */
export interface DriftReportOptions {
  /** Default: `'error'` when `NODE_ENV=production`, else `'warn'`. */
  readonly drift?: DriftMode;
  /** Where warnings go. Default: stderr. */
  readonly logger?: { warn(message: string): void };
}

/**
 * Acts on drift findings: in mode `'error'` throws one ConfigError listing them all (start-up
 * fails); in mode `'warn'` logs each. Returns the findings.
 */
export function reportPolicyDrift(
  findings: readonly DriftFinding[],
  options: DriftReportOptions = {},
): readonly DriftFinding[] {
  if (findings.length === 0) return findings;
  if (driftMode(options.drift) === 'error') {
    throw new ConfigError(
      `the application does not match its policy (${findings.length} finding(s)):\n` +
        findings.map((f) => `  - ${f.message}`).join('\n'),
    );
  }
  const logger = options.logger ?? { warn: (m: string) => console.warn(`[tokenwarden] ${m}`) };
  for (const f of findings) logger.warn(`policy drift: ${f.message}`);
  return findings;
}

/**
 * Compares an application's routes with the policy (see {@link findPolicyDrift}): an Express or
 * Koa application (or router), or a Nest application, once its routes are registered and before
 * it listens. In mode `'error'` (the default when `NODE_ENV=production`) any finding throws a
 * ConfigError naming the route, the policy rule and the difference, so start-up fails; in mode
 * `'warn'` each is logged. Returns the findings.
 *
 * @example
 * app.use(tokenwarden({ ...options, policy }));
 * app.get('/customers/:id', handler);
 * checkPolicyDrift(app, policy);
 * app.listen(3000);
 */
export function checkPolicyDrift(
  app: unknown,
  policy: RoutePolicy,
  options: DriftReportOptions = {},
): readonly DriftFinding[] {
  const found = routesOfApp(app);
  if (found === undefined) {
    throw new TypeError(
      'checkPolicyDrift: pass the application (Express, Koa, or Nest with @tokenwarden/nest loaded) after its routes are registered',
    );
  }
  return reportPolicyDrift(findPolicyDrift(policy, found.routes), options);
}
