/**
 * Stored credentials: API-key records and refresh-token families. Secrets never reach a store:
 * every record holds the SHA-256 of its credential, never the credential. Every time is absolute,
 * in integer epoch milliseconds (`...At`).
 */

/** One API key, as stored. The key itself is not here: only its hash. */
export interface ApiKeyRecord {
  /** Public id of the key (`ak_…`): safe to log, list and audit. */
  readonly keyId: string;
  /** SHA-256 of the whole key, lower-case hex. */
  readonly hash: string;
  /** The client the key belongs to. */
  readonly client: string;
  /** The principal's subject when the key is used; by default the client. */
  readonly subject: string;
  /** Scopes the key carries, as a JWT's `scope` would. */
  readonly scopes: readonly string[];
  /** The environment in the key's prefix (`live`, `test`…). */
  readonly environment: string;
  /** A label for people (`"billing export job"`). */
  readonly name?: string;
  /** When the key was created; epoch ms. */
  readonly createdAt: number;
  /** When the key stops working; epoch ms. Every key expires. */
  readonly expiresAt: number;
  /** When the key was revoked; epoch ms. A revoked key is refused at once. */
  readonly revokedAt?: number;
  /** The key that replaced this one in a rotation. */
  readonly replacedBy?: string;
  /** The key this one replaced in a rotation. */
  readonly replaces?: string;
  /** Last time the key was used, as last flushed by the usage tracker; epoch ms. */
  readonly lastUsedAt?: number;
}

/** What {@link CredentialStore.rotateApiKey} did. */
export type ApiKeyRotation =
  | { readonly status: 'rotated'; readonly previous: ApiKeyRecord }
  | { readonly status: 'not_found' | 'revoked' | 'expired' | 'replaced' };

/** An access token issued from a refresh-token family, revoked with the family. */
export interface FamilyAccessToken {
  /** The access token's `jti`. */
  readonly tokenId: string;
  /** Its `exp`; epoch ms. */
  readonly expiresAt: number;
}

/**
 * What {@link CredentialStore.addFamilyAccessToken} found, in the same atomic step as it recorded
 * the token: `tracked` (the family is live: revoking it will revoke the token), `revoked` (the
 * family was revoked already, so no revocation of it will come for this token: the caller must
 * revoke the token itself), `unknown` (no such family, or it is past the retention period; nothing
 * recorded).
 */
export type FamilyAccessTracking = 'tracked' | 'revoked' | 'unknown';

/** Why a refresh-token family was revoked. */
export type FamilyRevocationReason = 'reuse_detected' | 'revoked';

/**
 * One refresh-token family: the chain of refresh tokens that descend from one sign-in, each
 * rotated into the next. Reuse of any used member revokes the whole family.
 */
export interface RefreshFamily {
  /** Public id of the family (`rf_…`). */
  readonly familyId: string;
  readonly subject: string;
  readonly client: string;
  readonly scopes: readonly string[];
  /** When the family started (the first refresh token); epoch ms. */
  readonly createdAt: number;
  /** Absolute end of the family: no member is valid after it; epoch ms. */
  readonly expiresAt: number;
  /** How many times the family was rotated. */
  readonly rotations: number;
  /** When the family was revoked; epoch ms. */
  readonly revokedAt?: number;
  readonly revokedReason?: FamilyRevocationReason;
  /** Unexpired access tokens issued from the family, ordered by expiry. */
  readonly accessTokens: readonly FamilyAccessToken[];
}

/** One refresh token, as stored: its hash, never the token. */
export interface RefreshTokenRecord {
  /** Public id of this token (`rt_…`), for the audit trail. */
  readonly tokenId: string;
  /** SHA-256 of the token, lower-case hex. */
  readonly hash: string;
  readonly familyId: string;
  /** When it was issued; epoch ms. */
  readonly issuedAt: number;
  /** When it stops being accepted for a rotation; epoch ms. At most the family's end. */
  readonly expiresAt: number;
}

/** What {@link CredentialStore.rotateRefreshToken} did with a presented refresh token. */
export type RefreshRotation =
  /** The token was current: it is now used and `next` (as stored) is the family's current token. */
  | {
      readonly status: 'rotated';
      readonly family: RefreshFamily;
      readonly previousTokenId: string;
      readonly next: RefreshTokenRecord;
    }
  /**
   * The token had been used before: the family is now revoked (`revokedReason: 'reuse_detected'`);
   * its access tokens must be revoked by the caller.
   */
  | { readonly status: 'reused'; readonly family: RefreshFamily; readonly previousTokenId: string }
  /** The family was already revoked; nothing changed. */
  | { readonly status: 'revoked'; readonly family: RefreshFamily; readonly previousTokenId: string }
  /** The token (or its family) has expired; nothing changed. */
  | { readonly status: 'expired'; readonly previousTokenId: string }
  /** No such token; nothing changed. */
  | { readonly status: 'unknown' };

/**
 * Where API-key records and refresh-token families live. Every method rejects (never resolves
 * with a guess) when the backend cannot answer. Implementations: `MemoryCredentialStore`
 * and `RedisCredentialStore` (@tokenwarden/redis); both pass the credential-store contract suite
 * of `@tokenwarden/testing`.
 *
 * Records are kept until their expiry plus a retention period (so listings show recently expired
 * keys and a reused refresh token is still recognised), then forgotten.
 */
export interface CredentialStore {
  /** Stores a new key. Resolves `false` (and stores nothing) if its id or hash already exists. */
  createApiKey(record: ApiKeyRecord): Promise<boolean>;
  /** The key whose hash this is, or `undefined`. One round trip. */
  findApiKey(hash: string): Promise<ApiKeyRecord | undefined>;
  /** One key by id, or `undefined`. */
  getApiKey(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** Every key still retained, oldest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /**
   * In one atomic step: stores `next` (with `replaces` set to `keyId`), and on the old key sets
   * `replacedBy` and moves its expiry to `overlapEndsAt` if that is earlier. Refused, with nothing
   * changed, when the old key is missing, revoked, expired (at `now`) or already replaced.
   */
  rotateApiKey(
    keyId: string,
    next: ApiKeyRecord,
    overlapEndsAt: number,
    now: number,
  ): Promise<ApiKeyRotation>;
  /** Marks a key revoked at `at` (an earlier revocation time is kept). `undefined` if missing. */
  revokeApiKey(keyId: string, at: number): Promise<ApiKeyRecord | undefined>;
  /** Raises the last-used times of keys (never lowers one); unknown ids are ignored. */
  touchApiKeys(uses: readonly { readonly keyId: string; readonly at: number }[]): Promise<void>;

  /** Starts a family with its first refresh token. Resolves `false` if the id or hash exists. */
  createRefreshFamily(family: RefreshFamily, first: RefreshTokenRecord): Promise<boolean>;
  /**
   * The heart of refresh rotation, atomic: finds the token by `hash`; if it is current and
   * unexpired at `now`, marks it used and stores `next` as the family's current token (in the
   * presented token's family, its expiry capped at the family's end); if it was used before,
   * revokes the family (reuse detection).
   */
  rotateRefreshToken(
    hash: string,
    next: Omit<RefreshTokenRecord, 'familyId'>,
    now: number,
  ): Promise<RefreshRotation>;
  /**
   * Records an access token issued from a family, so revoking the family can revoke it, and tells,
   * atomically with the record, whether the family is revoked already. Two parallel rotations of
   * one token: one wins and mints an access token while the other revokes the family; either the
   * winner's token was recorded before the revocation (which then returns it) or this answers
   * `revoked`, so no access token of a revoked family is left alive.
   */
  addFamilyAccessToken(
    familyId: string,
    token: FamilyAccessToken,
    now: number,
  ): Promise<FamilyAccessTracking>;
  /** Revokes a family; an earlier revocation is kept. `undefined` if missing. */
  revokeRefreshFamily(
    familyId: string,
    at: number,
    reason: FamilyRevocationReason,
  ): Promise<RefreshFamily | undefined>;
  /** One family by id, or `undefined`. */
  getRefreshFamily(familyId: string): Promise<RefreshFamily | undefined>;
  /**
   * The family of the refresh token whose hash this is (current, used or expired member alike),
   * or `undefined`; changes nothing. Lets a token endpoint check the client and scopes before
   * the token is spent.
   */
  findRefreshFamily(hash: string): Promise<RefreshFamily | undefined>;
  /** Releases what the store opened. Idempotent. */
  close(): Promise<void>;
}

/** Default time a record is kept after it expired: 30 days. */
export const DEFAULT_CREDENTIAL_RETENTION_MS = 30 * 24 * 3_600_000;
