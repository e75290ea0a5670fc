import { createHash } from 'node:crypto';
import {
  ConfigError,
  DEFAULT_CREDENTIAL_RETENTION_MS,
  StoreUnavailableError,
  systemClock,
  type ApiKeyRecord,
  type ApiKeyRotation,
  type Clock,
  type CredentialStore,
  type FamilyAccessToken,
  type FamilyRevocationReason,
  type RefreshFamily,
  type RefreshRotation,
  type RefreshTokenRecord,
} from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, unavailable, startDeadline } from './client';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX, KeySpace, encodeId } from './keys';
import { DEFAULT_COMMAND_TIMEOUT_MS } from './redis-store';

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
 * Every script starts with this: ARGV[1] is the store's clock (epoch ms). Each record is a hash
 * with a `gone` field, the time it may be forgotten; Redis also drops it then (PEXPIREAT), and
 * this check keeps an injected clock authoritative.
 */
const PRELUDE = `
local now = tonumber(ARGV[1])
-- A record counts while its 'gone' time is ahead of the store's clock.
local function live(key)
  local gone = redis.call('HGET', key, 'gone')
  return gone ~= false and tonumber(gone) > now
end
-- Epoch-ms numbers back to decimal strings without exponent notation.
local function ms(x)
  return string.format('%.0f', x)
end
`;

/**
 * The scripts. Every key lives under one hash-tag prefix, so all of them share one cluster slot;
 * the hash index and the list index hold key names that the scripts follow inside that slot.
 */
const SCRIPTS = {
  // KEYS: 1 record, 2 hash index, 3 list index. ARGV: now, gone, field/value pairs.
  tokenwardenAkCreate: {
    keys: 3,
    lua: `${PRELUDE}
-- A kept record or hash already exists: refuse, store nothing.
if live(KEYS[1]) or live(KEYS[2]) then return 0 end
-- Leftovers past their 'gone' time (by the store's clock) are replaced.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'gone', ARGV[2], unpack(ARGV, 3))
redis.call('HSET', KEYS[2], 'rec', KEYS[1], 'gone', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[1])
return 1`,
  },
  // KEYS: 1 hash index. ARGV: now. Reply: the record's fields, or an empty array.
  tokenwardenAkFind: {
    keys: 1,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {} end
local rec = redis.call('HGET', KEYS[1], 'rec')
if not live(rec) then return {} end
return redis.call('HGETALL', rec)`,
  },
  // KEYS: 1 record. ARGV: now.
  tokenwardenAkGet: {
    keys: 1,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {} end
return redis.call('HGETALL', KEYS[1])`,
  },
  // KEYS: 1 list index. ARGV: now. Reply: one field array per kept record.
  tokenwardenAkList: {
    keys: 1,
    lua: `${PRELUDE}
-- Forget index entries whose record is gone.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, rec in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if live(rec) then out[#out + 1] = redis.call('HGETALL', rec) end
end
return out`,
  },
  // KEYS: 1 old record, 2 new record, 3 new hash index, 4 list index.
  // ARGV: now, overlapEndsAt, retention, old key id, new gone, new field/value pairs.
  // Reply: {status} or {'rotated', old record fields...}.
  tokenwardenAkRotate: {
    keys: 4,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {'not_found'} end
local f = redis.call('HMGET', KEYS[1], 'revoked', 'expires', 'replacedBy')
if f[1] then return {'revoked'} end
if tonumber(f[2]) <= now then return {'expired'} end
if f[3] then return {'replaced'} end
if live(KEYS[2]) or live(KEYS[3]) then
  return redis.error_reply('ERR tokenwarden: the new API key id or hash exists')
end
-- The old key ends at the overlap, never later than its own expiry.
local expires = f[2]
if tonumber(ARGV[2]) < tonumber(f[2]) then expires = ARGV[2] end
local oldGone = ms(tonumber(expires) + tonumber(ARGV[3]))
-- ARGV[6], ARGV[7] is the new key's first field pair: 'id' and its id.
redis.call('HSET', KEYS[1], 'expires', expires, 'replacedBy', ARGV[7], 'gone', oldGone)
redis.call('PEXPIREAT', KEYS[1], oldGone)
redis.call('ZADD', KEYS[4], oldGone, KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'gone', ARGV[5], 'replaces', ARGV[4], unpack(ARGV, 6))
redis.call('HSET', KEYS[3], 'rec', KEYS[2], 'gone', ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('PEXPIREAT', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[5], KEYS[2])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'rotated')
return reply`,
  },
  // KEYS: 1 record. ARGV: now, at. Reply: the record's fields, or an empty array.
  tokenwardenAkRevoke: {
    keys: 1,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {} end
local revoked = redis.call('HGET', KEYS[1], 'revoked')
-- An earlier revocation time is kept.
if not revoked or tonumber(ARGV[2]) < tonumber(revoked) then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
end
return redis.call('HGETALL', KEYS[1])`,
  },
  // KEYS: records. ARGV: now, then one last-used time per key.
  tokenwardenAkTouch: {
    keys: -1,
    lua: `${PRELUDE}
for i, key in ipairs(KEYS) do
  if live(key) then
    local last = redis.call('HGET', key, 'lastUsed')
    -- Never lowers a last-used time.
    if not last or tonumber(ARGV[i + 1]) > tonumber(last) then
      redis.call('HSET', key, 'lastUsed', ARGV[i + 1])
    end
  end
end
return #KEYS`,
  },
  // KEYS: 1 family, 2 family access tokens, 3 first token.
  // ARGV: now, gone, family pair count, token pair count, family pairs, token pairs,
  // then access tokens as score/member pairs.
  tokenwardenRfCreate: {
    keys: 3,
    lua: `${PRELUDE}
if live(KEYS[1]) or live(KEYS[3]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local nf = tonumber(ARGV[3])
local nt = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'gone', ARGV[2], unpack(ARGV, 5, 4 + nf))
redis.call('HSET', KEYS[3], 'gone', ARGV[2], 'fam', KEYS[1], 'famAt', KEYS[2], unpack(ARGV, 5 + nf, 4 + nf + nt))
if #ARGV > 4 + nf + nt then
  redis.call('ZADD', KEYS[2], unpack(ARGV, 5 + nf + nt))
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[3], ARGV[2])
return 1`,
  },
  // KEYS: 1 presented token, 2 next token.
  // ARGV: now, next token id, next issued, next expires, next hash.
  // Reply: {status, previous token id, next expires, family fields, access tokens}.
  tokenwardenRfRotate: {
    keys: 2,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {'unknown'} end
local t = redis.call('HMGET', KEYS[1], 'fam', 'famAt', 'id', 'used', 'expires', 'h')
local fam, famAt = t[1], t[2]
if not live(fam) then return {'unknown'} end
-- The family and its unexpired access tokens, as the reply carries them.
local function family()
  return redis.call('HGETALL', fam), redis.call('ZRANGEBYSCORE', famAt, '(' .. ARGV[1], '+inf', 'WITHSCORES')
end
local f = redis.call('HMGET', fam, 'revoked', 'current', 'expires', 'id', 'gone')
if f[1] then
  local fields, access = family()
  return {'revoked', t[3], '', fields, access}
end
-- A used token, or one that is not the family's current token: reuse. Revoke the family.
if t[4] or f[2] ~= t[6] then
  redis.call('HSET', fam, 'revoked', ARGV[1], 'reason', 'reuse_detected')
  local fields, access = family()
  return {'reused', t[3], '', fields, access}
end
if tonumber(t[5]) <= now or tonumber(f[3]) <= now then return {'expired', t[3]} end
if live(KEYS[2]) then return redis.error_reply('ERR tokenwarden: the next refresh token exists') end
-- The next token expires at its own time or the family's end, whichever is first.
local expires = ARGV[4]
if tonumber(f[3]) < tonumber(expires) then expires = f[3] end
redis.call('HSET', KEYS[1], 'used', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'gone', f[5], 'fam', fam, 'famAt', famAt, 'id', ARGV[2],
  'h', ARGV[5], 'family', f[4], 'issued', ARGV[3], 'expires', expires)
redis.call('PEXPIREAT', KEYS[2], f[5])
redis.call('HSET', fam, 'current', ARGV[5])
redis.call('HINCRBY', fam, 'rotations', 1)
local fields, access = family()
return {'rotated', t[3], expires, fields, access}`,
  },
  // KEYS: 1 family, 2 family access tokens. ARGV: now, expires, token id.
  tokenwardenRfAddAccess: {
    keys: 2,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'gone'))
return 1`,
  },
  // KEYS: 1 a refresh token. ARGV: now. Reply: {} or {family fields, access tokens}.
  tokenwardenRfFind: {
    keys: 1,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {} end
local t = redis.call('HMGET', KEYS[1], 'fam', 'famAt')
if not live(t[1]) then return {} end
return {redis.call('HGETALL', t[1]), redis.call('ZRANGEBYSCORE', t[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')}`,
  },
  // KEYS: 1 family, 2 family access tokens. ARGV: now, at ('' to only read), reason.
  // Reply: {} or {family fields, access tokens}.
  tokenwardenRfRevoke: {
    keys: 2,
    lua: `${PRELUDE}
if not live(KEYS[1]) then return {} end
if ARGV[2] ~= '' and not redis.call('HGET', KEYS[1], 'revoked') then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[2], 'reason', ARGV[3])
end
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')}`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCommands = Record<ScriptName, (...args: string[]) => Promise<unknown>>;

/** The few client members the store touches; `Redis` and `Cluster` both have them. */
interface ClientView {
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  once(event: 'ready', listener: () => void): unknown;
  removeListener(event: 'ready', listener: () => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

const CONNECTING = new Set(['connecting', 'connect', 'reconnecting']);
const HEX_HASH = /^[0-9a-f]{64}$/;

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
  readonly #client: ClientView;
  readonly #commands: ScriptCommands;
  private readonly owned: boolean;
  private readonly base: string;
  private readonly maxKeyLength: number;
  private readonly timeoutMs: number;
  private readonly retentionMs: number;
  private readonly clock: Clock;
  private closing: Promise<void> | undefined;
  private ready: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCredentialStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`RedisCredentialStore needs an options object with 'url' or 'client'`);
    }
    const { url, client } = options;
    if ((url === undefined) === (client === undefined)) {
      throw new ConfigError(
        `RedisCredentialStore needs exactly one of 'url' (a redis:// URL) and 'client' (an ioredis Redis or Cluster)`,
      );
    }
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs <= 0 || this.timeoutMs > 60_000) {
      throw new ConfigError(
        `RedisCredentialStore option 'commandTimeoutMs' must be an integer from 1 to 60000`,
      );
    }
    this.retentionMs = options.retentionMs ?? DEFAULT_CREDENTIAL_RETENTION_MS;
    if (!Number.isSafeInteger(this.retentionMs) || this.retentionMs <= 0) {
      throw new ConfigError(`RedisCredentialStore option 'retentionMs' must be a positive integer`);
    }
    const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
    // KeySpace validates the prefix and the key length bound (for its own, longer kinds).
    this.base = new KeySpace(options.prefix ?? DEFAULT_PREFIX, maxKeyLength).base;
    this.maxKeyLength = maxKeyLength;
    this.clock = options.clock ?? systemClock;
    if (typeof this.clock?.now !== 'function') {
      throw new ConfigError(`RedisCredentialStore option 'clock' must have a now() method`);
    }
    if (client !== undefined) {
      const view = client as unknown as Partial<ClientView> | null;
      if (typeof view?.defineCommand !== 'function') {
        throw new ConfigError(
          `RedisCredentialStore option 'client' must be an ioredis Redis or Cluster`,
        );
      }
      this.#client = client as unknown as ClientView;
      this.owned = false;
    } else {
      this.#client = openClient(
        url,
        this.timeoutMs,
        (err) => {
          this.lastConnectionError = err;
        },
        "RedisCredentialStore option 'url'",
      ) as unknown as ClientView;
      this.owned = true;
    }
    for (const [name, script] of Object.entries(SCRIPTS)) {
      this.#client.defineCommand(
        name,
        script.keys < 0 ? { lua: script.lua } : { lua: script.lua, numberOfKeys: script.keys },
      );
    }
    this.#commands = this.#client as unknown as ScriptCommands;
  }

  async createApiKey(record: ApiKeyRecord): Promise<boolean> {
    const gone = this.goneArg(record.expiresAt);
    const args = [
      this.keyOf('ak:', encodeId(text(record.keyId, 'keyId'))),
      this.hashKey('akh:', record.hash),
      `${this.base}akidx`,
      this.nowArg(),
      gone,
      ...keyFields(record),
    ];
    return this.run('createApiKey', 'tokenwardenAkCreate', args, (reply) => reply === 1);
  }

  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const args = [this.hashKey('akh:', hash), this.nowArg()];
    return this.run('findApiKey', 'tokenwardenAkFind', args, (reply) => optionalKey(reply));
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord | undefined> {
    const args = [this.keyOf('ak:', encodeId(text(keyId, 'keyId'))), this.nowArg()];
    return this.run('getApiKey', 'tokenwardenAkGet', args, (reply) => optionalKey(reply));
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const args = [`${this.base}akidx`, this.nowArg()];
    return this.run('listApiKeys', 'tokenwardenAkList', args, (reply) => {
      if (!Array.isArray(reply)) throw unexpected('listApiKeys');
      return reply
        .map((fields: unknown) => toKey(fieldMap(fields, 'listApiKeys')))
        .sort((a, b) => a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : 1));
    });
  }

  async rotateApiKey(
    keyId: string,
    next: ApiKeyRecord,
    overlapEndsAt: number,
    now: number,
  ): Promise<ApiKeyRotation> {
    const args = [
      this.keyOf('ak:', encodeId(text(keyId, 'keyId'))),
      this.keyOf('ak:', encodeId(text(next.keyId, 'next.keyId'))),
      this.hashKey('akh:', next.hash),
      `${this.base}akidx`,
      epochArg(now, 'now'),
      epochArg(overlapEndsAt, 'overlapEndsAt'),
      String(this.retentionMs),
      keyId,
      this.goneArg(next.expiresAt),
      ...keyFields(next),
    ];
    return this.run('rotateApiKey', 'tokenwardenAkRotate', args, (reply) => {
      if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw unexpected('rotateApiKey');
      const status = reply[0];
      if (status === 'rotated') {
        return { status, previous: toKey(fieldMap(reply.slice(1), 'rotateApiKey')) };
      }
      if (
        status === 'not_found' ||
        status === 'revoked' ||
        status === 'expired' ||
        status === 'replaced'
      ) {
        return { status };
      }
      throw unexpected('rotateApiKey');
    });
  }

  async revokeApiKey(keyId: string, at: number): Promise<ApiKeyRecord | undefined> {
    const args = [
      this.keyOf('ak:', encodeId(text(keyId, 'keyId'))),
      this.nowArg(),
      epochArg(at, 'at'),
    ];
    return this.run('revokeApiKey', 'tokenwardenAkRevoke', args, (reply) => optionalKey(reply));
  }

  async touchApiKeys(
    uses: readonly { readonly keyId: string; readonly at: number }[],
  ): Promise<void> {
    // Batches of at most 500 keys keep each script short.
    for (let start = 0; start < uses.length; start += 500) {
      const batch = uses.slice(start, start + 500);
      const keys = batch.map((u) => this.keyOf('ak:', encodeId(text(u.keyId, 'keyId'))));
      const times = batch.map((u) => epochArg(u.at, 'at'));
      await this.run(
        'touchApiKeys',
        'tokenwardenAkTouch',
        [String(keys.length), ...keys, this.nowArg(), ...times],
        () => undefined,
      );
    }
  }

  async createRefreshFamily(family: RefreshFamily, first: RefreshTokenRecord): Promise<boolean> {
    const encoded = encodeId(text(family.familyId, 'familyId'));
    const familyPairs = [
      'id',
      family.familyId,
      'sub',
      text(family.subject, 'subject'),
      'client',
      text(family.client, 'client'),
      'scopes',
      JSON.stringify(family.scopes),
      'created',
      epochArg(family.createdAt, 'createdAt'),
      'expires',
      epochArg(family.expiresAt, 'expiresAt'),
      'rotations',
      '0',
      'current',
      hexHash(first.hash),
    ];
    const tokenPairs = [
      'id',
      text(first.tokenId, 'tokenId'),
      'h',
      first.hash,
      'family',
      family.familyId,
      'issued',
      epochArg(first.issuedAt, 'issuedAt'),
      'expires',
      epochArg(Math.min(first.expiresAt, family.expiresAt), 'expiresAt'),
    ];
    const access = family.accessTokens.flatMap((t) => [
      epochArg(t.expiresAt, 'accessToken.expiresAt'),
      text(t.tokenId, 'accessToken.tokenId'),
    ]);
    const args = [
      this.keyOf('rf:', encoded),
      this.keyOf('rfat:', encoded),
      this.hashKey('rt:', first.hash),
      this.nowArg(),
      this.goneArg(family.expiresAt),
      String(familyPairs.length),
      String(tokenPairs.length),
      ...familyPairs,
      ...tokenPairs,
      ...access,
    ];
    return this.run('createRefreshFamily', 'tokenwardenRfCreate', args, (reply) => reply === 1);
  }

  async rotateRefreshToken(
    hash: string,
    next: Omit<RefreshTokenRecord, 'familyId'>,
    now: number,
  ): Promise<RefreshRotation> {
    const args = [
      this.hashKey('rt:', hash),
      this.hashKey('rt:', next.hash),
      epochArg(now, 'now'),
      text(next.tokenId, 'next.tokenId'),
      epochArg(next.issuedAt, 'next.issuedAt'),
      epochArg(next.expiresAt, 'next.expiresAt'),
      next.hash,
    ];
    return this.run('rotateRefreshToken', 'tokenwardenRfRotate', args, (reply) => {
      if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
        throw unexpected('rotateRefreshToken');
      }
      const [status, previousTokenId, nextExpires, fields, access] = reply as unknown[];
      if (status === 'unknown') return { status };
      if (typeof previousTokenId !== 'string') throw unexpected('rotateRefreshToken');
      if (status === 'expired') return { status, previousTokenId };
      const family = toFamily(fieldMap(fields, 'rotateRefreshToken'), access);
      if (status === 'revoked' || status === 'reused') return { status, family, previousTokenId };
      if (status !== 'rotated' || typeof nextExpires !== 'string') {
        throw unexpected('rotateRefreshToken');
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
    });
  }

  async addFamilyAccessToken(
    familyId: string,
    token: FamilyAccessToken,
    now: number,
  ): Promise<boolean> {
    const encoded = encodeId(text(familyId, 'familyId'));
    const args = [
      this.keyOf('rf:', encoded),
      this.keyOf('rfat:', encoded),
      epochArg(now, 'now'),
      epochArg(token.expiresAt, 'expiresAt'),
      text(token.tokenId, 'tokenId'),
    ];
    return this.run('addFamilyAccessToken', 'tokenwardenRfAddAccess', args, (r) => r === 1);
  }

  async revokeRefreshFamily(
    familyId: string,
    at: number,
    reason: FamilyRevocationReason,
  ): Promise<RefreshFamily | undefined> {
    return this.familyCall('revokeRefreshFamily', familyId, epochArg(at, 'at'), reason);
  }

  async getRefreshFamily(familyId: string): Promise<RefreshFamily | undefined> {
    return this.familyCall('getRefreshFamily', familyId, '', '');
  }

  async findRefreshFamily(hash: string): Promise<RefreshFamily | undefined> {
    const args = [this.hashKey('rt:', hash), this.nowArg()];
    return this.run('findRefreshFamily', 'tokenwardenRfFind', args, (reply) => {
      if (!Array.isArray(reply)) throw unexpected('findRefreshFamily');
      if (reply.length === 0) return undefined;
      return toFamily(fieldMap(reply[0], 'findRefreshFamily'), reply[1]);
    });
  }

  /** Stops using Redis; quits the client only if the store opened it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.owned) return;
      try {
        await Promise.race([
          this.#client.quit(),
          new Promise((resolve) => setTimeout(resolve, this.timeoutMs).unref()),
        ]);
      } catch {
        // Already closed or never connected.
      } finally {
        this.#client.disconnect();
      }
    })();
    return this.closing;
  }

  private familyCall(
    operation: string,
    familyId: string,
    at: string,
    reason: string,
  ): Promise<RefreshFamily | undefined> {
    const encoded = encodeId(text(familyId, 'familyId'));
    const args = [
      this.keyOf('rf:', encoded),
      this.keyOf('rfat:', encoded),
      this.nowArg(),
      at,
      reason,
    ];
    return this.run(operation, 'tokenwardenRfRevoke', args, (reply) => {
      if (!Array.isArray(reply)) throw unexpected(operation);
      if (reply.length === 0) return undefined;
      return toFamily(fieldMap(reply[0], operation), reply[1]);
    });
  }

  /** Sends one script under the deadline; every failure becomes `StoreUnavailableError`. */
  private async run<T>(
    operation: string,
    script: ScriptName,
    args: string[],
    parse: (reply: unknown) => T,
  ): Promise<T> {
    if (this.closing !== undefined) {
      throw new StoreUnavailableError(`RedisCredentialStore is closed; ${operation} was not sent`);
    }
    const deadline = startDeadline(operation, this.timeoutMs, () =>
      this.#client.status === 'ready' ? undefined : this.lastConnectionError,
    );
    try {
      const send = () => {
        if (deadline.passed) throw new StoreUnavailableError(`Redis did not answer ${operation}`);
        return this.#commands[script](...args);
      };
      const sent = CONNECTING.has(this.#client.status) ? this.whenReady().then(send) : send();
      return parse(await Promise.race([sent, deadline.promise]));
    } catch (err) {
      throw unavailable(operation, err);
    } finally {
      deadline.clear();
    }
  }

  private whenReady(): Promise<void> {
    this.ready ??= new Promise<void>((resolve) => {
      this.#client.once('ready', () => {
        this.ready = undefined;
        resolve();
      });
    });
    return this.ready;
  }

  private keyOf(kind: string, encoded: string): string {
    const key = `${this.base}${kind}${encoded}`;
    if (Buffer.byteLength(key) <= this.maxKeyLength) return key;
    return `${this.base}${kind}#${createHash('sha256').update(encoded).digest('hex')}`;
  }

  private hashKey(kind: string, hash: string): string {
    return `${this.base}${kind}${hexHash(hash)}`;
  }

  private nowArg(): string {
    return epochArg(Math.floor(this.clock.now()), 'clock.now()');
  }

  private goneArg(expiresAt: number): string {
    return epochArg(epochNumber(expiresAt, 'expiresAt') + this.retentionMs, 'expiresAt');
  }
}

/** The stored field/value pairs of a key record (hash, never the key). */
function keyFields(record: ApiKeyRecord): string[] {
  const pairs = [
    'id',
    text(record.keyId, 'keyId'),
    'h',
    hexHash(record.hash),
    'client',
    text(record.client, 'client'),
    'sub',
    text(record.subject, 'subject'),
    'scopes',
    JSON.stringify(record.scopes.map((s) => text(s, 'scope'))),
    'env',
    text(record.environment, 'environment'),
    'created',
    epochArg(record.createdAt, 'createdAt'),
    'expires',
    epochArg(record.expiresAt, 'expiresAt'),
  ];
  if (record.name !== undefined) pairs.push('name', text(record.name, 'name'));
  if (record.revokedAt !== undefined)
    pairs.push('revoked', epochArg(record.revokedAt, 'revokedAt'));
  if (record.replacedBy !== undefined)
    pairs.push('replacedBy', text(record.replacedBy, 'replacedBy'));
  if (record.replaces !== undefined) pairs.push('replaces', text(record.replaces, 'replaces'));
  if (record.lastUsedAt !== undefined)
    pairs.push('lastUsed', epochArg(record.lastUsedAt, 'lastUsedAt'));
  return pairs;
}

function optionalKey(reply: unknown): ApiKeyRecord | undefined {
  if (Array.isArray(reply) && reply.length === 0) return undefined;
  return toKey(fieldMap(reply, 'API key'));
}

function toKey(f: Map<string, string>): ApiKeyRecord {
  const get = (name: string) => {
    const value = f.get(name);
    if (value === undefined) throw unexpected('API key');
    return value;
  };
  const optional = (name: string, key: keyof ApiKeyRecord, number = false) => {
    const value = f.get(name);
    if (value === undefined) return {};
    return { [key]: number ? epochMs(value, 'API key') : value };
  };
  return {
    keyId: get('id'),
    hash: get('h'),
    client: get('client'),
    subject: get('sub'),
    scopes: scopesOf(get('scopes')),
    environment: get('env'),
    ...optional('name', 'name'),
    createdAt: epochMs(get('created'), 'API key'),
    expiresAt: epochMs(get('expires'), 'API key'),
    ...optional('revoked', 'revokedAt', true),
    ...optional('replacedBy', 'replacedBy'),
    ...optional('replaces', 'replaces'),
    ...optional('lastUsed', 'lastUsedAt', true),
  } as ApiKeyRecord;
}

function toFamily(f: Map<string, string>, access: unknown): RefreshFamily {
  const get = (name: string) => {
    const value = f.get(name);
    if (value === undefined) throw unexpected('refresh family');
    return value;
  };
  if (!Array.isArray(access) || access.length % 2 !== 0) throw unexpected('refresh family');
  const accessTokens: FamilyAccessToken[] = [];
  for (let i = 0; i < access.length; i += 2) {
    const [tokenId, score] = [access[i], access[i + 1]];
    if (typeof tokenId !== 'string' || typeof score !== 'string')
      throw unexpected('refresh family');
    accessTokens.push({ tokenId, expiresAt: epochMs(score, 'refresh family') });
  }
  const revoked = f.get('revoked');
  const reason = f.get('reason');
  if (revoked !== undefined && reason !== 'revoked' && reason !== 'reuse_detected') {
    throw unexpected('refresh family');
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

function scopesOf(json: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw unexpected('scopes');
  }
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) throw unexpected('scopes');
  return value as string[];
}

/** A flat [field, value, …] reply as a map. */
function fieldMap(reply: unknown, operation: string): Map<string, string> {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw unexpected(operation);
  const out = new Map<string, string>();
  for (let i = 0; i < reply.length; i += 2) {
    const [name, value] = [reply[i], reply[i + 1]];
    if (typeof name !== 'string' || typeof value !== 'string') throw unexpected(operation);
    out.set(name, value);
  }
  return out;
}

function unexpected(operation: string): StoreUnavailableError {
  return new StoreUnavailableError(`Redis gave an unexpected reply to ${operation}`);
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw new TypeError(`RedisCredentialStore: '${name}' must be a string`);
  }
  return value;
}

function hexHash(value: unknown): string {
  if (typeof value !== 'string' || !HEX_HASH.test(value)) {
    throw new TypeError('RedisCredentialStore: a credential hash must be 64 lower-case hex digits');
  }
  return value;
}

function epochNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RangeError(`RedisCredentialStore: '${name}' must be an integer number of epoch ms`);
  }
  return value;
}

function epochArg(value: unknown, name: string): string {
  return String(epochNumber(value, name));
}

function epochMs(value: string, operation: string): number {
  if (!/^-?\d{1,16}$/.test(value)) throw unexpected(operation);
  return Number(value);
}
