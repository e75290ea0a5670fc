import { touchesPersonalData } from './routes';
import type { PolicyDocument } from './schema';
import type { Policy, PolicyClient, PolicyDiagnostic } from './types';

/** A path into the policy document: keys and list indexes. */
export type PolicyPath = readonly (string | number)[];

/** Records a finding at a path of the document. */
export type PolicyReporter = (
  path: PolicyPath,
  severity: PolicyDiagnostic['severity'],
  message: string,
) => void;

/**
 * The checks beyond the schema, on a schema-valid document and the policy built from it: names
 * that refer to nothing, limits above their caps, refresh tokens without a client secret,
 * rotations slower than expiry, scopes nothing uses or that name no personal data.
 */
export function lintPolicy(raw: PolicyDocument, policy: Policy, at: PolicyReporter): void {
  const scopeNames = Object.keys(policy.scopes);
  const budget = { cells: SUGGESTION_BUDGET };
  const unknownScope = (path: PolicyPath, scope: string) =>
    at(
      path,
      'error',
      `unknown scope '${scope}'; declare it under scopes${suggest(scope, scopeNames, budget)}`,
    );
  const cap = policy.limits.maxTokenLifetimeMs;
  const clientsUsing = new Set<string>();
  for (const [id, client] of Object.entries(raw.clients)) {
    client.scopes.forEach((scope, i) => {
      clientsUsing.add(scope);
      if (!Object.hasOwn(policy.scopes, scope)) unknownScope(['clients', id, 'scopes', i], scope);
    });
    const resolved = policy.clients[id] as PolicyClient;
    if (client.maxTokenLifetime !== undefined && resolved.maxTokenLifetimeMs > cap) {
      at(
        ['clients', id, 'maxTokenLifetime'],
        'error',
        `maximum token lifetime ${String(client.maxTokenLifetime)} is above the global cap limits.maxTokenLifetime (${String(raw.limits.maxTokenLifetime)}); lower it to at most ${String(raw.limits.maxTokenLifetime)}`,
      );
    }
    if (
      client.apiKeyMaxAge !== undefined &&
      resolved.apiKeyMaxAgeMs > policy.limits.maxApiKeyAgeMs
    ) {
      at(
        ['clients', id, 'apiKeyMaxAge'],
        'error',
        `API-key maximum age ${String(client.apiKeyMaxAge)} is above limits.maxApiKeyAge (${String(raw.limits.maxApiKeyAge)}); lower it`,
      );
    }
    if (client.refreshTokens === true && client.secret === undefined) {
      at(
        ['clients', id, 'refreshTokens'],
        'error',
        `client '${id}' receives refresh tokens but has no secret: the token endpoint authenticates every refresh; add secret: { env: ... }`,
      );
    }
    if (
      resolved.rotationPeriodMs !== undefined &&
      resolved.rotationPeriodMs > resolved.apiKeyMaxAgeMs
    ) {
      at(
        ['clients', id, 'rotationPeriod'],
        'warning',
        `rotation period ${String(client.rotationPeriod)} is longer than the API-key maximum age; keys would expire before they rotate: shorten it`,
      );
    }
  }
  const routesUsing = new Set<string>();
  raw.routes?.forEach((route, r) => {
    route.scopes.forEach((scope, i) => {
      routesUsing.add(scope);
      if (!Object.hasOwn(policy.scopes, scope)) unknownScope(['routes', r, 'scopes', i], scope);
    });
    if (route.purpose !== undefined && !Object.hasOwn(policy.purposes, route.purpose)) {
      at(
        ['routes', r, 'purpose'],
        'error',
        `unknown purpose '${route.purpose}'; declare it under purposes${suggest(route.purpose, Object.keys(policy.purposes), budget)}`,
      );
    }
    if (
      route.purpose === undefined &&
      route.lawfulBasis === undefined &&
      route.scopes.some(
        (s) => Object.hasOwn(policy.scopes, s) && policy.scopes[s]!.dataCategories.length > 0,
      )
    ) {
      at(
        ['routes', r],
        'warning',
        'the route reaches personal data but names no purpose or lawful basis; add purpose or lawfulBasis',
      );
    }
    lintRouteSubject(route, r, policy, at);
  });
  for (const [name, scope] of Object.entries(raw.scopes)) {
    if (scope.dataCategories === undefined) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' does not say which personal data it reaches; add dataCategories (an empty list if none)`,
      );
    }
    if (raw.routes !== undefined && !routesUsing.has(name)) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' is used by no route; remove it or add it to the route that needs it`,
      );
    }
    if (!clientsUsing.has(name)) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' is granted to no client; remove it or grant it to a client`,
      );
    }
  }
  if (policy.limits.refreshTokenLifetimeMs > policy.limits.refreshFamilyLifetimeMs) {
    at(
      ['limits', 'refreshTokenLifetime'],
      'warning',
      `limits.refreshTokenLifetime (${String(raw.limits.refreshTokenLifetime)}) is longer than limits.refreshFamilyLifetime (${String(raw.limits.refreshFamilyLifetime)}), which caps it; shorten it`,
    );
  }
  if (raw.signing.rotationPeriod === undefined) {
    at(
      ['signing'],
      'warning',
      'no signing.rotationPeriod: keys rotate only by command; set one, e.g. 30d',
    );
  } else if ((policy.signing.rotationPeriodMs as number) <= policy.signing.activationDelayMs) {
    at(
      ['signing', 'rotationPeriod'],
      'error',
      'signing.rotationPeriod must be longer than signing.activationDelay',
    );
  }
}

/**
 * How much work looking for suggestions may do over one lint, in edit-distance table cells: a
 * policy with many scopes and many mistyped names stays linear, and the first mistakes (all of
 * them, in a policy of usual size) still get their suggestion.
 */
const SUGGESTION_BUDGET = 20_000_000;

/**
 * `; did you mean 'x'?` for the closest known name within two edits, else ''. A name whose
 * length alone puts it no closer than the best so far is skipped unread.
 */
function suggest(value: string, known: readonly string[], budget: { cells: number }): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (Math.abs(candidate.length - value.length) >= bestDistance) continue;
    budget.cells -= (value.length + 1) * (candidate.length + 1);
    if (budget.cells < 0) break;
    const d = distance(value, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` or fix the name (did you mean '${best}'?)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const temp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = temp;
    }
  }
  return row[b.length] as number;
}

/**
 * A route's data-subject rule and `public` flag: the parameter it names must be in the path; a
 * route reaching personal data (a scope with data categories, or a purpose) names whose data it
 * is, so the access and exposure reports count its reads (start-up drift checks hold it as an
 * error); a public route requires nothing else.
 */
function lintRouteSubject(
  route: PolicyDocument['routes'] extends (infer R)[] | undefined ? R : never,
  r: number,
  policy: Policy,
  at: PolicyReporter,
): void {
  const subject = route.dataSubject;
  const path = route.route.slice(route.route.indexOf(' ') + 1);
  const params = path
    .split('/')
    .filter((s) => s.startsWith(':'))
    .map((s) => s.slice(1));
  if (subject !== undefined && subject !== 'token' && !params.includes(subject.param)) {
    at(
      ['routes', r, 'dataSubject', 'param'],
      'error',
      `the path ${path} has no parameter ':${subject.param}'; name one of its parameters${params.length > 0 ? ` (${params.join(', ')})` : ''} or write dataSubject: token`,
    );
  }
  if (route.public === true) {
    if (route.scopes.length > 0 || route.purpose !== undefined || route.lawfulBasis !== undefined) {
      at(
        ['routes', r, 'public'],
        'error',
        'a public route requires nothing: remove public, or its scopes, purpose and lawful basis',
      );
    }
    return;
  }
  if (subject === undefined && touchesPersonalData(route, policy)) {
    at(
      ['routes', r],
      'warning',
      'the route reaches personal data but names no data subject, so the access and exposure reports miss its reads; add dataSubject: { param: id } or dataSubject: token',
    );
  }
}
