/**
 * The options of `TrustedIssuers` and their resolution: each configured issuer checked and turned
 * into its verification policy and key source (static keys, a JWKS URL, or OpenID discovery).
 */
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { optionKeys, rejectUnknownKeys } from '../internal/option-keys';
import { isSafeId } from '../internal/text';
import { resolveClaimProfile, type ClaimProfile } from './claims';
import { DiscoveredKeys } from './discovery';
import { RemoteJwks, type RemoteJwksOptions } from './jwks';
import type { JwtVerifyPolicy } from './jwt';
import {
  JWT_ALGORITHMS,
  KeyRing,
  type JwtAlgorithm,
  type KeySelector,
  type VerificationKey,
} from './key-ring';
import type { KeySourceFetchEvent } from './key-source';
import { checkRemoteAlgorithms } from './remote-key';

/** Remote key source tuning shared by discovery and JWKS fetches. */
export type KeySourceTuning = Pick<
  RemoteJwksOptions,
  'timeoutMs' | 'maxBytes' | 'cacheMaxAgeMs' | 'cooldownMs' | 'maxStaleMs' | 'maxKeys'
>;

/**
 * One trusted token issuer. Keys come from exactly one of: OpenID discovery (the default),
 * `jwksUri`, or static `keys`.
 */
export interface TrustedIssuerOptions extends ClaimProfile {
  /** The exact `iss` value (e.g. `https://tenant.eu.auth0.com/`); trailing slashes matter. */
  readonly issuer: string;
  /** Accepted `aud` value(s) for this issuer's tokens. Required. */
  readonly audience: string | readonly string[];
  /** Algorithms this issuer's tokens may use. Required; RS*, PS* or ES* for remote keys. */
  readonly algorithms: readonly JwtAlgorithm[];
  /**
   * Read `<issuer>/.well-known/openid-configuration` for `jwks_uri` (`true`), or the given
   * discovery URL (e.g. an RFC 8414 `/.well-known/oauth-authorization-server` URL). The document's
   * `issuer` must equal {@link issuer}. Default: true unless `jwksUri` or `keys` is given.
   */
  readonly discovery?: boolean | string;
  /** The JWKS URL, skipping discovery. */
  readonly jwksUri?: string;
  /** Static verification keys instead of a remote source. */
  readonly keys?: readonly VerificationKey[];
  /** Longest accepted `exp - iat`, in ms. Default: the shared setting. */
  readonly maxLifetimeMs?: number;
  /**
   * Further claims holding scopes (`'permissions'` for Auth0, `['scp', 'roles']` for Entra ID,
   * `'/realm_access/roles'` for Keycloak), each a list or a space-delimited string. Default: the
   * shared setting. The other claim options (`requireTokenId`, `scopeClaimFormat`,
   * `audienceClaim`, `clientClaim`) also default to the shared setting.
   */
  readonly permissionsClaim?: string | readonly string[];
  /** Fetch and cache tuning for this issuer. Default: the shared setting. */
  readonly keySource?: KeySourceTuning;
}

/**
 * Options of `TrustedIssuers`. The claim options (`permissionsClaim`, `requireTokenId`,
 * `scopeClaimFormat`, `audienceClaim`, `clientClaim`) apply to every issuer that sets none.
 */
export interface TrustedIssuersOptions extends ClaimProfile {
  /** The issuers whose tokens are accepted; each `iss` once. */
  readonly issuers: readonly TrustedIssuerOptions[];
  /** Longest accepted `exp - iat`, in ms. Default: 3600000 (1 hour). */
  readonly maxLifetimeMs?: number;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in ms. Default: 5000. */
  readonly clockToleranceMs?: number;
  /** Longest accepted `sub`, `jti`, `iss`, `client_id` and scope name. Default: 256. */
  readonly maxClaimLength?: number;
  /** Fetch and cache tuning of every remote source (see {@link RemoteJwksOptions}). */
  readonly keySource?: KeySourceTuning;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
  /** Called after every discovery or JWKS fetch, with the issuer, for metrics and logs. */
  readonly onFetch?: (issuer: string, event: KeySourceFetchEvent) => void;
}

const CLAIM_PROFILE_KEYS = [
  'permissionsClaim',
  'requireTokenId',
  'scopeClaimFormat',
  'audienceClaim',
  'clientClaim',
] as const;

/** Every option of one trusted issuer (held to the interface by the compiler). */
const ISSUER_OPTION_KEYS = optionKeys<TrustedIssuerOptions>()([
  'issuer',
  'audience',
  'algorithms',
  'discovery',
  'jwksUri',
  'keys',
  'maxLifetimeMs',
  'keySource',
  ...CLAIM_PROFILE_KEYS,
]);

const ISSUERS_OPTION_KEYS = optionKeys<TrustedIssuersOptions>()([
  'issuers',
  'maxLifetimeMs',
  'clockToleranceMs',
  'maxClaimLength',
  'keySource',
  'clock',
  'onFetch',
  ...CLAIM_PROFILE_KEYS,
]);

const KEY_SOURCE_OPTION_KEYS = optionKeys<KeySourceTuning>()([
  'timeoutMs',
  'maxBytes',
  'cacheMaxAgeMs',
  'cooldownMs',
  'maxStaleMs',
  'maxKeys',
]);

/** An issuer after validation: its policy and its key source. */
export interface Issuer {
  readonly issuer: string;
  readonly policy: JwtVerifyPolicy;
  readonly source: KeySelector;
}

/**
 * Checks `options` and resolves every issuer in it, in order: the first mistake throws a
 * `ConfigError` naming the option. Remote sources are created here but fetch nothing yet.
 */
export function resolveIssuers(options: TrustedIssuersOptions): {
  readonly clock: Clock;
  readonly issuers: Map<string, Issuer>;
} {
  if (options === null || typeof options !== 'object' || !Array.isArray(options.issuers)) {
    throw new ConfigError(
      `'issuers' is required: list at least one { issuer, audience, algorithms }`,
    );
  }
  if (options.issuers.length === 0) {
    throw new ConfigError(`'issuers' is empty: list at least one { issuer, audience, algorithms }`);
  }
  rejectUnknownKeys(options, ISSUERS_OPTION_KEYS);
  rejectUnknownKeys(options.keySource, KEY_SOURCE_OPTION_KEYS, 'keySource.');
  const clock = options.clock ?? systemClock;
  const shared = {
    maxLifetimeMs: positive(options.maxLifetimeMs ?? 3_600_000, 'maxLifetimeMs'),
    clockToleranceMs: positive(options.clockToleranceMs ?? 5_000, 'clockToleranceMs', true),
    maxClaimLength: positive(options.maxClaimLength ?? 256, 'maxClaimLength'),
  };
  const profile = resolveClaimProfile(options, '');
  const byIssuer = new Map<string, Issuer>();
  options.issuers.forEach((entry, i) => {
    const option = `issuers[${i}]`;
    if (entry === null || typeof entry !== 'object')
      throw new ConfigError(`${option} must be an object`);
    rejectUnknownKeys(entry, ISSUER_OPTION_KEYS, `${option}.`);
    rejectUnknownKeys(entry.keySource, KEY_SOURCE_OPTION_KEYS, `${option}.keySource.`);
    if (!isSafeId(entry.issuer, 2048)) {
      throw new ConfigError(`${option}.issuer is required: the exact 'iss' of its tokens`);
    }
    if (byIssuer.has(entry.issuer)) {
      throw new ConfigError(`${option}.issuer '${entry.issuer}' is listed twice`);
    }
    const algorithms = [...(entry.algorithms ?? [])];
    if (algorithms.length === 0 || algorithms.some((a) => !JWT_ALGORITHMS.includes(a))) {
      throw new ConfigError(
        `${option}.algorithms is required: the algorithms this issuer signs with, e.g. ['RS256']`,
      );
    }
    const audience = list(entry.audience, `${option}.audience`);
    const given = [
      entry.keys !== undefined,
      entry.jwksUri !== undefined,
      typeof entry.discovery === 'string' || entry.discovery === true,
    ].filter(Boolean).length;
    if (given > 1) {
      throw new ConfigError(`${option}: give only one of 'keys', 'jwksUri' and 'discovery'`);
    }
    const onFetch = options.onFetch;
    const jwksOptions: Omit<RemoteJwksOptions, 'url'> = {
      ...options.keySource,
      ...entry.keySource,
      algorithms,
      clock,
      ...(onFetch === undefined ? {} : { onFetch: (event) => onFetch(entry.issuer, event) }),
    };
    let source: Issuer['source'];
    if (entry.keys !== undefined) {
      source = new KeyRing(entry.keys, algorithms);
    } else {
      checkRemoteAlgorithms(algorithms, `${option}.algorithms`);
      if (entry.jwksUri !== undefined) {
        source = new RemoteJwks({ ...jwksOptions, url: entry.jwksUri }, `${option}.jwks`);
      } else if (entry.discovery === false) {
        throw new ConfigError(`${option}: with discovery off, give 'jwksUri' or 'keys'`);
      } else {
        const url =
          typeof entry.discovery === 'string'
            ? entry.discovery
            : `${entry.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
        source = new DiscoveredKeys(entry.issuer, url, jwksOptions, `${option}.discovery`);
        // Surfaces option mistakes (bad tuning values) now rather than at the first request.
        new RemoteJwks({ ...jwksOptions, url: 'https://localhost/' }, `${option}.keySource`);
      }
    }
    byIssuer.set(entry.issuer, {
      issuer: entry.issuer,
      source,
      policy: {
        ring: source,
        algorithms,
        issuer: entry.issuer,
        audience,
        maxLifetimeMs:
          entry.maxLifetimeMs === undefined
            ? shared.maxLifetimeMs
            : positive(entry.maxLifetimeMs, `${option}.maxLifetimeMs`),
        clockToleranceMs: shared.clockToleranceMs,
        maxClaimLength: shared.maxClaimLength,
        ...resolveClaimProfile(entry, `${option}.`, profile),
      },
    });
  });
  return { clock, issuers: byIssuer };
}

function positive(value: number, name: string, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new ConfigError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

function list(value: string | readonly string[], name: string): [string, ...string[]] {
  const values = typeof value === 'string' ? [value] : [...(value ?? [])];
  if (values.length === 0 || values.some((v) => typeof v !== 'string' || v === '')) {
    throw new ConfigError(`${name} is required: give the accepted value (or a list of them)`);
  }
  return values as [string, ...string[]];
}
