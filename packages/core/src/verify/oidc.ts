import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { optionKeys, rejectUnknownKeys } from '../internal/option-keys';
import { isSafeId } from '../internal/text';
import { DiscoveredKeys } from './discovery';
import { RemoteJwks, type RemoteJwksOptions } from './jwks';
import { KeySourceError, type KeySourceErrorCode, type KeySourceFetchEvent } from './key-source';
import { checkRemoteAlgorithms } from './remote-key';
import { resolveClaimProfile, type ClaimProfile } from './claims';
import type { VerifyDetail } from './details';
import { verifyJwt, type JwtVerifyPolicy, type VerifyFailure, type VerifyResult } from './jwt';
import {
  JWT_ALGORITHMS,
  KeyRing,
  MAX_KID_LENGTH,
  type JwtAlgorithm,
  type KeySelector,
  type VerificationKey,
} from './key-ring';

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
 * Options of {@link TrustedIssuers}. The claim options (`permissionsClaim`, `requireTokenId`,
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

/** A verification failure of {@link TrustedIssuers.verify}. */
export interface IssuerVerifyFailure extends Omit<VerifyFailure, 'code'> {
  readonly code: VerifyFailure['code'] | KeySourceErrorCode;
  /**
   * For `key_source_unavailable`, why the keys could not be read (`timeout`, `HTTP 503`…): for
   * logs, never sent to clients.
   */
  readonly reason?: string;
}

/** The result of {@link TrustedIssuers.verify}. */
export type IssuerVerifyResult =
  | Extract<VerifyResult, { ok: true }>
  | { readonly ok: false; readonly failure: IssuerVerifyFailure };

/** What {@link TrustedIssuers.prepare} answers: the issuer's policy, ready for `verifyJwt`. */
export type PreparedIssuer =
  | { readonly ok: true; readonly issuer: string; readonly policy: JwtVerifyPolicy }
  | { readonly ok: false; readonly failure: IssuerVerifyFailure };

/** How one issuer stands, from {@link TrustedIssuers.load}. */
export interface IssuerStatus {
  readonly issuer: string;
  readonly ok: boolean;
  /** For failures, the short reason (`timeout`, `HTTP 503`, `issuer mismatch`...). */
  readonly reason?: string;
}

const DEFAULT_TOKEN_SEGMENT_LIMIT = 16_384;

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
interface Issuer {
  readonly issuer: string;
  readonly policy: JwtVerifyPolicy;
  readonly source: KeySelector;
}

/**
 * Several trusted issuers at once, each with its own audience, algorithms and keys. A token's
 * unverified `iss` only picks which configured issuer's policy verifies it; that issuer's keys,
 * audience and algorithms then decide, so a key of one issuer is never accepted for another.
 * Keys come from OpenID discovery, a JWKS URL or static keys, per issuer.
 *
 * @example
 * const issuers = new TrustedIssuers({
 *   issuers: [
 *     { issuer: 'https://tenant.eu.auth0.com/', audience: 'https://api.example.com', algorithms: ['RS256'] },
 *     { issuer: 'https://sso.example.com/realms/staff', audience: 'orders-api', algorithms: ['ES256'] },
 *   ],
 * });
 * await issuers.load();                        // optional warm-up; never throws
 * const result = await issuers.verify(token);  // { ok, token } or { ok: false, failure }
 */
export class TrustedIssuers {
  private readonly byIssuer = new Map<string, Issuer>();
  private readonly clock: Clock;

  constructor(options: TrustedIssuersOptions) {
    if (options === null || typeof options !== 'object' || !Array.isArray(options.issuers)) {
      throw new ConfigError(
        `'issuers' is required: list at least one { issuer, audience, algorithms }`,
      );
    }
    if (options.issuers.length === 0) {
      throw new ConfigError(
        `'issuers' is empty: list at least one { issuer, audience, algorithms }`,
      );
    }
    rejectUnknownKeys(options, ISSUERS_OPTION_KEYS);
    rejectUnknownKeys(options.keySource, KEY_SOURCE_OPTION_KEYS, 'keySource.');
    this.clock = options.clock ?? systemClock;
    const shared = {
      maxLifetimeMs: positive(options.maxLifetimeMs ?? 3_600_000, 'maxLifetimeMs'),
      clockToleranceMs: positive(options.clockToleranceMs ?? 5_000, 'clockToleranceMs', true),
      maxClaimLength: positive(options.maxClaimLength ?? 256, 'maxClaimLength'),
    };
    const profile = resolveClaimProfile(options, '');
    options.issuers.forEach((entry, i) => {
      const option = `issuers[${i}]`;
      if (entry === null || typeof entry !== 'object')
        throw new ConfigError(`${option} must be an object`);
      rejectUnknownKeys(entry, ISSUER_OPTION_KEYS, `${option}.`);
      rejectUnknownKeys(entry.keySource, KEY_SOURCE_OPTION_KEYS, `${option}.keySource.`);
      if (!isSafeId(entry.issuer, 2048)) {
        throw new ConfigError(`${option}.issuer is required: the exact 'iss' of its tokens`);
      }
      if (this.byIssuer.has(entry.issuer)) {
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
        clock: this.clock,
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
      this.byIssuer.set(entry.issuer, {
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
  }

  /** The configured issuers' `iss` values. */
  get issuers(): readonly string[] {
    return [...this.byIssuer.keys()];
  }

  /**
   * Changes whenever any issuer's key set changes (the sum of their versions, each of which only
   * grows), so a cache of verified tokens knows to drop what it holds.
   */
  get version(): number {
    let sum = 0;
    for (const issuer of this.byIssuer.values()) sum += issuer.source.version;
    return sum;
  }

  /** The verification policy of one configured issuer, or undefined. */
  policyFor(issuer: string): JwtVerifyPolicy | undefined {
    return this.byIssuer.get(issuer)?.policy;
  }

  /**
   * Picks the issuer from the token's unverified `iss` (only among configured issuers) and makes
   * sure its keys can answer for the token's `kid`. Nothing is trusted yet: pass the policy to
   * `verifyJwt`. Failures: `token_malformed`, `issuer_invalid`, `key_source_unavailable`.
   */
  async prepare(token: string): Promise<PreparedIssuer> {
    const peek = peekToken(token);
    if (peek === undefined) return failure('token_malformed', 'not a readable compact JWS');
    if (peek.iss === undefined) return failure('issuer_invalid', 'iss missing');
    return (
      (await this.prepareIssuer(peek.iss, peek.kid)) ??
      failure('issuer_invalid', 'iss is not a trusted issuer')
    );
  }

  /**
   * {@link prepare} for a token whose unverified `iss` names one of these issuers; `undefined` for
   * any other token (unreadable, no `iss`, another issuer), which another verifier may take.
   */
  async prepareIfOwn(token: string): Promise<PreparedIssuer | undefined> {
    const peek = peekToken(token);
    return peek?.iss === undefined ? undefined : this.prepareIssuer(peek.iss, peek.kid);
  }

  private async prepareIssuer(
    iss: string,
    kid: string | undefined,
  ): Promise<PreparedIssuer | undefined> {
    const issuer = this.byIssuer.get(iss);
    if (issuer === undefined) return undefined;
    try {
      await issuer.source.prepare?.(kid);
    } catch (error) {
      if (error instanceof KeySourceError) {
        return {
          ok: false,
          failure: {
            code: 'key_source_unavailable',
            detail: 'the keys of a trusted issuer could not be read',
            reason: error.reason,
          },
        };
      }
      throw error;
    }
    return { ok: true, issuer: issuer.issuer, policy: issuer.policy };
  }

  /** {@link prepare}, then strict `verifyJwt` with the chosen issuer's policy. Never throws. */
  async verify(token: string, nowMs: number = this.clock.now()): Promise<IssuerVerifyResult> {
    const prepared = await this.prepare(token);
    if (!prepared.ok) return prepared;
    return verifyJwt(token, prepared.policy, nowMs);
  }

  /**
   * Discovers and loads every remote issuer now, for warm-up and readiness probes. Never throws:
   * a provider that is down is reported, and retried on demand later.
   */
  async load(): Promise<IssuerStatus[]> {
    return Promise.all(
      [...this.byIssuer.values()].map(async ({ issuer, source }): Promise<IssuerStatus> => {
        if (!(source instanceof RemoteJwks || source instanceof DiscoveredKeys)) {
          return { issuer, ok: true };
        }
        try {
          await source.load();
          return { issuer, ok: true };
        } catch (error) {
          const reason = error instanceof KeySourceError ? error.reason : 'error';
          return { issuer, ok: false, reason };
        }
      }),
    );
  }
}

function failure(code: IssuerVerifyFailure['code'], detail: VerifyDetail): PreparedIssuer {
  return { ok: false, failure: { code, detail } };
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The unverified `iss` and `kid` of a compact JWS, or undefined when it cannot be read. */
function peekToken(token: string): { iss?: string; kid?: string } | undefined {
  if (typeof token !== 'string' || token.length > 4 * DEFAULT_TOKEN_SEGMENT_LIMIT) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p)) return undefined;
  const header = parseObject(h);
  const payload = parseObject(p);
  if (header === undefined || payload === undefined) return undefined;
  const out: { iss?: string; kid?: string } = {};
  if (typeof payload.iss === 'string') out.iss = payload.iss;
  if (typeof header.kid === 'string' && header.kid.length <= MAX_KID_LENGTH) out.kid = header.kid;
  return out;
}

function parseObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return value as Record<string, unknown>;
  } catch {
    return undefined;
  }
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
