import type { Clock } from '../internal/clock';
import { DiscoveredKeys } from './discovery';
import { RemoteJwks } from './jwks';
import { KeySourceError, type KeySourceErrorCode } from './key-source';
import type { VerifyDetail } from './details';
import { verifyJwt, type JwtVerifyPolicy, type VerifyFailure, type VerifyResult } from './jwt';
import { MAX_KID_LENGTH } from './key-ring';
import { resolveIssuers, type Issuer, type TrustedIssuersOptions } from './oidc-options';

export type { KeySourceTuning, TrustedIssuerOptions, TrustedIssuersOptions } from './oidc-options';

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
  private readonly byIssuer: Map<string, Issuer>;
  private readonly clock: Clock;

  constructor(options: TrustedIssuersOptions) {
    const { clock, issuers } = resolveIssuers(options);
    this.clock = clock;
    this.byIssuer = issuers;
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
