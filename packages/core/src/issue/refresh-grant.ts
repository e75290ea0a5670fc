import type { ErrorCode } from '../errors';
import type { Clock } from '../internal/clock';
import { isScopeToken } from '../internal/scope';
import { isSafeId } from '../internal/text';
import type { WardenMetrics } from '../metrics/types';
import type { CredentialStore, FamilyAccessToken } from '../store/credential-types';
import type { AuditRecorder, TokenRevoker } from './lifecycle';

/** Options of {@link RefreshTokens}. */
export interface RefreshTokensOptions {
  /** Where families and token hashes go (shared by every node that refreshes). */
  readonly store: CredentialStore;
  /**
   * Revokes the access tokens of a family when reuse is detected or the family is revoked: the
   * warden (or `createAdmin`) over the store the API nodes read.
   */
  readonly revoker: TokenRevoker;
  /** Lifecycle audit events (`token.refreshed`, `refresh.reuse_detected`). Default: none. */
  readonly audit?: AuditRecorder;
  /** For `tokenwarden_refresh_reuse_detected_total`. Default: none. */
  readonly metrics?: Pick<WardenMetrics, 'refreshReuseDetected'>;
  /** Environment in the tokens' prefix. Default: `'live'`. */
  readonly environment?: string;
  /** How long one refresh token can be used (idle timeout), in ms. Default: 14 days. */
  readonly tokenTtlMs?: number;
  /** Absolute lifetime of a family from its first token, in ms. Default: 30 days. */
  readonly familyTtlMs?: number;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Who a family's tokens are for. */
export interface RefreshGrant {
  readonly subject: string;
  readonly client: string;
  readonly scopes: readonly string[];
}

/** A refresh token just issued: `refreshToken` is the only copy (the store keeps its hash). */
export interface IssuedRefreshToken {
  readonly refreshToken: string;
  /** Public id of this refresh token, as it appears in the audit trail. */
  readonly tokenId: string;
  readonly familyId: string;
  /** When this refresh token stops being accepted; epoch ms. */
  readonly expiresAt: number;
}

/**
 * What the caller knows about a refresh request, checked against the token's family before the
 * token is spent, so a refused request changes nothing.
 */
export interface RefreshExpectation {
  /**
   * The authenticated client. A refresh token presented by another client has leaked: its family
   * is revoked with every access token issued from it (RFC 6749 §10.4).
   */
  readonly client?: string;
  /**
   * Scopes asked for (RFC 6749 §6): each must be one of the family's. The grant then carries only
   * these; the family keeps its original scopes for later refreshes. Default: the family's.
   */
  readonly scopes?: readonly string[];
}

/** The outcome of presenting a refresh token. */
export type RefreshResult =
  | (IssuedRefreshToken & { readonly ok: true; readonly grant: RefreshGrant })
  | {
      readonly ok: false;
      /**
       * `token_malformed` (bad format or checksum), `key_unknown` (no such token),
       * `token_expired`, `token_revoked` (family revoked, reuse detected just now, or the token
       * presented by another client): map them to OAuth `invalid_grant`. `insufficient_scope`
       * (a scope the family was not granted; nothing changed): map it to `invalid_scope`.
       */
      readonly code: ErrorCode;
      readonly reason:
        | 'malformed'
        | 'unknown'
        | 'expired'
        | 'revoked'
        | 'reuse_detected'
        | 'client_mismatch'
        | 'scope_exceeded';
    };

/** A copy of `grant` after checking its ids and scope names; else a TypeError. */
export function checkedGrant(grant: RefreshGrant): RefreshGrant {
  if (grant === null || typeof grant !== 'object') throw new TypeError('grant must be an object');
  if (!isSafeId(grant.subject, 256)) throw new TypeError('grant.subject must be a safe id');
  if (!isSafeId(grant.client, 256)) throw new TypeError('grant.client must be a safe id');
  if (!Array.isArray(grant.scopes) || grant.scopes.some((s) => !isScopeToken(s))) {
    throw new TypeError('grant.scopes must be an array of scope names');
  }
  return { subject: grant.subject, client: grant.client, scopes: [...grant.scopes] };
}

/** The distinct scope names asked for, each a scope-token; else a TypeError. */
export function checkedScopes(scopes: readonly string[]): readonly string[] {
  if (!Array.isArray(scopes) || scopes.some((s) => !isScopeToken(s))) {
    throw new TypeError('scopes must be an array of scope names');
  }
  return [...new Set(scopes)];
}

/** A copy of an access token's `{ tokenId, expiresAt }` after checking them; else a TypeError. */
export function checkedAccess(token: FamilyAccessToken): FamilyAccessToken {
  if (!isSafeId(token?.tokenId, 256) || !Number.isSafeInteger(token.expiresAt)) {
    throw new TypeError('access token must be { tokenId, expiresAt (epoch ms) }');
  }
  return { tokenId: token.tokenId, expiresAt: token.expiresAt };
}
