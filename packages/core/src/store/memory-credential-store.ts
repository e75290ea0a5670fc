import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  DEFAULT_CREDENTIAL_RETENTION_MS,
  type ApiKeyRecord,
  type ApiKeyRotation,
  type CredentialStore,
  type FamilyAccessToken,
  type FamilyAccessTracking,
  type FamilyRevocationReason,
  type RefreshFamily,
  type RefreshRotation,
  type RefreshTokenRecord,
} from './credential-types';

/** Options of {@link MemoryCredentialStore}. */
export interface MemoryCredentialStoreOptions {
  /** Most API keys held. A new key past it is refused with `StoreCapacityError`. Default: 10000. */
  maxApiKeys?: number;
  /**
   * Most refresh tokens (all members of all families) held. A new family past it is refused
   * with `StoreCapacityError`. Default: 100000.
   */
  maxRefreshTokens?: number;
  /** How long a record is kept after it expired, in ms. Default: 30 days. */
  retentionMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

interface StoredToken extends RefreshTokenRecord {
  usedAt?: number;
}

interface MutableFamily {
  familyId: string;
  subject: string;
  client: string;
  scopes: readonly string[];
  createdAt: number;
  expiresAt: number;
  rotations: number;
  revokedAt?: number;
  revokedReason?: FamilyRevocationReason;
  accessTokens: FamilyAccessToken[];
  /** Hashes of every member, for clean-up. */
  members: string[];
  current: string;
}

/**
 * The embedded credential store: single process, for development, tests and the demo. Bounded;
 * expired records are dropped lazily after the retention period.
 */
export class MemoryCredentialStore implements CredentialStore {
  private readonly keys = new Map<string, ApiKeyRecord>();
  private readonly keyByHash = new Map<string, string>();
  private readonly families = new Map<string, MutableFamily>();
  private readonly tokens = new Map<string, StoredToken>();
  private readonly clock: Clock;
  private readonly maxApiKeys: number;
  private readonly maxRefreshTokens: number;
  private readonly retentionMs: number;

  constructor(options: MemoryCredentialStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxApiKeys = positiveInt(options.maxApiKeys ?? 10_000, 'maxApiKeys');
    this.maxRefreshTokens = positiveInt(options.maxRefreshTokens ?? 100_000, 'maxRefreshTokens');
    this.retentionMs = positiveInt(
      options.retentionMs ?? DEFAULT_CREDENTIAL_RETENTION_MS,
      'retentionMs',
    );
  }

  async createApiKey(record: ApiKeyRecord): Promise<boolean> {
    this.sweep();
    if (this.keys.has(record.keyId) || this.keyByHash.has(record.hash)) return false;
    if (this.keys.size >= this.maxApiKeys) {
      throw new StoreCapacityError(`MemoryCredentialStore holds ${this.maxApiKeys} API keys`);
    }
    this.keys.set(record.keyId, copyKey(record));
    this.keyByHash.set(record.hash, record.keyId);
    return true;
  }

  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const keyId = this.keyByHash.get(hash);
    return keyId === undefined ? undefined : this.liveKey(keyId);
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.liveKey(keyId);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    this.sweep();
    return [...this.keys.values()]
      .sort((a, b) => a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : 1))
      .map(copyKey);
  }

  async rotateApiKey(
    keyId: string,
    next: ApiKeyRecord,
    overlapEndsAt: number,
    now: number,
  ): Promise<ApiKeyRotation> {
    const old = this.liveKey(keyId);
    if (old === undefined) return { status: 'not_found' };
    if (old.revokedAt !== undefined) return { status: 'revoked' };
    if (old.expiresAt <= now) return { status: 'expired' };
    if (old.replacedBy !== undefined) return { status: 'replaced' };
    if (this.keys.has(next.keyId) || this.keyByHash.has(next.hash)) {
      throw new TypeError('MemoryCredentialStore: the new key id or hash already exists');
    }
    if (this.keys.size >= this.maxApiKeys) {
      throw new StoreCapacityError(`MemoryCredentialStore holds ${this.maxApiKeys} API keys`);
    }
    const previous: ApiKeyRecord = {
      ...old,
      replacedBy: next.keyId,
      expiresAt: Math.min(old.expiresAt, overlapEndsAt),
    };
    this.keys.set(keyId, previous);
    this.keys.set(next.keyId, copyKey({ ...next, replaces: keyId }));
    this.keyByHash.set(next.hash, next.keyId);
    return { status: 'rotated', previous: copyKey(previous) };
  }

  async revokeApiKey(keyId: string, at: number): Promise<ApiKeyRecord | undefined> {
    const old = this.liveKey(keyId);
    if (old === undefined) return undefined;
    const revoked: ApiKeyRecord = { ...old, revokedAt: Math.min(old.revokedAt ?? at, at) };
    this.keys.set(keyId, revoked);
    return copyKey(revoked);
  }

  async touchApiKeys(
    uses: readonly { readonly keyId: string; readonly at: number }[],
  ): Promise<void> {
    for (const { keyId, at } of uses) {
      const old = this.keys.get(keyId);
      if (old === undefined || (old.lastUsedAt ?? -Infinity) >= at) continue;
      this.keys.set(keyId, { ...old, lastUsedAt: at });
    }
  }

  async createRefreshFamily(family: RefreshFamily, first: RefreshTokenRecord): Promise<boolean> {
    this.sweep();
    if (this.families.has(family.familyId) || this.tokens.has(first.hash)) return false;
    if (this.tokens.size >= this.maxRefreshTokens) {
      throw new StoreCapacityError(
        `MemoryCredentialStore holds ${this.maxRefreshTokens} refresh tokens`,
      );
    }
    this.families.set(family.familyId, {
      familyId: family.familyId,
      subject: family.subject,
      client: family.client,
      scopes: [...family.scopes],
      createdAt: family.createdAt,
      expiresAt: family.expiresAt,
      rotations: 0,
      accessTokens: [...family.accessTokens],
      members: [first.hash],
      current: first.hash,
    });
    this.tokens.set(first.hash, { ...first, familyId: family.familyId });
    return true;
  }

  async rotateRefreshToken(
    hash: string,
    next: Omit<RefreshTokenRecord, 'familyId'>,
    now: number,
  ): Promise<RefreshRotation> {
    const token = this.tokens.get(hash);
    const family = token && this.families.get(token.familyId);
    if (!token || !family || this.gone(family.expiresAt)) return { status: 'unknown' };
    const previousTokenId = token.tokenId;
    if (family.revokedAt !== undefined) {
      return { status: 'revoked', family: snapshot(family, now), previousTokenId };
    }
    if (token.usedAt !== undefined || family.current !== hash) {
      family.revokedAt = now;
      family.revokedReason = 'reuse_detected';
      return { status: 'reused', family: snapshot(family, now), previousTokenId };
    }
    if (token.expiresAt <= now || family.expiresAt <= now) {
      return { status: 'expired', previousTokenId };
    }
    if (this.tokens.has(next.hash)) {
      throw new TypeError('MemoryCredentialStore: the next refresh token already exists');
    }
    const stored: RefreshTokenRecord = {
      tokenId: next.tokenId,
      hash: next.hash,
      familyId: family.familyId,
      issuedAt: next.issuedAt,
      expiresAt: Math.min(next.expiresAt, family.expiresAt),
    };
    token.usedAt = now;
    this.tokens.set(next.hash, stored);
    family.members.push(next.hash);
    family.current = next.hash;
    family.rotations += 1;
    return {
      status: 'rotated',
      family: snapshot(family, now),
      previousTokenId,
      next: { ...stored },
    };
  }

  async addFamilyAccessToken(
    familyId: string,
    token: FamilyAccessToken,
    now: number,
  ): Promise<FamilyAccessTracking> {
    // One synchronous step (the store's lock): no rotation or revocation runs between reading
    // the family's state and recording the token.
    const family = this.families.get(familyId);
    if (!family || this.gone(family.expiresAt)) return 'unknown';
    family.accessTokens = family.accessTokens.filter(
      (t) => t.expiresAt > now && t.tokenId !== token.tokenId,
    );
    family.accessTokens.push({ tokenId: token.tokenId, expiresAt: token.expiresAt });
    return family.revokedAt === undefined ? 'tracked' : 'revoked';
  }

  async revokeRefreshFamily(
    familyId: string,
    at: number,
    reason: FamilyRevocationReason,
  ): Promise<RefreshFamily | undefined> {
    const family = this.families.get(familyId);
    if (!family || this.gone(family.expiresAt)) return undefined;
    if (family.revokedAt === undefined) {
      family.revokedAt = at;
      family.revokedReason = reason;
    }
    return snapshot(family, at);
  }

  async getRefreshFamily(familyId: string): Promise<RefreshFamily | undefined> {
    const family = this.families.get(familyId);
    if (!family || this.gone(family.expiresAt)) return undefined;
    return snapshot(family, this.clock.now());
  }

  async findRefreshFamily(hash: string): Promise<RefreshFamily | undefined> {
    const token = this.tokens.get(hash);
    const family = token && this.families.get(token.familyId);
    if (!family || this.gone(family.expiresAt)) return undefined;
    return snapshot(family, this.clock.now());
  }

  async close(): Promise<void> {
    // Nothing to release: no timers, no connections.
  }

  private liveKey(keyId: string): ApiKeyRecord | undefined {
    const record = this.keys.get(keyId);
    return record === undefined || this.gone(record.expiresAt) ? undefined : copyKey(record);
  }

  /** True once a record that expired at `expiresAt` is past the retention period. */
  private gone(expiresAt: number): boolean {
    return expiresAt + this.retentionMs <= this.clock.now();
  }

  private sweep(): void {
    for (const [keyId, record] of this.keys) {
      if (!this.gone(record.expiresAt)) continue;
      this.keys.delete(keyId);
      if (this.keyByHash.get(record.hash) === keyId) this.keyByHash.delete(record.hash);
    }
    for (const [familyId, family] of this.families) {
      if (!this.gone(family.expiresAt)) continue;
      this.families.delete(familyId);
      for (const hash of family.members) this.tokens.delete(hash);
    }
  }
}

function copyKey(record: ApiKeyRecord): ApiKeyRecord {
  return { ...record, scopes: [...record.scopes] };
}

function snapshot(family: MutableFamily, now: number): RefreshFamily {
  return {
    familyId: family.familyId,
    subject: family.subject,
    client: family.client,
    scopes: [...family.scopes],
    createdAt: family.createdAt,
    expiresAt: family.expiresAt,
    rotations: family.rotations,
    ...(family.revokedAt === undefined
      ? {}
      : { revokedAt: family.revokedAt, revokedReason: family.revokedReason }),
    accessTokens: family.accessTokens
      .filter((t) => t.expiresAt > now)
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.tokenId < b.tokenId ? -1 : 1))
      .map((t) => ({ ...t })),
  };
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`MemoryCredentialStore option '${name}' must be a positive integer`);
  }
  return value;
}
