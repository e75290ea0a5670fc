import type { LawfulBasis } from './gdpr';

/**
 * Whose personal data a route touches: a path parameter of the route (`{ param: 'id' }`), or
 * `'token'`, the caller itself (the token's subject).
 */
export type PolicyDataSubject = { readonly param: string } | 'token';

/** A route the policy declares, with what it requires. */
export interface PolicyRoute {
  readonly method: string;
  /** The path template, e.g. `/customers/:id`. */
  readonly path: string;
  readonly scopes: readonly string[];
  readonly purpose?: string;
  readonly lawfulBasis?: LawfulBasis;
  /** Whose personal data the route touches, when it says. */
  readonly dataSubject?: PolicyDataSubject;
  /** Open to everyone (a token, if sent, is still verified). */
  readonly public?: boolean;
}

/**
 * What the request path reads of a policy: its routes, the purposes' lawful bases and the scopes'
 * data categories. A validated `Policy` (from `@tokenwarden/core/policy`) is one.
 */
export interface RoutePolicy {
  readonly purposes: Readonly<Record<string, { readonly lawfulBasis: LawfulBasis | 'consent' }>>;
  readonly scopes: Readonly<Record<string, { readonly dataCategories: readonly string[] }>>;
  readonly routes?: readonly PolicyRoute[];
}
