import type { LawfulBasis } from '../internal/gdpr';
import type { RequestView } from '../request';

export { LAWFUL_BASES, type LawfulBasis } from '../internal/gdpr';

/** Finds the data subject of a request, e.g. from a path parameter. */
export type SubjectResolver = (request: RequestView) => string | undefined;

/** A route's consent requirement. */
export interface ConsentRequirement {
  /** The purpose of processing; must be one of the warden's `purposes`. */
  readonly purpose: string;
  /**
   * Who the data subject is. A function of the request, or `{ param: 'id' }` for a route
   * parameter. Default: the token's subject.
   */
  readonly subject?: SubjectResolver | { readonly param: string };
}

/** A route's declared lawful basis other than consent (audited, no consent lookup). */
export interface LawfulBasisRequirement {
  readonly basis: LawfulBasis;
  /** The purpose, for the audit trail; must be one of the warden's `purposes` when given. */
  readonly purpose?: string;
  /**
   * Whose personal data the route touches, for the audit trail (and so for exposure and access
   * reports): a function of the request or `{ param: 'id' }`. When given and unresolvable the
   * request is refused (403 `data_subject_unresolved`). Default: not recorded.
   */
  readonly subject?: SubjectResolver | { readonly param: string };
}

/** A value a claim is compared with: the claim's JSON value must be this value exactly. */
export type ClaimValue = string | number | boolean;

/**
 * A check of the verified token's claims. Claims are read by their exact name, own properties
 * only (a namespaced claim such as `https://example.com/roles` is one name; a nested one needs
 * `check`). `check` receives every claim and passes only by returning `true`; one that throws
 * fails.
 */
export type ClaimRequirement =
  | { readonly claim: string; readonly equals: ClaimValue }
  | {
      /** The claim: an array, or a space-separated string (as `scope`). */
      readonly claim: string;
      /** Values the claim must all contain. */
      readonly includes: readonly ClaimValue[];
    }
  | { readonly check: (claims: Readonly<Record<string, unknown>>) => boolean };

/** What a route requires of the token. All parts are optional and combine. */
export interface Requirement {
  /** Anyone may call the route; a token, if sent, is still verified. */
  readonly public?: boolean;
  /** Scopes the token must all carry. */
  readonly scopes?: readonly string[];
  /** Scopes of which the token must carry at least one (403 `insufficient_scope` otherwise). */
  readonly anyScopes?: readonly string[];
  /** Claim checks that must all pass (403 `claim_check_failed` otherwise). */
  readonly claims?: readonly ClaimRequirement[];
  /** Consent the data subject must have given for a purpose. */
  readonly consent?: ConsentRequirement;
  /** Another lawful basis, instead of consent. */
  readonly lawfulBasis?: LawfulBasisRequirement;
  /**
   * Whose personal data the route touches, recorded in the audit trail (so the access and
   * exposure reports count the read) even when the route only checks scopes: a function of the
   * request, `{ param: 'id' }`, or `'token'` for the caller itself. Unresolvable: 403
   * `data_subject_unresolved`. A consent or lawful basis naming its own `subject` wins for the
   * record. Default: not recorded.
   */
  readonly dataSubject?: SubjectResolver | { readonly param: string } | 'token';
  /**
   * `'required'`: only DPoP-bound tokens with a valid proof (RFC 9449), never Bearer tokens.
   * Needs the warden's `dpop` option.
   */
  readonly dpop?: 'required';
}

/** The route steps every adapter offers, each turning one requirement into a framework step. */
export interface RouteSteps<T> {
  /** The token must carry every scope (403 `insufficient_scope` otherwise). */
  requireScopes(...scopes: string[]): T;
  /** The token must carry at least one of the scopes (403 `insufficient_scope` otherwise). */
  requireAnyScope(...scopes: string[]): T;
  /** The token's claim must be exactly `value` (403 `claim_check_failed` otherwise). */
  claimEquals(claim: string, value: ClaimValue): T;
  /**
   * The token's claim (an array, or a space-separated string) must contain every value (403
   * `claim_check_failed` otherwise).
   */
  claimIncludes(claim: string, ...values: ClaimValue[]): T;
  /**
   * `check(claims)` must return `true` (403 `claim_check_failed` otherwise, also when it throws).
   * It runs on every request of the route: keep it synchronous and cheap.
   */
  claimCheck(check: (claims: Readonly<Record<string, unknown>>) => boolean): T;
  /**
   * The data subject (default: the token's subject; `{ param: 'id' }` or a function of the
   * request) must have active consent for `purpose`, given after any withdrawal the token predates.
   */
  requireConsent(purpose: string, options?: Pick<ConsentRequirement, 'subject'>): T;
  /** Processing rests on a lawful basis other than consent: no consent lookup, audited. */
  lawfulBasis(basis: LawfulBasis, options?: Pick<LawfulBasisRequirement, 'purpose' | 'subject'>): T;
  /** Open to everyone, still audited; a token, if sent, is still verified. */
  publicRoute(): T;
  /** Only DPoP-bound tokens with a valid proof (401 `dpop_required` for Bearer tokens). */
  requireDpop(): T;
  /**
   * Names whose personal data the route touches (`{ param: 'id' }`, `'token'` for the caller, or
   * a function of the request), recorded in the audit trail so the access and exposure reports
   * count the read, on routes that only check scopes too (403 `data_subject_unresolved` when it
   * cannot be resolved).
   */
  dataSubject(subject: NonNullable<Requirement['dataSubject']>): T;
}

/**
 * Builds the {@link RouteSteps} of an adapter from its one step factory, so every adapter maps the
 * same helper to the same {@link Requirement}.
 *
 * @example
 * const steps = routeSteps((requirement) => guard(requirement, warden));
 * app.get('/orders', steps.requireScopes('orders:read'), handler);
 */
export function routeSteps<T>(step: (requirement: Requirement) => T): RouteSteps<T> {
  return {
    requireScopes: (...scopes) => step({ scopes }),
    requireAnyScope: (...scopes) => step({ anyScopes: scopes }),
    claimEquals: (claim, value) => step({ claims: [{ claim, equals: value }] }),
    claimIncludes: (claim, ...values) => step({ claims: [{ claim, includes: values }] }),
    claimCheck: (check) => step({ claims: [{ check }] }),
    requireConsent: (purpose, options = {}) => step({ consent: { purpose, ...options } }),
    lawfulBasis: (basis, options = {}) => step({ lawfulBasis: { basis, ...options } }),
    publicRoute: () => step({ public: true }),
    requireDpop: () => step({ dpop: 'required' }),
    dataSubject: (subject) => step({ dataSubject: subject }),
  };
}
