import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import type { CredentialStore } from '../issue/credential-store';
import type { StateCacheOptions } from '../store/caching-store';
import {
  resolveAuditOptions,
  type AuditOptions,
  type ResolvedAuditOptions,
} from '../audit/options';
import type { MetricsOptions } from '../metrics/types';
import { MemoryStore } from '../store/memory-store';
import type { WardenStore } from '../store/types';
import {
  JWT_ALGORITHMS,
  isKeySelector,
  KeyRing,
  type KeySelector,
  type JwtAlgorithm,
  type VerificationKey,
} from '../verify/key-ring';
import type { JwtVerifyPolicy } from '../verify/jwt';
import type { ExtractPolicy } from '../verify/extract';
import { DpopVerifier, type DpopOptions } from '../verify/dpop';
import { TrustedIssuers, type TrustedIssuerOptions } from '../verify/oidc';
import type { KeySourceFetchEvent } from '../verify/jwks';
import { UsageLimits, type UsageLimitsOptions } from '../limits/usage-limits';

/** JWT verification settings. */
export interface JwtOptions {
  /** Algorithms accepted; required, never `none`. Each key is bound to one of them. */
  readonly algorithms: readonly JwtAlgorithm[];
  /**
   * Verification keys, each bound to one `kid` and one algorithm; or a key selector that changes
   * over time (a `SigningKeyRing` that rotates, a remote JWKS), whose keys must use the listed
   * algorithms.
   */
  readonly keys: readonly VerificationKey[] | KeySelector;
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
  /** A claim holding an array of extra scopes (e.g. `'permissions'`). Default: none. */
  readonly permissionsClaim?: string;
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
}

/** Receives warnings and errors that must not interrupt requests. */
export interface Logger {
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

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
  /** Where the credential is read from. */
  readonly credentials?: CredentialOptions;
  /** Paths open to everyone (exact strings or RegExps); a token, if sent, is still verified. */
  readonly publicPaths?: readonly (string | RegExp)[];
  /** Audit trail settings. */
  readonly audit?: AuditOptions;
  /** Prometheus metrics; `false` turns them off. Default: a fresh registry per warden. */
  readonly metrics?: MetricsOptions | false;
  /** Local caches of verified tokens and of store state; `false` turns both off. */
  readonly cache?: CacheOptions | false;
  /**
   * Accept API keys (`twk_…`) wherever a JWT is accepted: same scopes, consent, revocation,
   * metrics and audit. Default: off (a key-shaped credential is then an unknown JWT).
   */
  readonly apiKeys?: ApiKeyOptions;
  /** `realm` in `WWW-Authenticate`. Default: `'api'`. */
  readonly realm?: string;
  /** Warnings and errors. Default: written to stderr. */
  readonly logger?: Logger;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Options after validation and defaults; used internally. */
export interface ResolvedOptions {
  /** Verification of tokens from no configured external issuer; undefined with `issuers` only. */
  readonly jwt: JwtVerifyPolicy | undefined;
  /** Claim limits for lifecycle calls and data-subject ids (from `jwt`, else the defaults). */
  readonly claims: {
    readonly maxLifetimeMs: number;
    readonly clockToleranceMs: number;
    readonly maxClaimLength: number;
  };
  readonly issuers: TrustedIssuers | undefined;
  readonly dpop: { readonly verifier: DpopVerifier; readonly origin: string } | undefined;
  readonly limits: { readonly limits: UsageLimits; readonly owned: boolean } | undefined;
  readonly extract: ExtractPolicy;
  readonly store: WardenStore;
  readonly ownsStore: boolean;
  readonly purposes: ReadonlySet<string>;
  readonly publicPaths: readonly (string | RegExp)[];
  readonly audit: ResolvedAuditOptions;
  readonly metrics: MetricsOptions | false;
  readonly cache: { readonly tokens: number; readonly state: StateCacheOptions | false };
  readonly apiKeys: ApiKeyOptions | undefined;
  readonly realm: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** Default logger: stderr, with a `[tokenwarden]` prefix. */
export const stderrLogger: Logger = {
  warn: (message, fields) => console.warn(`[tokenwarden] ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`[tokenwarden] ${message}`, fields ?? ''),
};

function list(value: string | readonly string[], name: string): [string, ...string[]] {
  const values = typeof value === 'string' ? [value] : [...(value ?? [])];
  if (values.length === 0 || values.some((v) => typeof v !== 'string' || v === '')) {
    throw new ConfigError(`${name} is required: give the accepted value (or a list of them)`);
  }
  return values as [string, ...string[]];
}

/** A positive (or non-negative) finite number, else ConfigError naming the option. */
export function positive(value: number, name: string, unit: string, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new ConfigError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of ${unit}`,
    );
  }
  return value;
}

function resolveApiKeys(apiKeys: WardenOptions['apiKeys']): ApiKeyOptions | undefined {
  if (apiKeys === undefined) return undefined;
  if (typeof apiKeys?.store?.findApiKey !== 'function') {
    throw new ConfigError(
      'apiKeys.store must be a credential store (MemoryCredentialStore, RedisCredentialStore)',
    );
  }
  if (apiKeys.usageFlushIntervalMs !== undefined) {
    positive(apiKeys.usageFlushIntervalMs, 'apiKeys.usageFlushIntervalMs', 'ms');
  }
  return apiKeys;
}

function resolveCache(cache: WardenOptions['cache']): ResolvedOptions['cache'] {
  if (cache === false) return { tokens: 0, state: false };
  const tokens = cache?.tokens ?? 10_000;
  if (!Number.isSafeInteger(tokens) || tokens < 0) {
    throw new ConfigError('cache.tokens must be a whole number of tokens (0 turns the cache off)');
  }
  const state = cache?.state ?? {};
  if (state !== false) {
    const { maxEntries, maxAgeMs } = state;
    if (maxEntries !== undefined && (!Number.isSafeInteger(maxEntries) || maxEntries < 0)) {
      throw new ConfigError('cache.state.maxEntries must be a whole number of entries');
    }
    if (maxAgeMs !== undefined) positive(maxAgeMs, 'cache.state.maxAgeMs', 'ms');
  }
  return { tokens, state };
}

/** The declared purpose names, validated. */
export function resolvePurposes(purposes: WardenOptions['purposes']): ReadonlySet<string> {
  const names = new Set(
    Array.isArray(purposes) ? (purposes as readonly string[]) : Object.keys(purposes ?? {}),
  );
  for (const p of names) {
    if (typeof p !== 'string' || p === '' || p.length > 64)
      throw new ConfigError(`purposes: '${String(p)}' must be 1 to 64 characters`);
  }
  return names;
}

/** What the warden observes while resolved parts run (key fetches, for metrics). */
export interface ResolveHooks {
  readonly onKeyFetch?: (event: KeySourceFetchEvent) => void;
}

/** Validates options and applies defaults. Throws {@link ConfigError} naming the option to fix. */
export function resolveOptions(options: WardenOptions, hooks: ResolveHooks = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('createWarden needs an options object with at least { jwt }');
  }
  const clock = options.clock ?? systemClock;
  const jwt = options.jwt === undefined ? undefined : resolveJwt(options.jwt);
  const issuers = resolveIssuers(options.issuers, clock, hooks.onKeyFetch);
  if (jwt === undefined && issuers === undefined) {
    throw new ConfigError(
      "'jwt' or 'issuers' is required: { jwt: { algorithms, keys, issuer, audience } } for your own tokens, { issuers: [{ issuer, audience, algorithms }] } for an identity provider's",
    );
  }
  const realm = options.realm ?? 'api';
  const dpop = resolveDpop(options.dpop, realm, clock);
  const credentials = options.credentials ?? {};
  const header = (credentials.header ?? 'authorization').toLowerCase();
  const purposes = resolvePurposes(options.purposes);
  const audit = resolveAuditOptions(options.audit);
  return {
    jwt,
    claims: {
      maxLifetimeMs: jwt?.maxLifetimeMs ?? 3_600_000,
      clockToleranceMs: jwt?.clockToleranceMs ?? 5_000,
      maxClaimLength: jwt?.maxClaimLength ?? 256,
    },
    issuers,
    dpop,
    limits: resolveLimits(options.limits),
    extract: {
      dpop: dpop !== undefined,
      header,
      cookie: credentials.cookie,
      queryParameter: credentials.queryParameter,
      maxTokenBytes: positive(
        credentials.maxTokenBytes ?? 8192,
        'credentials.maxTokenBytes',
        'bytes',
      ),
    },
    store: options.store ?? new MemoryStore({ clock: options.clock }),
    ownsStore: options.store === undefined,
    purposes,
    publicPaths: options.publicPaths ?? [],
    audit,
    metrics: options.metrics ?? {},
    cache: resolveCache(options.cache),
    apiKeys: resolveApiKeys(options.apiKeys),
    realm,
    logger: options.logger ?? stderrLogger,
    clock,
  };
}

function resolveJwt(jwtOptions: JwtOptions): JwtVerifyPolicy {
  if (jwtOptions === null || typeof jwtOptions !== 'object') {
    throw new ConfigError("'jwt' must be an object: { algorithms, keys, issuer, audience }");
  }
  const algorithms = jwtOptions.algorithms;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new ConfigError(
      "jwt.algorithms is required: list the algorithms your issuer signs with, e.g. ['RS256']",
    );
  }
  for (const alg of algorithms) {
    if (!JWT_ALGORITHMS.includes(alg)) {
      throw new ConfigError(
        `jwt.algorithms: '${String(alg)}' is not supported; use ${JWT_ALGORITHMS.join(', ')} ('none' is never accepted)`,
      );
    }
  }
  const ring = isKeySelector(jwtOptions.keys)
    ? jwtOptions.keys
    : new KeyRing(jwtOptions.keys, algorithms);
  return {
    ring,
    algorithms: [...algorithms],
    issuer: list(jwtOptions.issuer, 'jwt.issuer'),
    audience: list(jwtOptions.audience, 'jwt.audience'),
    maxLifetimeMs: positive(jwtOptions.maxLifetimeMs ?? 3_600_000, 'jwt.maxLifetimeMs', 'ms'),
    clockToleranceMs: positive(
      jwtOptions.clockToleranceMs ?? 5_000,
      'jwt.clockToleranceMs',
      'ms',
      true,
    ),
    maxClaimLength: positive(jwtOptions.maxClaimLength ?? 256, 'jwt.maxClaimLength', 'characters'),
    permissionsClaim: jwtOptions.permissionsClaim,
  };
}

function resolveIssuers(
  issuers: WardenOptions['issuers'],
  clock: Clock,
  onKeyFetch: ResolveHooks['onKeyFetch'],
): TrustedIssuers | undefined {
  if (issuers === undefined) return undefined;
  if (issuers instanceof TrustedIssuers) return issuers;
  if (!Array.isArray(issuers)) {
    throw new ConfigError(
      "'issuers' must be a list of { issuer, audience, algorithms } (or a TrustedIssuers)",
    );
  }
  return new TrustedIssuers({
    issuers,
    clock,
    ...(onKeyFetch
      ? { onFetch: (_issuer: string, event: KeySourceFetchEvent) => onKeyFetch(event) }
      : {}),
  });
}

function resolveDpop(
  dpop: WardenOptions['dpop'],
  realm: string,
  clock: Clock,
): ResolvedOptions['dpop'] {
  if (dpop === undefined) return undefined;
  if (dpop === null || typeof dpop !== 'object') {
    throw new ConfigError("'dpop' must be an object with at least { publicOrigin }");
  }
  let origin: URL | undefined;
  try {
    origin = new URL(dpop.publicOrigin);
  } catch {
    origin = undefined;
  }
  if (
    origin === undefined ||
    (origin.protocol !== 'https:' && origin.protocol !== 'http:') ||
    origin.pathname !== '/' ||
    origin.search !== '' ||
    origin.hash !== '' ||
    origin.username !== ''
  ) {
    throw new ConfigError(
      "dpop.publicOrigin is required: the origin clients address, e.g. 'https://api.example.com' (no path)",
    );
  }
  const verifier = new DpopVerifier({
    algorithms: dpop.algorithms,
    mode: dpop.mode,
    maxAgeMs: dpop.maxAgeMs,
    clockToleranceMs: dpop.clockToleranceMs,
    replayCache: dpop.replayCache,
    replayFailMode: dpop.replayFailMode,
    nonce: dpop.nonce,
    maxProofBytes: dpop.maxProofBytes,
    realm,
    clock,
  });
  return { verifier, origin: origin.origin };
}

function resolveLimits(limits: WardenOptions['limits']): ResolvedOptions['limits'] {
  if (limits === undefined) return undefined;
  if (limits instanceof UsageLimits) return { limits, owned: false };
  return { limits: new UsageLimits(limits), owned: true };
}
