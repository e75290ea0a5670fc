import {
  ConfigError,
  DEFAULT_CREDENTIAL_RETENTION_MS,
  systemClock,
  type ApiKeyRecord,
  type ApiKeyRotation,
  type Clock,
  type CredentialStore,
  type FamilyAccessToken,
  type FamilyAccessTracking,
  type FamilyRevocationReason,
  type RefreshFamily,
  type RefreshRotation,
  type RefreshTokenRecord,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { ApiKeyRecords } from './api-key-records';
import { connectionTarget, RedisConnection } from './connection';
import { CredentialSpace, OWNER, type CredentialClient } from './credential-space';
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';
import { RefreshFamilies } from './refresh-families';
import { API_KEY_SCRIPTS, REFRESH_SCRIPTS } from './scripts';

/** Options of {@link RedisCredentialStore}. Pass exactly one of `url` and `client`. */
export interface RedisCredentialStoreOptions {
  /** A `redis://` or `rediss://` URL; the store opens (and closes) its own fail-fast client. */
  url?: string;
  /** An ioredis `Redis` or `Cluster` you own; never closed by the store. */
  client?: Redis | Cluster;
  /** Key prefix, as for `RedisStore` (the `{tw}` hash tag is added). Default: `'tokenwarden:'`. */
  prefix?: string;
  /** Deadline of each call, in ms. Default: 200. */
  commandTimeoutMs?: number;
  /** Longest key, in bytes; longer ids are hashed. Default: 256. */
  maxKeyLength?: number;
  /** How long a record is kept after it expired, in ms. Default: 30 days. */
  retentionMs?: number;
  /** Time source for "is this record still kept". Default: the system clock. */
  clock?: Clock;
}

/**
 * Credentials in Redis, shared by every node: API-key records and refresh-token families, each
 * change one atomic Lua script (refresh rotation and reuse detection included). Only hashes of
 * credentials are stored. Keys live under the same prefix and `{tw}` hash tag as `RedisStore`
 * (`<prefix>{tw}:ak:<id>`, `akh:<sha256>`, `akidx`, `rf:<id>`, `rfat:<id>`, `rt:<sha256>`), so
 * one cluster slot holds them all. Every failure rejects with `StoreUnavailableError`.
 *
 * @example
 * const credentials = new RedisCredentialStore({ url: process.env.REDIS_URL });
 * const apiKeys = new ApiKeys({ store: credentials, audit: warden });
 */
export class RedisCredentialStore implements CredentialStore {
  // ES private: `util.inspect(store)` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<CredentialClient>;
  readonly #apiKeys: ApiKeyRecords;
  readonly #refresh: RefreshFamilies;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCredentialStoreOptions) {
    const target = connectionTarget(options, {
      owner: OWNER,
      defaultTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
    });
    const retentionMs = options.retentionMs ?? DEFAULT_CREDENTIAL_RETENTION_MS;
    if (!Number.isSafeInteger(retentionMs) || retentionMs <= 0) {
      throw new ConfigError(`RedisCredentialStore option 'retentionMs' must be a positive integer`);
    }
    // KeySpace validates the prefix and the key length bound (for its own, longer kinds).
    const keys = new KeySpace(
      options.prefix ?? DEFAULT_PREFIX,
      options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
    );
    const clock = options.clock ?? systemClock;
    if (typeof clock?.now !== 'function') {
      throw new ConfigError(`RedisCredentialStore option 'clock' must have a now() method`);
    }
    // Last: a client is opened only for valid options.
    this.#connection = new RedisConnection<CredentialClient>(target);
    this.#connection.define([...API_KEY_SCRIPTS, ...REFRESH_SCRIPTS]);
    const space = new CredentialSpace(this.#connection, keys, retentionMs, clock);
    this.#apiKeys = new ApiKeyRecords(space);
    this.#refresh = new RefreshFamilies(space);
  }

  createApiKey(record: ApiKeyRecord): Promise<boolean> {
    return this.#apiKeys.create(record);
  }

  findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeys.find(hash);
  }

  getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeys.get(keyId);
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#apiKeys.list();
  }

  rotateApiKey(
    keyId: string,
    next: ApiKeyRecord,
    overlapEndsAt: number,
    now: number,
  ): Promise<ApiKeyRotation> {
    return this.#apiKeys.rotate(keyId, next, overlapEndsAt, now);
  }

  revokeApiKey(keyId: string, at: number): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeys.revoke(keyId, at);
  }

  touchApiKeys(uses: readonly { readonly keyId: string; readonly at: number }[]): Promise<void> {
    return this.#apiKeys.touch(uses);
  }

  createRefreshFamily(family: RefreshFamily, first: RefreshTokenRecord): Promise<boolean> {
    return this.#refresh.create(family, first);
  }

  rotateRefreshToken(
    hash: string,
    next: Omit<RefreshTokenRecord, 'familyId'>,
    now: number,
  ): Promise<RefreshRotation> {
    return this.#refresh.rotate(hash, next, now);
  }

  addFamilyAccessToken(
    familyId: string,
    token: FamilyAccessToken,
    now: number,
  ): Promise<FamilyAccessTracking> {
    return this.#refresh.addAccessToken(familyId, token, now);
  }

  revokeRefreshFamily(
    familyId: string,
    at: number,
    reason: FamilyRevocationReason,
  ): Promise<RefreshFamily | undefined> {
    return this.#refresh.revoke(familyId, at, reason);
  }

  getRefreshFamily(familyId: string): Promise<RefreshFamily | undefined> {
    return this.#refresh.get(familyId);
  }

  findRefreshFamily(hash: string): Promise<RefreshFamily | undefined> {
    return this.#refresh.find(hash);
  }

  /** Stops using Redis; quits the client only if the store opened it. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}
