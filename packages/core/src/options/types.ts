import type { Clock } from '../internal/clock';
import type { Logger } from '../internal/logger';
import type { CredentialStore } from '../store/credential-types';
import type { AuditOptions } from '../audit/options';
import type { MetricsOptions } from '../metrics/types';
import type { StateCacheOptions } from '../store/caching-store';
import type { WardenStore } from '../store/types';
import type { ClaimProfile } from '../verify/claims';
import type { KeyResolver } from '../verify/key-resolver';
import type { JwtAlgorithm, KeySelector, VerificationKey } from '../verify/key-ring';
import type { DpopOptions } from '../verify/dpop';
import type { TrustedIssuerOptions, TrustedIssuers } from '../verify/oidc';
import type { UsageLimits, UsageLimitsOptions } from '../limits/usage-limits';
import type { RoutePolicy } from '../internal/route-policy';
import type { RequestView } from '../request';
import type { RetentionOptions } from '../store/retention';

/**
 * JWT verification settings. The claim options (`permissionsClaim`, `requireTokenId`,
 * `scopeClaimFormat`, `audienceClaim`, `clientClaim`) fit the tokens of identity providers; their
 * defaults are the strict RFC 9068 profile.
 */
export interface JwtOptions extends ClaimProfile {
  /** Algorithms accepted; required, never `none`. Each key is bound to one of them. */
  readonly algorithms: readonly JwtAlgorithm[];
  /**
   * Verification keys, each bound to one `kid` and one algorithm; or a key selector that changes
   * over time (a `SigningKeyRing` that rotates, a `RemoteJwks`), whose keys must use the listed
   * algorithms; or a {@link KeyResolver}, `{ resolve(kid, alg) }`, for keys that live elsewhere
   * (asked once per key, cached; a failure answers 503 `key_source_unavailable`).
   */
  readonly keys: readonly VerificationKey[] | KeySelector | KeyResolver;
  /** Accepted `iss` value(s). Required. */
  readonly issuer: string | readonly string[];
  /** Accepted `aud` value(s). Required. */
  readonly audience: string | readonly string[];
  /** Longest accepted `exp - iat`, in ms. Default: 3600000 (1 hour). */
  readonly maxLifetimeMs?: number;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in ms. Default: 5000. */
  readonly clockToleranceMs?: number;
  /** Longest accepted `sub`, `jti`, `iss`, `client_id` and scope name, in characters. Default: 256. */
  readonly maxClaimLength?: number;
  /**
   * Further claims holding scopes, added to `scope`: a claim name (`'permissions'`), a JSON
   * Pointer into nested objects (`'/realm_access/roles'`), or a list of them; each value a list
   * of names or a space-delimited string. Default: none.
   */
  readonly permissionsClaim?: string | readonly string[];
  /**
   * Refuse tokens without `jti`. With `false`, such a token's id is `sha256:` plus the base64url
   * SHA-256 of the token: in the audit trail and for `revokeToken`. Default: true.
   */
  readonly requireTokenId?: boolean;
  /**
   * `'string'`: `scope` is space-delimited (RFC 9068); `'string-or-array'`: a list of names is
   * accepted too. Default: `'string'`.
   */
  readonly scopeClaimFormat?: 'string' | 'string-or-array';
  /** The claim checked against `audience` (`'client_id'` for Amazon Cognito). Default: `'aud'`. */
  readonly audienceClaim?: string;
  /** The claim naming the client (`'cid'` for Okta). Default: `client_id`, else `azp`. */
  readonly clientClaim?: string;
  /**
   * `typ` header values accepted besides `JWT` and `at+jwt` (RFC 9068), e.g.
   * `['application/example+jwt']`; compared case-insensitively, `application/` optional (RFC
   * 7515). A token whose `typ` names any other kind of JWT is refused with `token_malformed`
   * (RFC 8725 §3.11); a token without `typ` is accepted. Default: none further.
   */
  readonly acceptedTypes?: readonly string[];
}

/** DPoP (RFC 9449) sender-constrained tokens, as the warden checks them. */
export interface WardenDpopOptions extends Omit<DpopOptions, 'realm' | 'clock'> {
  /**
   * The origin clients address this API at (`https://api.example.com`, no path): a proof's `htu`
   * must be this origin plus the request path. Required: behind a proxy the request's own host
   * and scheme are not what the client signed.
   */
  readonly publicOrigin: string;
}

/** Where the credential is read from. */
export interface CredentialOptions {
  /** Header carrying `Bearer <token>`. Default: `'authorization'`. */
  readonly header?: string;
  /** Cookie carrying the token. Default: none. */
  readonly cookie?: string;
  /** Query parameter carrying the token. Default: none (URLs end up in logs). */
  readonly queryParameter?: string;
  /** Largest token accepted, in bytes, checked before parsing. Default: 8192. */
  readonly maxTokenBytes?: number;
  /**
   * Reads the token yourself, instead of the `header` (a custom header, a framework's session):
   * return the bare token, or `undefined` for none. Its token is still size-capped and
   * token68-checked, and it counts as one credential next to `cookie` and `queryParameter`. One
   * that throws or gives no string refuses the request (401 `token_malformed`). Default: none.
   *
   * @example
   * getToken: (request) => request.headerValues('x-access-token')?.[0]
   */
  readonly getToken?: (request: RequestView) => string | undefined;
  /**
   * What happens to a credential seen where it must not travel (the query string: `?access_token=`,
   * or a `twk_`/`twr_` key in any parameter, when `queryParameter` does not accept it there). The
   * request is refused as always; it is counted in `tokenwarden_credential_exposed_total{place}`
   * and written as a `credential.exposed` event with its fingerprint. `'revoke'` also revokes it
   * at once (a JWT of this warden's keys by `jti`, an API key or refresh token by hash). Default:
   * `'record'`: a URL is sometimes built by someone other than the credential's holder (a link
   * pasted into a chat, a crawler replaying logs), and revoking on sight would let anyone who
   * sees a credential cut off its owner; record, alert on the metric, then revoke deliberately.
   */
  readonly onExposure?: 'record' | 'revoke';
}

export type { Logger } from '../internal/logger';

/** A data-processing purpose a route may require consent for. */
export interface PurposeDefinition {
  /** What the processing is, for people reading the audit trail. */
  readonly description?: string;
}

/** API keys accepted next to JWTs. */
export interface ApiKeyOptions {
  /** Where key records are looked up by hash (`MemoryCredentialStore`, `RedisCredentialStore`). */
  readonly store: CredentialStore;
  /** Environments accepted in the key prefix (e.g. `['live']`). Default: any. */
  readonly environments?: readonly string[];
  /** How often last-used times are written, in ms (one batch, never a write per request). Default: 60000. */
  readonly usageFlushIntervalMs?: number;
}

/** The local caches. */
export interface CacheOptions {
  /**
   * Verified tokens kept, so a token seen before skips the signature check (LRU, keyed by the
   * full token text, each entry kept at most until the token's `exp`, all dropped when the key
   * ring changes). Revocation, scope and consent are still checked on every request. `0` turns
   * it off. Default: 10 000.
   */
  readonly tokens?: number;
  /**
   * Revocation marks and consent records kept locally in front of a store that announces its
   * changes (RedisStore, through pub/sub); every node drops an entry when any node changes it,
   * and the cache is bypassed while the announcements cannot be trusted. `false` turns it off.
   * Default: on, 50 000 entries.
   */
  readonly state?: StateCacheOptions | false;
}

/** Options of `createWarden`. `jwt` or `issuers` (or both) is required. */
export interface WardenOptions {
  /** Verification of the tokens this deployment issues (or one issuer's, with fixed keys). */
  readonly jwt?: JwtOptions;
  /**
   * External identity providers (Keycloak, Auth0, Entra ID, Okta…): each with its own audience,
   * algorithms and keys, found by OpenID discovery or a JWKS URL. A token goes to the issuer its
   * `iss` names, and only that issuer's keys can verify it; tokens of no listed issuer go to `jwt`.
   */
  readonly issuers?: readonly TrustedIssuerOptions[] | TrustedIssuers;
  /**
   * Accept DPoP-bound tokens (`Authorization: DPoP …` plus a `DPoP` proof): proof signature,
   * `htm`, `htu`, `iat` window, `jti` replay, `ath` and `cnf.jkt` are checked after the token.
   * `mode: 'required'` refuses Bearer tokens everywhere; a route may require it alone. Default: off.
   */
  readonly dpop?: WardenDpopOptions;
  /**
   * Usage limits per token, API key, client or subject (429 with `Retry-After` and `RateLimit`
   * headers), checked after revocation. Counters in memory unless a `RedisUsageLimiter` is given.
   */
  readonly limits?: UsageLimitsOptions | UsageLimits;
  /** Revocation marks and consent records. Default: a new `MemoryStore`. */
  readonly store?: WardenStore;
  /**
   * Purposes routes may require consent for, as names or a name → definition map. A route naming
   * any other purpose fails at start-up. Default: none.
   */
  readonly purposes?: readonly string[] | Readonly<Record<string, PurposeDefinition>>;
  /**
   * The policy (from `loadPolicyFile` or `checkPolicy` of `@tokenwarden/core/policy`): each
   * request on one of its `routes` must meet that route's scopes, consent or lawful basis and
   * data-subject rule, with no route step in code; steps in code add to it. Its purposes are
   * declared purposes. Default: none.
   */
  readonly policy?: RoutePolicy;
  /**
   * How long consent records and revocation marks outlive their use (the policy's `retention:`
   * block, through `wardenOptionsFromPolicy`). Default: the store's own.
   */
  readonly retention?: RetentionOptions;
  /** Where the credential is read from. */
  readonly credentials?: CredentialOptions;
  /** Paths open to everyone (exact strings or RegExps); a token, if sent, is still verified. */
  readonly publicPaths?: readonly (string | RegExp)[];
  /**
   * `false`: a request without any credential goes on anonymously (`req.auth` unset, audited as
   * `public_route`), as express-jwt's `credentialsRequired: false`; a credential that is sent is
   * still verified, and a bad one refused (401). Route steps that need scopes, claims or consent
   * still refuse anonymous requests (401 `token_missing`). Default: `true`.
   */
  readonly credentialsRequired?: boolean;
  /**
   * Audit trail settings. Default: on, one event per decision as JSON lines on standard output.
   * `false` runs with no audit trail at all, and logs a warning at start-up: only for tests and
   * throwaway tools, never where personal data is served. A trail without `audit.subjectKeys`
   * writes `subject` and `dataSubject` in clear and logs one warning at start-up saying so;
   * `audit.subjectKeys: false` states that choice and silences it.
   */
  readonly audit?: AuditOptions | false;
  /** Prometheus metrics; `false` turns them off. Default: a fresh registry per warden. */
  readonly metrics?: MetricsOptions | false;
  /** Local caches of verified tokens and of store state; `false` turns both off. */
  readonly cache?: CacheOptions | false;
  /**
   * Accept API keys (`twk_…`) wherever a JWT is accepted: same scopes, consent, revocation,
   * metrics and audit. Default: off (a key-shaped credential is then an unknown JWT).
   */
  readonly apiKeys?: ApiKeyOptions;
  /**
   * `realm` in `WWW-Authenticate`: printable ASCII, no quotes or backslashes (checked at
   * start-up). Default: `'api'`.
   */
  readonly realm?: string;
  /** Warnings and errors. Default: written to stderr. */
  readonly logger?: Logger;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}
