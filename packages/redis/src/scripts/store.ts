/**
 * The Lua scripts of `RedisStore`: revocation marks and consent records. Each read-modify-write
 * is one script, so it is atomic and costs one round trip.
 *
 * Conventions of these scripts:
 * - Times are epoch-ms integers passed as decimal strings; the store validates them first, and
 *   scripts store the caller's string as given (never `tostring` of a Lua number, which could
 *   come out as `1.7e+12`).
 * - Replies are flat arrays of strings only. A missing value is `''`; a Lua `nil` would cut the
 *   array short and a Lua `false` means different things in RESP2 and RESP3.
 * - A consent record travels as five strings: granted, expires, withdrawn, hasSource ('1' | '0'),
 *   source. hasSource tells an absent source from an empty one.
 * - Every write announces itself on the store's invalidation channel (the last two ARGV: channel
 *   and message) from inside the script, so the announcement is atomic with the change: no node
 *   can see the new value in Redis while its cache waits for a message that was never sent.
 */
import { COMMANDS, type ScriptDefinition } from './commands';

/**
 * Everything one request needs, read in one round trip.
 *
 * KEYS: 1 revoked-id hash, 2 subject mark, 3 client mark, 4 all mark, 5 consent hash. Every key is
 * always passed (all in one hash-tag slot); ARGV flags say whether 3 and 5 were asked for.
 * ARGV: 1 now (epoch ms, the store's clock), 2 '1' if a client was given, 3 '1' if consent was.
 * Reply: [revokedUntil, subjectAt, clientAt, allAt, granted, expires, withdrawn, hasSource, source]
 */
export const LOOKUP_LUA = `
-- The store's clock: an entry is live while its 'until' is later than now. Redis drops it
-- physically at the same time through PEXPIREAT; this check keeps an injected clock authoritative.
local now = tonumber(ARGV[1])
-- Reads one mark (or revoked id) hash; its 'at' string while live, else ''.
local function live(key)
  -- 'at' is the mark time (for a revoked id, the token expiry); 'until' is when it may be forgotten.
  local entry = redis.call('HMGET', key, 'at', 'until')
  -- Both fields present and 'until' still ahead of now: the entry counts.
  if entry[1] and entry[2] and tonumber(entry[2]) > now then
    return entry[1]
  end
  -- Missing, half-written or expired by the store's clock: no entry.
  return ''
end
-- Fixed-size reply; every slot is a string so no nil can truncate it.
local reply = { live(KEYS[1]), live(KEYS[2]), '', live(KEYS[4]), '', '', '', '0', '' }
-- The client mark only when the token names a client (KEYS[3] is a placeholder otherwise).
if ARGV[2] == '1' then
  reply[3] = live(KEYS[3])
end
-- The consent record only when the route asked for one.
if ARGV[3] == '1' then
  -- HMGET returns false for each missing field.
  local c = redis.call('HMGET', KEYS[5], 'granted', 'expires', 'withdrawn', 'source')
  -- A record always has 'granted' (0 for a withdrawal without a grant); without it, no record.
  if c[1] then
    reply[5] = c[1]
    reply[6] = c[2] or ''
    reply[7] = c[3] or ''
    -- Flag the source separately: '' is a valid source.
    if c[4] then
      reply[8] = '1'
      reply[9] = c[4]
    end
  end
end
return reply
`;

/**
 * Sets a not-before mark or a revoked id, only ever forward: the stored time and the keep-until
 * time each become the larger of the old and the new one, and the key expires at keep-until.
 *
 * KEYS: 1 the mark or revoked-id hash.
 * ARGV: 1 at (epoch ms), 2 keepUntil (epoch ms), 3 now (epoch ms, the store's clock),
 * 4 invalidation channel, 5 message.
 * Reply: [at, until] as stored.
 */
export const RAISE_LUA = `
-- Start from the caller's values (strings, stored as given).
local at = ARGV[1]
local keep = ARGV[2]
-- The previous entry, if any: false for missing fields.
local old = redis.call('HMGET', KEYS[1], 'at', 'until')
-- A previous entry counts only while live by the store's clock (same rule as the lookup).
if old[1] and old[2] and tonumber(old[2]) > tonumber(ARGV[3]) then
  -- Never move the mark back: a late, older write must not shorten a revocation.
  if tonumber(old[1]) > tonumber(at) then
    at = old[1]
  end
  -- Never shorten how long the entry is kept.
  if tonumber(old[2]) > tonumber(keep) then
    keep = old[2]
  end
end
-- Write both fields (HSET with several pairs needs Redis >= 4).
redis.call('HSET', KEYS[1], 'at', at, 'until', keep)
-- Expire with the last token the entry can refuse; a time already past deletes the key at once.
redis.call('PEXPIREAT', KEYS[1], keep)
-- Every node's local cache drops this entry.
redis.call('PUBLISH', ARGV[4], ARGV[5])
return { at, keep }
`;

/**
 * Records a consent grant. Same rule as MemoryStore: the grant replaces granted, expires and
 * source; the last withdrawal time is kept so tokens issued before it stay refused.
 *
 * KEYS: 1 the consent hash.
 * ARGV: 1 grantedAt, 2 '1' if expiresAt is given, 3 expiresAt, 4 '1' if source is given, 5 source,
 * 6 invalidation channel, 7 message.
 * Reply: the record as five strings (see the conventions above).
 */
export const GRANT_LUA = `
-- Keep the last withdrawal time across the re-grant (false when never withdrawn).
local withdrawn = redis.call('HGET', KEYS[1], 'withdrawn')
-- Drop the previous grant's fields: an absent expiry or source must not survive from it.
redis.call('DEL', KEYS[1])
-- The new grant time.
redis.call('HSET', KEYS[1], 'granted', ARGV[1])
local reply = { ARGV[1], '', '', '0', '' }
-- Expiry only when the grant has one.
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'expires', ARGV[3])
  reply[2] = ARGV[3]
end
-- Put the kept withdrawal time back.
if withdrawn then
  redis.call('HSET', KEYS[1], 'withdrawn', withdrawn)
  reply[3] = withdrawn
end
-- Source only when the grant has one ('' included).
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'source', ARGV[5])
  reply[4] = '1'
  reply[5] = ARGV[5]
end
-- Consent records have no TTL: they are the proof of consent and are kept until deleted.
redis.call('PUBLISH', ARGV[6], ARGV[7])
return reply
`;

/**
 * Records a consent withdrawal. Same rule as MemoryStore: granted (0 without a prior grant) and
 * expires are kept, withdrawn becomes the later of the old and new time, source is replaced only
 * when the withdrawal has one.
 *
 * KEYS: 1 the consent hash.
 * ARGV: 1 withdrawnAt, 2 '1' if source is given, 3 source, 4 invalidation channel, 5 message.
 * Reply: the record as five strings (see the conventions above).
 */
export const WITHDRAW_LUA = `
-- The current record; false for each missing field.
local c = redis.call('HMGET', KEYS[1], 'granted', 'expires', 'withdrawn', 'source')
-- A withdrawal without a prior grant is still recorded, with granted 0.
local granted = c[1] or '0'
-- withdrawn = max(previous or 0, new): an older withdrawal arriving late changes nothing.
local withdrawn = c[3] or '0'
if tonumber(ARGV[1]) > tonumber(withdrawn) then
  withdrawn = ARGV[1]
end
-- The withdrawal's source wins; otherwise the grant's source stays.
local hasSource = '0'
local source = ''
if ARGV[2] == '1' then
  hasSource = '1'
  source = ARGV[3]
elseif c[4] then
  hasSource = '1'
  source = c[4]
end
-- Write granted and withdrawn; 'expires' is left as it is.
redis.call('HSET', KEYS[1], 'granted', granted, 'withdrawn', withdrawn)
if hasSource == '1' then
  redis.call('HSET', KEYS[1], 'source', source)
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return { granted, c[2] or '', withdrawn, hasSource, source }
`;

/** The scripts of `RedisStore`, with their command names and key counts. */
export const STORE_SCRIPTS: readonly ScriptDefinition[] = [
  { name: COMMANDS.lookup, numberOfKeys: 5, lua: LOOKUP_LUA },
  { name: COMMANDS.raise, numberOfKeys: 1, lua: RAISE_LUA },
  { name: COMMANDS.grant, numberOfKeys: 1, lua: GRANT_LUA },
  { name: COMMANDS.withdraw, numberOfKeys: 1, lua: WITHDRAW_LUA },
];
