/**
 * The Lua scripts of `RedisCredentialStore` for API keys. Keys (see the store):
 * `ak:<id>` the record (hash of fields, only the key's hash, never the key), `akh:<sha256>` the
 * hash index (hash: rec, the record's key name; gone), `akidx` the list index (sorted set of
 * record key names, scored by their 'gone' time). Replies of records are HGETALL field arrays.
 */
import { COMMANDS, type ScriptDefinition } from './commands';
import { CREDENTIAL_PRELUDE } from './prelude';

/**
 * Stores a new key record, unless the id or the hash is taken.
 *
 * KEYS: 1 record, 2 hash index, 3 list index. ARGV: 1 now, 2 gone, then field/value pairs.
 * Reply: 1 when stored, 0 when the id or hash exists.
 */
export const API_KEY_CREATE_LUA = `${CREDENTIAL_PRELUDE}
-- A kept record or hash already exists: refuse, store nothing.
if live(KEYS[1]) or live(KEYS[2]) then return 0 end
-- Leftovers past their 'gone' time (by the store's clock) are replaced.
redis.call('DEL', KEYS[1], KEYS[2])
-- The record: its 'gone' time and every field of the key.
redis.call('HSET', KEYS[1], 'gone', ARGV[2], unpack(ARGV, 3))
-- The hash index points at the record, and is forgotten with it.
redis.call('HSET', KEYS[2], 'rec', KEYS[1], 'gone', ARGV[2])
-- Redis drops both at the 'gone' time too.
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
-- The list index, scored by 'gone' so expired entries can be cut in one call.
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[1])
return 1`;

/**
 * Finds a record by the hash of its key.
 *
 * KEYS: 1 hash index. ARGV: 1 now. Reply: the record's fields, or an empty array.
 */
export const API_KEY_FIND_LUA = `${CREDENTIAL_PRELUDE}
-- No kept hash index entry: unknown key.
if not live(KEYS[1]) then return {} end
-- Follow the index to the record's key (in the same slot).
local rec = redis.call('HGET', KEYS[1], 'rec')
-- The record itself may be gone already.
if not live(rec) then return {} end
return redis.call('HGETALL', rec)`;

/**
 * Reads one record by key id.
 *
 * KEYS: 1 record. ARGV: 1 now. Reply: the record's fields, or an empty array.
 */
export const API_KEY_GET_LUA = `${CREDENTIAL_PRELUDE}
-- Past its 'gone' time by the store's clock: as if absent.
if not live(KEYS[1]) then return {} end
return redis.call('HGETALL', KEYS[1])`;

/**
 * Lists every kept record.
 *
 * KEYS: 1 list index. ARGV: 1 now. Reply: one field array per kept record.
 */
export const API_KEY_LIST_LUA = `${CREDENTIAL_PRELUDE}
-- Forget index entries whose record is gone.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
-- Every remaining entry names a record key in this slot.
for _, rec in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  -- Only records still kept by the store's clock.
  if live(rec) then out[#out + 1] = redis.call('HGETALL', rec) end
end
return out`;

/**
 * Replaces a key by a new one: the old key stays valid until the overlap ends (never later than
 * its own expiry) and points at its successor; the new key is stored as by create.
 *
 * KEYS: 1 old record, 2 new record, 3 new hash index, 4 list index.
 * ARGV: 1 now, 2 overlapEndsAt, 3 retention, 4 old key id, 5 new gone, then the new key's
 * field/value pairs.
 * Reply: {status} ('not_found' | 'revoked' | 'expired' | 'replaced'), or {'rotated', old record
 * fields...}; an error reply when the new id or hash exists.
 */
export const API_KEY_ROTATE_LUA = `${CREDENTIAL_PRELUDE}
-- Only a kept, usable key can be rotated; each refusal says why.
if not live(KEYS[1]) then return {'not_found'} end
local f = redis.call('HMGET', KEYS[1], 'revoked', 'expires', 'replacedBy')
if f[1] then return {'revoked'} end
if tonumber(f[2]) <= now then return {'expired'} end
-- Rotated once already: a key has at most one successor.
if f[3] then return {'replaced'} end
-- The new id or hash is taken: a caller bug (ids and keys are random), not a status.
if live(KEYS[2]) or live(KEYS[3]) then
  return redis.error_reply('ERR tokenwarden: the new API key id or hash exists')
end
-- The old key ends at the overlap, never later than its own expiry.
local expires = f[2]
if tonumber(ARGV[2]) < tonumber(f[2]) then expires = ARGV[2] end
-- It is kept for the retention after it ends, like any record.
local oldGone = ms(tonumber(expires) + tonumber(ARGV[3]))
-- ARGV[6], ARGV[7] is the new key's first field pair: 'id' and its id.
redis.call('HSET', KEYS[1], 'expires', expires, 'replacedBy', ARGV[7], 'gone', oldGone)
redis.call('PEXPIREAT', KEYS[1], oldGone)
-- Re-score the old record in the list index with its new 'gone' time.
redis.call('ZADD', KEYS[4], oldGone, KEYS[1])
-- The new key, exactly as create stores it, plus the id it replaces.
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'gone', ARGV[5], 'replaces', ARGV[4], unpack(ARGV, 6))
redis.call('HSET', KEYS[3], 'rec', KEYS[2], 'gone', ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('PEXPIREAT', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[5], KEYS[2])
-- Reply with the old record as it is now, after the status.
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'rotated')
return reply`;

/**
 * Revokes a key; an earlier revocation time is kept.
 *
 * KEYS: 1 record. ARGV: 1 now, 2 at. Reply: the record's fields, or an empty array.
 */
export const API_KEY_REVOKE_LUA = `${CREDENTIAL_PRELUDE}
-- Unknown or gone: nothing to revoke.
if not live(KEYS[1]) then return {} end
local revoked = redis.call('HGET', KEYS[1], 'revoked')
-- An earlier revocation time is kept.
if not revoked or tonumber(ARGV[2]) < tonumber(revoked) then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
end
-- The record as stored now.
return redis.call('HGETALL', KEYS[1])`;

/**
 * Records when keys were last used, in one call for a batch.
 *
 * KEYS: records (the caller passes their count first). ARGV: 1 now, then one last-used time per
 * key. Reply: the number of keys passed.
 */
export const API_KEY_TOUCH_LUA = `${CREDENTIAL_PRELUDE}
for i, key in ipairs(KEYS) do
  -- A key gone meanwhile is not brought back.
  if live(key) then
    local last = redis.call('HGET', key, 'lastUsed')
    -- Never lowers a last-used time.
    if not last or tonumber(ARGV[i + 1]) > tonumber(last) then
      redis.call('HSET', key, 'lastUsed', ARGV[i + 1])
    end
  end
end
return #KEYS`;

/** The API-key scripts, with their command names and key counts. */
export const API_KEY_SCRIPTS: readonly ScriptDefinition[] = [
  { name: COMMANDS.apiKeyCreate, numberOfKeys: 3, lua: API_KEY_CREATE_LUA },
  { name: COMMANDS.apiKeyFind, numberOfKeys: 1, lua: API_KEY_FIND_LUA },
  { name: COMMANDS.apiKeyGet, numberOfKeys: 1, lua: API_KEY_GET_LUA },
  { name: COMMANDS.apiKeyList, numberOfKeys: 1, lua: API_KEY_LIST_LUA },
  { name: COMMANDS.apiKeyRotate, numberOfKeys: 4, lua: API_KEY_ROTATE_LUA },
  { name: COMMANDS.apiKeyRevoke, numberOfKeys: 1, lua: API_KEY_REVOKE_LUA },
  { name: COMMANDS.apiKeyTouch, lua: API_KEY_TOUCH_LUA },
];
