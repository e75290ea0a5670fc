import type { Requirement, RouteSteps, WardenStore } from '@tokenwarden/core/internal';
import type { Server } from 'node:http';
import type { JwkSet, TokenEndpoint, Warden, WardenOptions } from '@tokenwarden/core';
import { codeOnly } from './policy';

/** One route of the conformance app, the same on every adapter. */
export interface RouteSpec {
  readonly method: 'GET' | 'PUT';
  /** Path template with `:param` placeholders (each adapter translates if it needs to). */
  readonly path: string;
  /** What the route requires; `undefined` for "a valid token, nothing more". */
  readonly requirement?: Requirement;
}

/** The routes every adapter mounts; handlers answer `{ ok: true, subject }`. */
export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/health', requirement: { public: true } },
  { method: 'GET', path: '/plain' },
  { method: 'GET', path: '/customers/:id', requirement: { scopes: ['customers:read'] } },
  { method: 'PUT', path: '/customers/:id', requirement: { scopes: ['customers:write'] } },
  {
    method: 'GET',
    path: '/customers/:id/profile',
    requirement: {
      scopes: ['marketing:read'],
      consent: { purpose: 'marketing', subject: { param: 'id' } },
    },
  },
  { method: 'GET', path: '/me/profile', requirement: { consent: { purpose: 'marketing' } } },
  {
    method: 'GET',
    path: '/invoices',
    requirement: { lawfulBasis: { basis: 'legal_obligation', purpose: 'billing' } },
  },
  {
    method: 'GET',
    path: '/reports',
    requirement: { anyScopes: ['reports:read', 'reports:admin'] },
  },
  {
    method: 'GET',
    path: '/tenants/:id/reports',
    requirement: {
      claims: [
        { claim: 'tenant', equals: 'acme' },
        { claim: 'roles', includes: ['auditor'] },
        { check: (claims) => claims.email_verified === true },
      ],
    },
  },
  // Mounted only when the warden has the dpop option (a DPoP route needs it at start-up).
  { method: 'GET', path: '/payouts', requirement: { scopes: ['payouts:read'], dpop: 'required' } },
];

/** The routes an app with these options mounts. */
export function routesFor(options: Pick<WardenOptions, 'dpop'>): readonly RouteSpec[] {
  return options.dpop === undefined ? ROUTES.filter((r) => !r.requirement?.dpop) : ROUTES;
}

/** A running conformance app. */
export interface RunningApp {
  readonly server: Server;
  readonly warden: Warden;
  /** The framework's application (Express app, Koa app, Nest application). */
  readonly app?: unknown;
  close(): Promise<void>;
}

/** Token endpoints an app mounts above the Tokenwarden line (open to clients without a token). */
export interface TokenRoutes {
  /** A core `TokenEndpoint` per POST path. */
  readonly endpoints: Readonly<Record<string, TokenEndpoint>>;
  /** Public keys served at `GET /.well-known/jwks.json`. */
  readonly jwks: { jwks(): JwkSet };
}

/** How the app answers denials: as Tokenwarden writes them, or through its own error handling. */
export interface AppSettings {
  /**
   * Denials go to the framework's error handling (Express `onDeny: 'next'` plus an error
   * handler, Koa `onDeny: 'throw'` plus error middleware, a Nest exception filter), which answers
   * the denial's status and headers with the body `{ handled: code }`.
   */
  readonly errorHandler?: boolean;
  /**
   * The app is driven by the policy in the warden options (`options.policy`): no route steps
   * beyond what a policy cannot say (any-of scopes, claim checks, DPoP), public routes mounted
   * below the Tokenwarden line like any other.
   */
  readonly policyOnly?: boolean;
}

/** Builds and starts the conformance app on one framework. */
export interface AdapterDriver {
  readonly name: string;
  start(
    options: WardenOptions & { store: WardenStore },
    tokens?: TokenRoutes,
    settings?: AppSettings,
  ): Promise<RunningApp>;
}

/** Body every allowed route answers with. */
export function okBody(subject: string | undefined): { ok: true; subject: string | null } {
  return { ok: true, subject: subject ?? null };
}

/** The requirement a route's steps in code state: all of it, or what the policy cannot say. */
export function codeRequirement(
  route: RouteSpec,
  settings: AppSettings | undefined,
): Requirement | undefined {
  return settings?.policyOnly ? codeOnly(route.requirement) : route.requirement;
}

/** The adapter's route steps for one route's requirement, in pipeline order. */
export function stepsFor<T>(requirement: Requirement | undefined, steps: RouteSteps<T>): T[] {
  const out: T[] = [];
  if (requirement?.dpop) out.push(steps.requireDpop());
  if (requirement?.scopes) out.push(steps.requireScopes(...requirement.scopes));
  if (requirement?.anyScopes) out.push(steps.requireAnyScope(...requirement.anyScopes));
  for (const claim of requirement?.claims ?? []) {
    if ('check' in claim) out.push(steps.claimCheck(claim.check));
    else if ('equals' in claim) out.push(steps.claimEquals(claim.claim, claim.equals));
    else out.push(steps.claimIncludes(claim.claim, ...claim.includes));
  }
  if (requirement?.consent) {
    out.push(steps.requireConsent(requirement.consent.purpose, requirement.consent));
  }
  if (requirement?.lawfulBasis) {
    out.push(steps.lawfulBasis(requirement.lawfulBasis.basis, requirement.lawfulBasis));
  }
  return out;
}
