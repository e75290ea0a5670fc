import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { resolveAuditOptions, type ResolvedAuditOptions } from '../audit/options';
import type { MetricsOptions } from '../metrics/types';
import type { RoutePolicy } from '../internal/route-policy';
import type { StateCacheOptions } from '../store/caching-store';
import { resolveRetention, type ResolvedRetention } from '../store/retention';
import type { WardenStore } from '../store/types';
import { JWT_ALGORITHMS, isKeySelector, KeyRing } from '../verify/key-ring';
import { ACCESS_TOKEN_TYPES, mediaTypeOf } from '../verify/jws';
import type { JwtVerifyPolicy } from '../verify/jwt';
import { resolveClaimProfile } from '../verify/claims';
import { isKeyResolver, ResolvedKeys } from '../verify/key-resolver';
import type { ExtractPolicy } from '../verify/extract';
import { TrustedIssuers, type TrustedIssuerOptions } from '../verify/oidc';
import type { UsageLimits, UsageLimitsOptions } from '../limits/usage-limits';
import { DEFAULTS } from './defaults';
import { rejectUnknownOptions } from './known-keys';
import type { ApiKeyOptions, JwtOptions, Logger, WardenDpopOptions, WardenOptions } from './types';

/**
 * Options after validation, with every default applied: plain data. The composition root
 * (`pipeline/compose.ts`) builds the live collaborators (stores, verifiers, limiters) from it.
 */
export interface ResolvedOptions {
  /** Verification of tokens from no configured external issuer; undefined with `issuers` only. */
  readonly jwt: JwtVerifyPolicy | undefined;
  /** Claim limits for lifecycle calls and data-subject ids (from `jwt`, else the defaults). */
  readonly claims: {
    readonly maxLifetimeMs: number;
    readonly clockToleranceMs: number;
    readonly maxClaimLength: number;
  };
  /** Trusted identity providers, as given (a list of options, or a ready `TrustedIssuers`). */
  readonly issuers: readonly TrustedIssuerOptions[] | TrustedIssuers | undefined;
  /** DPoP settings and the validated public origin. */
  readonly dpop: { readonly options: WardenDpopOptions; readonly origin: string } | undefined;
  /** Usage limits, as given. */
  readonly limits: UsageLimitsOptions | UsageLimits | undefined;
  readonly extract: ExtractPolicy;
  /** What happens to a credential seen in a refused place (`credentials.onExposure`). */
  readonly onExposure: 'record' | 'revoke';
  /** The store given; undefined when the warden makes (and owns) a `MemoryStore`. */
  readonly store: WardenStore | undefined;
  readonly ownsStore: boolean;
  readonly purposes: ReadonlySet<string>;
  /** The `retention` option; undefined: the store's own defaults. */
  readonly retention: ResolvedRetention | undefined;
  /** The policy whose routes the warden enforces, when given. */
  readonly policy: RoutePolicy | undefined;
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

/** Logs through `logger` at most once a minute per message, so a failing backend cannot flood it. */
export function rateLimitedLog(logger: Logger): (message: string, error: unknown) => void {
  const lastLogAt = new Map<string, number>();
  return (message, error) => {
    const now = Date.now();
    if ((lastLogAt.get(message) ?? 0) > now - 60_000) return;
    lastLogAt.set(message, now);
    logger.error(message, {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  };
}

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

/** The claim limits, validated, with their defaults. */
export function resolveClaimLimits(
  options: {
    readonly maxLifetimeMs?: number;
    readonly clockToleranceMs?: number;
    readonly maxClaimLength?: number;
  },
  prefix = '',
): ResolvedOptions['claims'] {
  return {
    maxLifetimeMs: positive(
      options.maxLifetimeMs ?? DEFAULTS.maxLifetimeMs,
      `${prefix}maxLifetimeMs`,
      'ms',
    ),
    clockToleranceMs: positive(
      options.clockToleranceMs ?? DEFAULTS.clockToleranceMs,
      `${prefix}clockToleranceMs`,
      'ms',
      true,
    ),
    maxClaimLength: positive(
      options.maxClaimLength ?? DEFAULTS.maxClaimLength,
      `${prefix}maxClaimLength`,
      'characters',
    ),
  };
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
  const tokens = cache?.tokens ?? DEFAULTS.tokenCacheEntries;
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

/** The declared purposes and the policy's. */
function withPolicyPurposes(names: ReadonlySet<string>, policy: RoutePolicy | undefined) {
  if (policy?.purposes === null || typeof policy?.purposes !== 'object') return names;
  return new Set([...names, ...Object.keys(policy.purposes)]);
}

/** Validates options and applies defaults. Throws {@link ConfigError} naming the option to fix. */
export function resolveOptions(options: WardenOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('createWarden needs an options object with at least { jwt }');
  }
  rejectUnknownOptions(options);
  const jwt =
    options.jwt === undefined ? undefined : resolveJwt(options.jwt, options.clock ?? systemClock);
  const issuers = resolveIssuers(options.issuers);
  if (jwt === undefined && issuers === undefined) {
    throw new ConfigError(
      "'jwt' or 'issuers' is required: { jwt: { algorithms, keys, issuer, audience } } for your own tokens, { issuers: [{ issuer, audience, algorithms }] } for an identity provider's",
    );
  }
  const dpop = resolveDpop(options.dpop);
  const credentials = options.credentials ?? {};
  return {
    jwt,
    claims: jwt ?? resolveClaimLimits({}),
    issuers,
    dpop,
    limits: options.limits,
    extract: {
      dpop: dpop !== undefined,
      header: (credentials.header ?? DEFAULTS.header).toLowerCase(),
      cookie: credentials.cookie,
      queryParameter: credentials.queryParameter,
      maxTokenBytes: positive(
        credentials.maxTokenBytes ?? DEFAULTS.maxTokenBytes,
        'credentials.maxTokenBytes',
        'bytes',
      ),
      ...tokenSource(credentials.getToken, options.credentialsRequired),
    },
    onExposure: resolveOnExposure(credentials.onExposure),
    store: options.store,
    ownsStore: options.store === undefined,
    purposes: withPolicyPurposes(resolvePurposes(options.purposes), options.policy),
    policy: options.policy,
    retention: resolveRetention(options.retention),
    publicPaths: options.publicPaths ?? [],
    audit: resolveAuditOptions(options.audit),
    metrics: options.metrics ?? {},
    cache: resolveCache(options.cache),
    apiKeys: resolveApiKeys(options.apiKeys),
    realm: resolveRealm(options.realm),
    logger: options.logger ?? stderrLogger,
    clock: options.clock ?? systemClock,
  };
}

/** `credentials.onExposure`, validated. */
function resolveOnExposure(value: unknown): 'record' | 'revoke' {
  if (value === undefined) return DEFAULTS.onExposure;
  if (value !== 'record' && value !== 'revoke') {
    throw new ConfigError("credentials.onExposure must be 'record' or 'revoke'");
  }
  return value;
}

/** `credentials.getToken` and `credentialsRequired`, validated. */
function tokenSource(
  getToken: unknown,
  required: unknown,
): Pick<ExtractPolicy, 'getToken' | 'required'> {
  if (getToken !== undefined && typeof getToken !== 'function') {
    throw new ConfigError('credentials.getToken must be a function of the request');
  }
  if (required !== undefined && typeof required !== 'boolean') {
    throw new ConfigError('credentialsRequired must be true or false');
  }
  return {
    ...(getToken !== undefined ? { getToken: getToken as ExtractPolicy['getToken'] } : {}),
    ...(required === false ? { required: false } : {}),
  };
}

/**
 * The `realm` of every challenge: written into `WWW-Authenticate` as a quoted string, so it must
 * not end the string early (a quote or backslash) or break the header (a control character).
 */
function resolveRealm(realm: WardenOptions['realm']): string {
  if (realm === undefined) return DEFAULTS.realm;
  if (typeof realm !== 'string' || !/^[\x20-\x7e]+$/.test(realm) || /["\\]/.test(realm)) {
    throw new ConfigError(
      "realm must be printable ASCII text without quotes or backslashes, e.g. 'api'",
    );
  }
  return realm;
}

function resolveJwt(jwtOptions: JwtOptions, clock: Clock): JwtVerifyPolicy {
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
  // Static keys are parsed and checked here (a key ring is immutable data); a selector is kept.
  const keys = jwtOptions.keys;
  const ring = isKeySelector(keys)
    ? keys
    : isKeyResolver(keys)
      ? new ResolvedKeys(keys, algorithms, clock)
      : new KeyRing(keys, algorithms);
  return {
    ring,
    algorithms: [...algorithms],
    issuer: list(jwtOptions.issuer, 'jwt.issuer'),
    audience: list(jwtOptions.audience, 'jwt.audience'),
    ...resolveClaimLimits(jwtOptions, 'jwt.'),
    ...resolveClaimProfile(jwtOptions, 'jwt.'),
    acceptedTypes: resolveAcceptedTypes(jwtOptions.acceptedTypes),
  };
}

// RFC 6838 §4.2: a type or subtype name, 1 to 127 of these characters.
const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?$/;

/** The `typ` values accepted: the access-token types plus `jwt.acceptedTypes`, as media types. */
function resolveAcceptedTypes(types: JwtOptions['acceptedTypes']): ReadonlySet<string> {
  if (types === undefined) return ACCESS_TOKEN_TYPES;
  if (!Array.isArray(types)) {
    throw new ConfigError("jwt.acceptedTypes must be a list of typ values, e.g. ['example+jwt']");
  }
  const accepted = new Set(ACCESS_TOKEN_TYPES);
  for (const type of types as readonly unknown[]) {
    if (typeof type !== 'string' || !MEDIA_TYPE.test(type)) {
      throw new ConfigError(
        `jwt.acceptedTypes: '${String(type)}' is not a media type; write it as 'example+jwt' or 'application/example+jwt'`,
      );
    }
    accepted.add(mediaTypeOf(type));
  }
  return accepted;
}

function resolveIssuers(issuers: WardenOptions['issuers']): ResolvedOptions['issuers'] {
  if (issuers === undefined) return undefined;
  if (!Array.isArray(issuers) && !(issuers instanceof TrustedIssuers)) {
    throw new ConfigError(
      "'issuers' must be a list of { issuer, audience, algorithms } (or a TrustedIssuers)",
    );
  }
  return issuers;
}

function resolveDpop(dpop: WardenOptions['dpop']): ResolvedOptions['dpop'] {
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
  return { options: dpop, origin: origin.origin };
}
