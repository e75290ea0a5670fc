import type {
  FamilyAccessToken,
  FamilyAccessTracking,
  FamilyRevocationReason,
  RefreshFamily,
  RefreshRotation,
  RefreshTokenRecord,
} from '@tokenwarden/core';
import { field, hexHash, OWNER, scopesOf, type CredentialSpace } from './credential-space';
import { COMMANDS } from './scripts';
import { epochArg, epochMs, fieldMap, text, unexpectedReply } from './values';

/**
 * The refresh-token half of a `RedisCredentialStore`: one family (`rf:<id>`), its access tokens
 * (`rfat:<id>`) and one record per refresh token (`rt:<sha256>`, only the token's hash). Rotation
 * and reuse detection are one atomic script: a token presented twice revokes its family.
 *
 * @internal
 */
export class RefreshFamilies {
  constructor(private readonly space: CredentialSpace) {}

  /** Stores a new family and its first token; false when either exists. */
  async create(family: RefreshFamily, first: RefreshTokenRecord): Promise<boolean> {
    const { space } = this;
    const familyId = text(family.familyId, 'familyId', OWNER);
    const familyPairs = [
      'id',
      family.familyId,
      'sub',
      text(family.subject, 'subject', OWNER),
      'client',
      text(family.client, 'client', OWNER),
      'scopes',
      JSON.stringify(family.scopes),
      'created',
      epochArg(family.createdAt, 'createdAt', OWNER),
      'expires',
      epochArg(family.expiresAt, 'expiresAt', OWNER),
      'rotations',
      '0',
      'current',
      hexHash(first.hash),
    ];
    const tokenPairs = [
      'id',
      text(first.tokenId, 'tokenId', OWNER),
      'h',
      first.hash,
      'family',
      family.familyId,
      'issued',
      epochArg(first.issuedAt, 'issuedAt', OWNER),
      'expires',
      epochArg(Math.min(first.expiresAt, family.expiresAt), 'expiresAt', OWNER),
    ];
    const access = family.accessTokens.flatMap((t) => [
      epochArg(t.expiresAt, 'accessToken.expiresAt', OWNER),
      text(t.tokenId, 'accessToken.tokenId', OWNER),
    ]);
    const args = [
      space.key('rf:', familyId),
      space.key('rfat:', familyId),
      space.hashKey('rt:', first.hash),
      space.nowArg(),
      space.goneArg(family.expiresAt),
      String(familyPairs.length),
      String(tokenPairs.length),
      ...familyPairs,
      ...tokenPairs,
      ...access,
    ];
    return space.connection.run(
      'createRefreshFamily',
      (redis) => redis[COMMANDS.refreshCreate](...args),
      (reply) => reply === 1,
    );
  }

  /** Rotates the token of `hash` to `next`, or reports why not (reuse revokes the family). */
  async rotate(
    hash: string,
    next: Omit<RefreshTokenRecord, 'familyId'>,
    now: number,
  ): Promise<RefreshRotation> {
    const args = [
      this.space.hashKey('rt:', hash),
      this.space.hashKey('rt:', next.hash),
      epochArg(now, 'now', OWNER),
      text(next.tokenId, 'next.tokenId', OWNER),
      epochArg(next.issuedAt, 'next.issuedAt', OWNER),
      epochArg(next.expiresAt, 'next.expiresAt', OWNER),
      next.hash,
    ];
    return this.space.connection.run(
      'rotateRefreshToken',
      (redis) => redis[COMMANDS.refreshRotate](...args),
      (reply): RefreshRotation => {
        if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
          throw unexpectedReply('rotateRefreshToken');
        }
        const [status, previousTokenId, nextExpires, fields, access] = reply as unknown[];
        if (status === 'unknown') return { status };
        if (typeof previousTokenId !== 'string') throw unexpectedReply('rotateRefreshToken');
        if (status === 'expired') return { status, previousTokenId };
        const family = toFamily(fieldMap(fields, 'rotateRefreshToken'), access);
        if (status === 'revoked' || status === 'reused') {
          return { status, family, previousTokenId };
        }
        if (status !== 'rotated' || typeof nextExpires !== 'string') {
          throw unexpectedReply('rotateRefreshToken');
        }
        return {
          status,
          family,
          previousTokenId,
          next: {
            tokenId: next.tokenId,
            hash: next.hash,
            familyId: family.familyId,
            issuedAt: next.issuedAt,
            expiresAt: epochMs(nextExpires, 'rotateRefreshToken'),
          },
        };
      },
    );
  }

  /** Records an access token issued from a family, and whether the family was revoked already. */
  async addAccessToken(
    familyId: string,
    token: FamilyAccessToken,
    now: number,
  ): Promise<FamilyAccessTracking> {
    const id = text(familyId, 'familyId', OWNER);
    const args = [
      this.space.key('rf:', id),
      this.space.key('rfat:', id),
      epochArg(now, 'now', OWNER),
      epochArg(token.expiresAt, 'expiresAt', OWNER),
      text(token.tokenId, 'tokenId', OWNER),
    ];
    return this.space.connection.run(
      'addFamilyAccessToken',
      (redis) => redis[COMMANDS.refreshAddAccess](...args),
      (reply): FamilyAccessTracking => {
        if (reply === 1) return 'tracked';
        if (reply === 2) return 'revoked';
        if (reply === 0) return 'unknown';
        throw unexpectedReply('addFamilyAccessToken');
      },
    );
  }

  /** Revokes a family (a first revocation is kept); the family, or undefined. */
  async revoke(
    familyId: string,
    at: number,
    reason: FamilyRevocationReason,
  ): Promise<RefreshFamily | undefined> {
    return this.familyCall('revokeRefreshFamily', familyId, epochArg(at, 'at', OWNER), reason);
  }

  /** The family of an id, while kept. */
  async get(familyId: string): Promise<RefreshFamily | undefined> {
    return this.familyCall('getRefreshFamily', familyId, '', '');
  }

  /** The family of a refresh token's hash, while kept. */
  async find(hash: string): Promise<RefreshFamily | undefined> {
    const args = [this.space.hashKey('rt:', hash), this.space.nowArg()];
    return this.space.connection.run(
      'findRefreshFamily',
      (redis) => redis[COMMANDS.refreshFind](...args),
      (reply) => optionalFamily(reply, 'findRefreshFamily'),
    );
  }

  /** Reads a family, and revokes it when `at` is not `''`. */
  private async familyCall(
    operation: string,
    familyId: string,
    at: string,
    reason: string,
  ): Promise<RefreshFamily | undefined> {
    const id = text(familyId, 'familyId', OWNER);
    const args = [
      this.space.key('rf:', id),
      this.space.key('rfat:', id),
      this.space.nowArg(),
      at,
      reason,
    ];
    return this.space.connection.run(
      operation,
      (redis) => redis[COMMANDS.refreshRevoke](...args),
      (reply) => optionalFamily(reply, operation),
    );
  }
}

/** A {family fields, access tokens} reply, or `undefined` for the empty reply. */
function optionalFamily(reply: unknown, operation: string): RefreshFamily | undefined {
  if (!Array.isArray(reply)) throw unexpectedReply(operation);
  if (reply.length === 0) return undefined;
  return toFamily(fieldMap(reply[0], operation), reply[1]);
}

/** A family from its stored fields and its [tokenId, expiresAt, ...] access tokens. */
function toFamily(f: Map<string, string>, access: unknown): RefreshFamily {
  const get = (name: string) => field(f, name, 'refresh family');
  if (!Array.isArray(access) || access.length % 2 !== 0) throw unexpectedReply('refresh family');
  const accessTokens: FamilyAccessToken[] = [];
  for (let i = 0; i < access.length; i += 2) {
    const [tokenId, score] = [access[i], access[i + 1]];
    if (typeof tokenId !== 'string' || typeof score !== 'string') {
      throw unexpectedReply('refresh family');
    }
    accessTokens.push({ tokenId, expiresAt: epochMs(score, 'refresh family') });
  }
  const revoked = f.get('revoked');
  const reason = f.get('reason');
  if (revoked !== undefined && reason !== 'revoked' && reason !== 'reuse_detected') {
    throw unexpectedReply('refresh family');
  }
  return {
    familyId: get('id'),
    subject: get('sub'),
    client: get('client'),
    scopes: scopesOf(get('scopes')),
    createdAt: epochMs(get('created'), 'refresh family'),
    expiresAt: epochMs(get('expires'), 'refresh family'),
    rotations: epochMs(get('rotations'), 'refresh family'),
    ...(revoked === undefined
      ? {}
      : {
          revokedAt: epochMs(revoked, 'refresh family'),
          revokedReason: reason as FamilyRevocationReason,
        }),
    accessTokens,
  };
}
