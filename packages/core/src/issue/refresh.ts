import { ConfigError, type ErrorCode } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  DEFAULT_ENVIRONMENT,
  REFRESH_TOKEN_TYPE,
  generateCredential,
  hashCredential,
  isValidEnvironment,
  newPublicId,
  parseCredential,
} from '../internal/credential-format';
import type {
  FamilyAccessToken,
  RefreshFamily,
  RefreshTokenRecord,
} from '../store/credential-types';
import { DAY_MS } from './lifecycle';
import {
  checkedAccess,
  checkedGrant,
  checkedScopes,
  type IssuedRefreshToken,
  type RefreshExpectation,
  type RefreshGrant,
  type RefreshResult,
  type RefreshTokensOptions,
} from './refresh-grant';

/**
 * Refresh tokens: opaque, stored as SHA-256 hashes, rotated on every use. Each sign-in starts a
 * family; every use returns the family's next token and retires the presented one. Presenting a
 * retired token again means it was copied: the whole family is revoked, with every access token
 * issued from it, and a `refresh.reuse_detected` audit event is recorded.
 *
 * @example
 * const refresh = new RefreshTokens({ store: credentials, revoker: warden, audit: warden });
 * const access = await issuer.issue({ client, subject, scopes }); // your access-token issuer
 * const first = await refresh.issue({ client, subject, scopes }, access);
 * // later, at the token endpoint:
 * const result = await refresh.refresh(presented, (grant) => issuer.issue(grant));
 */
export class RefreshTokens {
  private readonly clock: Clock;
  private readonly environment: string;
  private readonly tokenTtlMs: number;
  private readonly familyTtlMs: number;

  constructor(private readonly options: RefreshTokensOptions) {
    if (options === null || typeof options !== 'object' || options.store === undefined) {
      throw new ConfigError('RefreshTokens needs { store }: a CredentialStore');
    }
    if (typeof options.revoker?.revokeToken !== 'function') {
      throw new ConfigError(
        'RefreshTokens needs { revoker }: the warden (or createAdmin) that revokes access tokens on reuse',
      );
    }
    this.clock = options.clock ?? systemClock;
    this.environment = options.environment ?? DEFAULT_ENVIRONMENT;
    if (!isValidEnvironment(this.environment)) {
      throw new ConfigError(
        "RefreshTokens option 'environment' must be 1-16 characters [a-z0-9] starting with a letter",
      );
    }
    this.tokenTtlMs = positive(options.tokenTtlMs ?? 14 * DAY_MS, 'tokenTtlMs');
    this.familyTtlMs = positive(options.familyTtlMs ?? 30 * DAY_MS, 'familyTtlMs');
  }

  /**
   * Starts a family (a sign-in) and returns its first refresh token. Pass the access token issued
   * alongside, so a reuse later revokes it too.
   */
  async issue(grant: RefreshGrant, accessToken?: FamilyAccessToken): Promise<IssuedRefreshToken> {
    const checked = checkedGrant(grant);
    const now = this.clock.now();
    const familyId = newPublicId('rf');
    const family: RefreshFamily = {
      familyId,
      ...checked,
      createdAt: now,
      expiresAt: now + this.familyTtlMs,
      rotations: 0,
      accessTokens: accessToken === undefined ? [] : [checkedAccess(accessToken)],
    };
    const refreshToken = generateCredential(REFRESH_TOKEN_TYPE, this.environment);
    const record = this.record(refreshToken, familyId, now, family.expiresAt);
    if (!(await this.options.store.createRefreshFamily(family, record))) {
      throw new Error('RefreshTokens: could not store a new family (id collision)');
    }
    this.options.audit?.recordEvent({
      type: 'token.issued',
      outcome: 'success',
      tokenId: record.tokenId,
      subject: checked.subject,
      client: checked.client,
      scopes: checked.scopes,
      detail: { tokenType: 'refresh', familyId, expiresAt: record.expiresAt },
    });
    return { refreshToken, tokenId: record.tokenId, familyId, expiresAt: record.expiresAt };
  }

  /**
   * Exchanges a refresh token for the family's next one. On success the presented token is
   * retired; present it again and the family is revoked (reuse detection), with its access
   * tokens. Rejects only when the store cannot answer.
   */
  async rotate(presented: string, expect: RefreshExpectation = {}): Promise<RefreshResult> {
    const parsed = parseCredential(presented);
    if (!parsed.ok || parsed.value.type !== REFRESH_TOKEN_TYPE) {
      return { ok: false, code: 'token_malformed', reason: 'malformed' };
    }
    const wanted = expect.scopes === undefined ? undefined : checkedScopes(expect.scopes);
    if (expect.client !== undefined || wanted !== undefined) {
      const refused = await this.precheck(hashCredential(presented), expect.client, wanted);
      if (refused !== undefined) return refused;
    }
    const now = this.clock.now();
    // The next token is made before the store knows the family; the store checks it fits.
    const refreshToken = generateCredential(REFRESH_TOKEN_TYPE, parsed.value.environment);
    const hash = hashCredential(presented);
    const store = this.options.store;
    // The store puts the next token in the presented token's family and caps its expiry there.
    const rotation = await store.rotateRefreshToken(
      hash,
      {
        tokenId: newPublicId('rt'),
        hash: hashCredential(refreshToken),
        issuedAt: now,
        expiresAt: now + this.tokenTtlMs,
      },
      now,
    );
    switch (rotation.status) {
      case 'unknown':
        return { ok: false, code: 'key_unknown', reason: 'unknown' };
      case 'expired':
        this.refreshEvent('failure', 'token_expired', rotation.previousTokenId);
        return { ok: false, code: 'token_expired', reason: 'expired' };
      case 'revoked':
        this.refreshEvent('failure', 'token_revoked', rotation.previousTokenId, rotation.family);
        return { ok: false, code: 'token_revoked', reason: 'revoked' };
      case 'reused':
        this.options.metrics?.refreshReuseDetected();
        this.options.audit?.recordEvent({
          type: 'refresh.reuse_detected',
          outcome: 'deny',
          reason: 'token_revoked',
          tokenId: rotation.previousTokenId,
          subject: rotation.family.subject,
          client: rotation.family.client,
          scopes: rotation.family.scopes,
          detail: {
            familyId: rotation.family.familyId,
            accessTokensRevoked: rotation.family.accessTokens.length,
          },
        });
        await this.revokeAccessTokens(rotation.family, 'refresh_reuse_detected');
        return { ok: false, code: 'token_revoked', reason: 'reuse_detected' };
      case 'rotated': {
        const { family, next } = rotation;
        this.refreshEvent('success', undefined, next.tokenId, family, rotation.previousTokenId);
        return {
          ok: true,
          refreshToken,
          tokenId: next.tokenId,
          familyId: family.familyId,
          expiresAt: next.expiresAt,
          grant: {
            subject: family.subject,
            client: family.client,
            scopes: wanted ?? family.scopes,
          },
        };
      }
    }
  }

  /**
   * Rotates the refresh token and mints the access token that goes with it, recording the access
   * token in the family so a later reuse revokes it. The presented token is retired before `mint`
   * runs: if `mint` throws, the client holds only a retired token, and presenting it again revokes
   * the family (the user signs in again). Keep `mint` local and infallible (a `TokenIssuer`).
   *
   * When the family was revoked while `mint` ran (the same token presented in parallel: this call
   * won the rotation, another detected the reuse), the access token just minted is revoked at once
   * and the answer is `token_revoked` (`revoked`): no access token of a revoked family is handed
   * out or left alive.
   */
  async refresh<T extends FamilyAccessToken>(
    presented: string,
    mint: (grant: RefreshGrant) => Promise<T> | T,
    expect: RefreshExpectation = {},
  ): Promise<
    | (Extract<RefreshResult, { ok: true }> & { readonly accessToken: T })
    | Extract<RefreshResult, { ok: false }>
  > {
    const result = await this.rotate(presented, expect);
    if (!result.ok) return result;
    const accessToken = await mint(result.grant);
    if (!(await this.trackAccessToken(result.familyId, accessToken))) {
      this.options.audit?.recordEvent({
        type: 'token.refreshed',
        outcome: 'failure',
        reason: 'token_revoked',
        tokenId: result.tokenId,
        subject: result.grant.subject,
        client: result.grant.client,
        detail: { familyId: result.familyId, accessTokenRevoked: accessToken.tokenId },
      });
      return { ok: false, code: 'token_revoked', reason: 'revoked' };
    }
    return { ...result, accessToken };
  }

  /**
   * Records an access token issued from a family, so reuse detection can revoke it. Resolves
   * `true` when the family is live; `false` when it was revoked already (reuse detected by a
   * parallel refresh, or `revokeFamily`): the access token is then revoked here, since the
   * family's revocation did not see it. Rejects when there is no such family, or when the access
   * token could not be revoked.
   */
  async trackAccessToken(familyId: string, accessToken: FamilyAccessToken): Promise<boolean> {
    const checked = checkedAccess(accessToken);
    const tracking = await this.options.store.addFamilyAccessToken(
      familyId,
      checked,
      this.clock.now(),
    );
    if (tracking === 'unknown') throw new TypeError('RefreshTokens: no such refresh-token family');
    if (tracking === 'tracked') return true;
    await this.options.revoker.revokeToken(checked.tokenId, {
      expiresAt: checked.expiresAt,
      reason: 'refresh_family_revoked',
    });
    return false;
  }

  /**
   * Revokes a family (a sign-out, a compromised device) and the access tokens issued from it.
   * Resolves `false` when there is no such family.
   */
  async revokeFamily(
    familyId: string,
    options: { readonly actor?: string; readonly reason?: string } = {},
  ): Promise<boolean> {
    const family = await this.options.store.revokeRefreshFamily(
      familyId,
      this.clock.now(),
      'revoked',
    );
    if (family === undefined) return false;
    this.options.audit?.recordEvent({
      type: 'token.revoked',
      outcome: 'success',
      subject: family.subject,
      client: family.client,
      actor: options.actor,
      detail: {
        tokenType: 'refresh',
        familyId,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      },
    });
    await this.revokeAccessTokens(
      family,
      options.reason ?? 'refresh_family_revoked',
      options.actor,
    );
    return true;
  }

  /**
   * Checks the presented token's family against what the caller expects, before anything
   * changes. Unknown tokens pass: the rotation then answers for them.
   */
  private async precheck(
    hash: string,
    client: string | undefined,
    scopes: readonly string[] | undefined,
  ): Promise<Extract<RefreshResult, { ok: false }> | undefined> {
    const family = await this.options.store.findRefreshFamily(hash);
    if (family === undefined) return undefined;
    if (client !== undefined && family.client !== client) {
      this.options.audit?.recordEvent({
        type: 'token.refreshed',
        outcome: 'failure',
        reason: 'client_mismatch',
        subject: family.subject,
        client: family.client,
        actor: client,
        detail: { familyId: family.familyId },
      });
      if (family.revokedAt === undefined) {
        await this.revokeFamily(family.familyId, {
          actor: client,
          reason: 'refresh_client_mismatch',
        });
      }
      return { ok: false, code: 'token_revoked', reason: 'client_mismatch' };
    }
    if (scopes !== undefined && scopes.some((s) => !family.scopes.includes(s))) {
      this.options.audit?.recordEvent({
        type: 'token.refreshed',
        outcome: 'failure',
        reason: 'insufficient_scope',
        subject: family.subject,
        client: family.client,
        scopes,
        detail: { familyId: family.familyId },
      });
      return { ok: false, code: 'insufficient_scope', reason: 'scope_exceeded' };
    }
    return undefined;
  }

  private async revokeAccessTokens(
    family: RefreshFamily,
    reason: string,
    actor?: string,
  ): Promise<void> {
    const now = this.clock.now();
    const results = await Promise.allSettled(
      family.accessTokens
        .filter((t) => t.expiresAt > now)
        .map((t) =>
          this.options.revoker.revokeToken(t.tokenId, { expiresAt: t.expiresAt, reason, actor }),
        ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // The family itself is revoked already; the caller must learn that its tokens may not be.
    if (failed) throw failed.reason;
  }

  private refreshEvent(
    outcome: 'success' | 'failure',
    reason: ErrorCode | undefined,
    tokenId: string,
    family?: RefreshFamily,
    previousTokenId?: string,
  ): void {
    this.options.audit?.recordEvent({
      type: 'token.refreshed',
      outcome,
      reason,
      tokenId,
      subject: family?.subject,
      client: family?.client,
      scopes: family?.scopes,
      detail: {
        ...(family === undefined ? {} : { familyId: family.familyId }),
        ...(previousTokenId === undefined ? {} : { previousTokenId }),
      },
    });
  }

  private record(
    token: string,
    familyId: string,
    now: number,
    familyEnd: number,
  ): RefreshTokenRecord {
    return {
      tokenId: newPublicId('rt'),
      hash: hashCredential(token),
      familyId,
      issuedAt: now,
      expiresAt: Math.min(now + this.tokenTtlMs, familyEnd),
    };
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`RefreshTokens option '${name}' must be a positive integer number of ms`);
  }
  return value;
}
