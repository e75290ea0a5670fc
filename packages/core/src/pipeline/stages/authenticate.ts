import type { Principal } from '../../decision';
import type { Clock } from '../../internal/clock';
import { looksLikeApiKey, verifyApiKey, type ApiKeyVerifyPolicy } from '../../verify/api-key';
import {
  verifyJwt,
  type JwtVerifyPolicy,
  type KeyRequest,
  type VerifiedToken,
  type VerifyResult,
} from '../../verify/jwt';
import { KeySourceError } from '../../verify/key-source';
import type { TrustedIssuers } from '../../verify/oidc';
import type { CachedToken, VerifiedTokenCache } from '../../verify/token-cache';
import type { RequestContext, TokenDerived } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome, StageResult } from '../stage';

/** What the authenticate stage verifies with. */
export interface AuthenticateParts {
  readonly clock: Clock;
  readonly denials: Denials;
  readonly tokenCache: VerifiedTokenCache<TokenDerived>;
  /** The deployment's own JWT settings; undefined with `issuers` only. */
  readonly jwt: JwtVerifyPolicy | undefined;
  readonly issuers: TrustedIssuers | undefined;
  readonly apiKeys: ApiKeyVerifyPolicy | undefined;
  readonly logError: (message: string, error: unknown) => void;
}

/**
 * Stage 2: verifies the credential. An API key is looked up by hash (never cached, so a revoked
 * or rotated key is refused at once); a JWT seen before comes from the verified-token cache;
 * a JWT naming a trusted issuer is verified with that issuer's keys only; anything else with the
 * deployment's own key ring. Only the API key and trusted-issuer paths may wait for I/O.
 */
export class AuthenticateStage implements Stage {
  readonly name = 'authenticate';

  constructor(private readonly parts: AuthenticateParts) {}

  run(ctx: RequestContext): StageResult {
    const token = ctx.token;
    if (token === undefined) return undefined;
    const { parts } = this;
    const now = parts.clock.now();
    ctx.now = now;
    if (parts.apiKeys !== undefined && looksLikeApiKey(token)) return this.apiKey(ctx, token, now);
    const cached = parts.tokenCache.get(token, now);
    if (cached !== undefined) {
      ctx.tokenCache = 'hit';
      adopt(ctx, cached);
      return undefined;
    }
    if (parts.issuers !== undefined || parts.jwt === undefined) {
      return this.fromIssuers(token, now).then((verified) => this.verified(ctx, verified, now));
    }
    const verified = verifyJwt(token, parts.jwt, now);
    if (verified.ok || verified.keyRequest === undefined) return this.verified(ctx, verified, now);
    return this.withKeyLookup(token, parts.jwt, verified.keyRequest, now).then((again) =>
      this.verified(ctx, again, now),
    );
  }

  private async apiKey(ctx: RequestContext, token: string, now: number): Promise<StageOutcome> {
    const verified = await verifyApiKey(token, this.parts.apiKeys!, now);
    if (!verified.ok) return this.parts.denials.failed(verified.failure);
    adopt(ctx, { token: verified.token, extra: undefined });
    return undefined;
  }

  /** After a signature check: refuses, or caches the token and goes on. */
  private verified(ctx: RequestContext, verified: VerifyResult, now: number): StageOutcome {
    if (!verified.ok) return this.parts.denials.failed(verified.failure);
    ctx.tokenCache = 'miss';
    adopt(ctx, this.parts.tokenCache.set(ctx.token!, verified.token, now));
    return undefined;
  }

  /**
   * Verifies a token with the issuer its `iss` names (only that issuer's keys), else with the
   * local `jwt` settings. Never throws.
   */
  private async fromIssuers(token: string, now: number): Promise<VerifyResult> {
    const { issuers, jwt } = this.parts;
    const prepared =
      jwt === undefined ? await issuers!.prepare(token) : await issuers!.prepareIfOwn(token);
    if (prepared === undefined) {
      const verified = verifyJwt(token, jwt!, now);
      if (verified.ok || verified.keyRequest === undefined) return verified;
      return this.withKeyLookup(token, jwt!, verified.keyRequest, now);
    }
    if (!prepared.ok) {
      const { code, detail, reason } = prepared.failure;
      if (code === 'key_source_unavailable') {
        this.parts.logError('the keys of a trusted issuer could not be read', reason ?? detail);
      }
      return { ok: false, failure: { code, detail } };
    }
    return verifyJwt(token, prepared.policy, now);
  }

  /**
   * Lets the local key ring look for a key it does not hold (a key resolver, a remote JWKS),
   * then verifies again. A ring that cannot be asked answers `key_source_unavailable`, logged.
   */
  private async withKeyLookup(
    token: string,
    jwt: JwtVerifyPolicy,
    request: KeyRequest,
    now: number,
  ): Promise<VerifyResult> {
    try {
      await jwt.ring.prepare!(request.kid, request.alg);
    } catch (error) {
      // What the resolver (or fetch) threw says most to an operator; clients get a fixed detail.
      const cause =
        error instanceof KeySourceError && error.reason === 'error' ? error.cause : error;
      this.parts.logError('the verification keys could not be read', cause ?? error);
      return KEYS_UNAVAILABLE;
    }
    return verifyJwt(token, jwt, now);
  }
}

const KEYS_UNAVAILABLE: VerifyResult = Object.freeze({
  ok: false,
  failure: Object.freeze({
    code: 'key_source_unavailable',
    detail: 'the key source could not answer',
  }),
});

function adopt(ctx: RequestContext, cached: CachedToken<TokenDerived>): void {
  const token = cached.token;
  ctx.verified = token;
  ctx.derived = cached.extra ??= {
    principal: principalOf(token),
    fingerprint: undefined,
    keyBound: undefined,
  };
}

function principalOf(token: VerifiedToken): Principal {
  return {
    subject: token.subject,
    ...(token.client !== undefined ? { client: token.client } : {}),
    scopes: token.scopes,
    tokenId: token.tokenId,
    issuer: token.issuer,
    issuedAt: token.issuedAt,
    expiresAt: token.expiresAt,
    claims: token.claims,
  };
}
