/**
 * Every default of the warden's options, in one place: the option types document them, the
 * resolver applies them, and the admin API and the issuers reuse them.
 */
export const DEFAULTS = Object.freeze({
  /** Longest accepted `exp - iat`, in ms (1 hour). */
  maxLifetimeMs: 3_600_000,
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in ms. */
  clockToleranceMs: 5_000,
  /** Longest accepted id or claim (`sub`, `jti`, `iss`, `client_id`, scope), in characters. */
  maxClaimLength: 256,
  /** Header carrying the credential. */
  header: 'authorization',
  /** Largest credential accepted, in bytes, checked before parsing. */
  maxTokenBytes: 8192,
  /** Verified tokens kept in the token cache. */
  tokenCacheEntries: 10_000,
  /** What happens to a credential seen in the query string: counted and audited only. */
  onExposure: 'record' as 'record' | 'revoke',
  /** `realm` of `WWW-Authenticate`. */
  realm: 'api',
});
