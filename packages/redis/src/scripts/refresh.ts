/**
 * The Lua scripts of `RedisCredentialStore` for refresh-token families. Keys (see the store):
 * `rf:<id>` the family (hash), `rfat:<id>` its access tokens (sorted set of token ids scored by
 * expiry), `rt:<sha256>` one refresh token (hash: fam and famAt, the family's key names; id, h,
 * family, issued, expires, used). A family reply is {family fields, access tokens}, the access
 * tokens as a flat [tokenId, expiresAt, ...] array of the unexpired ones.
 */
import { COMMANDS, type ScriptDefinition } from './commands';
import { CREDENTIAL_PRELUDE } from './prelude';

/**
 * Stores a new family and its first refresh token, unless either exists.
 *
 * KEYS: 1 family, 2 family access tokens, 3 first token.
 * ARGV: 1 now, 2 gone, 3 family pair count, 4 token pair count, then the family pairs, the token
 * pairs, then access tokens as score/member pairs. Reply: 1 when stored, 0 when taken.
 */
export const REFRESH_CREATE_LUA = `${CREDENTIAL_PRELUDE}
-- A kept family or token already exists: refuse, store nothing.
if live(KEYS[1]) or live(KEYS[3]) then return 0 end
-- Leftovers past their 'gone' time (by the store's clock) are replaced.
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
-- How many ARGV belong to the family's and to the token's field/value pairs.
local nf = tonumber(ARGV[3])
local nt = tonumber(ARGV[4])
-- The family record.
redis.call('HSET', KEYS[1], 'gone', ARGV[2], unpack(ARGV, 5, 4 + nf))
-- The token, with the key names of its family (in the same slot).
redis.call('HSET', KEYS[3], 'gone', ARGV[2], 'fam', KEYS[1], 'famAt', KEYS[2], unpack(ARGV, 5 + nf, 4 + nf + nt))
-- Access tokens issued with the family, if any, kept as long as the family.
if #ARGV > 4 + nf + nt then
  redis.call('ZADD', KEYS[2], unpack(ARGV, 5 + nf + nt))
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
-- Redis drops the family and the token at the 'gone' time too.
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[3], ARGV[2])
return 1`;

/**
 * Rotates a refresh token: the presented token becomes used and the next one current. A token
 * presented twice, or one that is not the family's current token, is reuse: the whole family is
 * revoked.
 *
 * KEYS: 1 presented token, 2 next token.
 * ARGV: 1 now, 2 next token id, 3 next issued, 4 next expires, 5 next hash.
 * Reply: {status, previous token id, next expires, family fields, access tokens}; status
 * 'unknown' comes alone, 'expired' with the previous token id only.
 */
export const REFRESH_ROTATE_LUA = `${CREDENTIAL_PRELUDE}
-- An unknown or forgotten token.
if not live(KEYS[1]) then return {'unknown'} end
local t = redis.call('HMGET', KEYS[1], 'fam', 'famAt', 'id', 'used', 'expires', 'h')
-- The family's key names, stored in the token.
local fam, famAt = t[1], t[2]
-- A token whose family is gone counts as unknown.
if not live(fam) then return {'unknown'} end
-- The family and its unexpired access tokens, as the reply carries them.
local function family()
  return redis.call('HGETALL', fam), redis.call('ZRANGEBYSCORE', famAt, '(' .. ARGV[1], '+inf', 'WITHSCORES')
end
local f = redis.call('HMGET', fam, 'revoked', 'current', 'expires', 'id', 'gone')
-- A revoked family stays revoked: no rotation.
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
-- The token or the whole family has expired by the caller's time.
if tonumber(t[5]) <= now or tonumber(f[3]) <= now then return {'expired', t[3]} end
-- The next token's hash is taken: a caller bug (tokens are random), not a status.
if live(KEYS[2]) then return redis.error_reply('ERR tokenwarden: the next refresh token exists') end
-- The next token expires at its own time or the family's end, whichever is first.
local expires = ARGV[4]
if tonumber(f[3]) < tonumber(expires) then expires = f[3] end
-- The presented token is used from now on; presenting it again is reuse.
redis.call('HSET', KEYS[1], 'used', ARGV[1])
-- The next token, kept as long as the family.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'gone', f[5], 'fam', fam, 'famAt', famAt, 'id', ARGV[2],
  'h', ARGV[5], 'family', f[4], 'issued', ARGV[3], 'expires', expires)
redis.call('PEXPIREAT', KEYS[2], f[5])
-- The family's current token is the next one, and it counts one more rotation.
redis.call('HSET', fam, 'current', ARGV[5])
redis.call('HINCRBY', fam, 'rotations', 1)
local fields, access = family()
return {'rotated', t[3], expires, fields, access}`;

/**
 * Records an access token issued from a family (revoked with it), and tells in the same step
 * whether the family is revoked already: then no revocation of the family will come for this
 * token, and the caller revokes it.
 *
 * KEYS: 1 family, 2 family access tokens. ARGV: 1 now, 2 expires, 3 token id.
 * Reply: 1 when recorded in a live family, 2 when recorded in a revoked one, 0 when the family is
 * gone.
 */
export const REFRESH_ADD_ACCESS_LUA = `${CREDENTIAL_PRELUDE}
-- Unknown or forgotten family: nothing to record.
if not live(KEYS[1]) then return 0 end
-- Drop access tokens that have expired: they need no revocation any more.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
-- Kept as long as the family.
redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'gone'))
-- A family revoked before this token was recorded (reuse detected by a parallel rotation, or a
-- revocation): its revocation swept the tokens recorded then, not this one.
if redis.call('HEXISTS', KEYS[1], 'revoked') == 1 then return 2 end
return 1`;

/**
 * Finds the family of a refresh token.
 *
 * KEYS: 1 a refresh token. ARGV: 1 now. Reply: {} or {family fields, access tokens}.
 */
export const REFRESH_FIND_LUA = `${CREDENTIAL_PRELUDE}
-- Unknown or forgotten token.
if not live(KEYS[1]) then return {} end
-- The family's key names, stored in the token.
local t = redis.call('HMGET', KEYS[1], 'fam', 'famAt')
if not live(t[1]) then return {} end
-- The family and its unexpired access tokens.
return {redis.call('HGETALL', t[1]), redis.call('ZRANGEBYSCORE', t[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')}`;

/**
 * Reads a family, and revokes it when `at` is given; a first revocation is kept.
 *
 * KEYS: 1 family, 2 family access tokens. ARGV: 1 now, 2 at ('' to only read), 3 reason.
 * Reply: {} or {family fields, access tokens}.
 */
export const REFRESH_REVOKE_LUA = `${CREDENTIAL_PRELUDE}
-- Unknown or forgotten family.
if not live(KEYS[1]) then return {} end
-- Revoke unless only reading, or revoked already (its first time and reason stay).
if ARGV[2] ~= '' and not redis.call('HGET', KEYS[1], 'revoked') then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[2], 'reason', ARGV[3])
end
-- The family as stored now, and its unexpired access tokens.
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')}`;

/** The refresh-family scripts, with their command names and key counts. */
export const REFRESH_SCRIPTS: readonly ScriptDefinition[] = [
  { name: COMMANDS.refreshCreate, numberOfKeys: 3, lua: REFRESH_CREATE_LUA },
  { name: COMMANDS.refreshRotate, numberOfKeys: 2, lua: REFRESH_ROTATE_LUA },
  { name: COMMANDS.refreshAddAccess, numberOfKeys: 2, lua: REFRESH_ADD_ACCESS_LUA },
  { name: COMMANDS.refreshFind, numberOfKeys: 1, lua: REFRESH_FIND_LUA },
  { name: COMMANDS.refreshRevoke, numberOfKeys: 2, lua: REFRESH_REVOKE_LUA },
];
