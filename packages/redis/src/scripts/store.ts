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
 * - A consent record travels as eight strings (see `CONSENT_READ` in `./consent`).
 * - Every write announces itself on the store's invalidation channel (the last two ARGV: channel
 *   and message) from inside the script, so the announcement is atomic with the change: no node
 *   can see the new value in Redis while its cache waits for a message that was never sent.
 * - Every read of state (and every heartbeat) checks the epoch of the state first, in the same
 *   script (see {@link EPOCH_CHECK}), and answers its status as three more strings.
 */
import { COMMANDS, type ScriptDefinition } from './commands';
import { CONSENT_READ, CONSENT_SCRIPTS } from './consent';
import { EPOCH_CHECK } from './epoch';

export { EPOCH_CHECK } from './epoch';

/**
 * Everything one request needs, read in one round trip, after the epoch check.
 *
 * KEYS: 1 revoked-id hash, 2 subject mark, 3 client mark, 4 all mark, 5 consent hash, 6 epoch hash.
 * Every key is always passed (all in one hash-tag slot); ARGV flags say whether 3 and 5 were asked
 * for.
 * ARGV: 1 now (epoch ms, the store's clock), 2 '1' if a client was given, 3 '1' if consent was,
 * 4 expected epoch id, 5 epoch mode, 6 candidate epoch id (see {@link EPOCH_CHECK}).
 * Reply: [revokedUntil, subjectAt, clientAt, allAt, the consent record's eight strings (granted ''
 * when there is none), epochStatus, epochId, lostAt]
 */
export const LOOKUP_LUA = `${EPOCH_CHECK}${CONSENT_READ}
-- The epoch first: a lost state is never read as if it were the state.
local state = epoch(KEYS[6], ARGV[4], ARGV[5], ARGV[6], ARGV[1])
if state[1] ~= 'ok' then
  return { '', '', '', '', '', '', '', '', '', '', '0', '', state[1], state[2], state[3] }
end
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
-- Fixed-size reply; every slot is a string so no nil can truncate it. The epoch status ends it.
local reply = {
  live(KEYS[1]), live(KEYS[2]), '', live(KEYS[4]), '', '', '', '', '', '', '0', '',
  state[1], state[2], state[3]
}
-- The client mark only when the token names a client (KEYS[3] is a placeholder otherwise).
if ARGV[2] == '1' then
  reply[3] = live(KEYS[3])
end
-- The consent record only when the route asked for one (none, or past its retention: none).
if ARGV[3] == '1' then
  local c = consent_read(KEYS[5], now)
  if c then
    for i = 1, 8 do
      reply[4 + i] = c[i]
    end
  end
end
return reply
`;

/**
 * The heartbeat of the invalidation feed: published on the node's own channel, with the epoch
 * check, so a node learns of a lost state (a FLUSHALL leaves every connection open) within one
 * heartbeat even while its cache answers every request.
 *
 * KEYS: 1 the epoch hash.
 * ARGV: 1 now (epoch ms), 2 expected epoch id, 3 epoch mode, 4 candidate epoch id,
 * 5 heartbeat channel, 6 message.
 * Reply: [epochStatus, epochId, lostAt]
 */
export const HEARTBEAT_LUA = `${EPOCH_CHECK}
-- The heartbeat itself: it comes back on this node's subscription while delivery works.
redis.call('PUBLISH', ARGV[5], ARGV[6])
return epoch(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[1])
`;

/**
 * Writes an epoch: the first one of a new deployment ('init': only where there is neither an
 * epoch nor the record of a lost one), or a new one once the state was rebuilt or its loss
 * accepted ('renew': replaces whatever is there and tells every node's cache to drop everything).
 *
 * KEYS: 1 the epoch hash.
 * ARGV: 1 'init' or 'renew', 2 new epoch id, 3 origin, 4 now (epoch ms), 5 invalidation channel,
 * 6 message (a reset).
 * Reply: [written ('1' | '0'), id, origin, since, lost, lostAt] as the hash then stands.
 */
export const EPOCH_WRITE_LUA = `
local written = '0'
if ARGV[1] == 'renew' then
  -- The state is back (restored, or its loss accepted): this epoch replaces the lost one.
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'origin', ARGV[3], 'since', ARGV[4])
  -- Every node's cache drops what it holds; nodes adopt the new epoch on their next read.
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  written = '1'
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  -- 'init' on a store that never had an epoch (nor lost one): the first epoch.
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'origin', ARGV[3], 'since', ARGV[4])
  written = '1'
end
local e = redis.call('HMGET', KEYS[1], 'id', 'origin', 'since', 'lost', 'lostAt')
return { written, e[1] or '', e[2] or '', e[3] or '', e[4] or '', e[5] or '' }
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
-- Every node's local cache drops this entry (once per change: a change written to every bucket
-- of the 'sharded' layout is announced by one of its writes only).
if ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return { at, keep }
`;

/**
 * The epoch check alone, on one bucket's epoch hash (the `'sharded'` layout: a store checks the
 * first bucket before its first read, see `ShardedEpoch`).
 *
 * KEYS: 1 the epoch hash. ARGV: 1 now, 2 expected, 3 mode, 4 candidate (see {@link EPOCH_CHECK}).
 * Reply: [epochStatus, epochId, lostAt]
 */
export const EPOCH_CHECK_LUA = `${EPOCH_CHECK}
return epoch(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[1])
`;

/**
 * Copies an epoch into one bucket's epoch hash (the `'sharded'` layout), or records a loss there.
 *
 * KEYS: 1 the bucket's epoch hash.
 * ARGV: 1 'copy' (only where the bucket holds neither an epoch nor a loss), 'force' (replace
 * whatever is there: a renewed epoch) or 'lose' (record the loss of epoch ARGV[2] unless the
 * bucket already holds a newer epoch); 2 id; 3 origin, or lostAt for 'lose'; 4 since.
 * Reply: [id, lost] as the hash then stands ('' for a missing field).
 */
export const EPOCH_SPREAD_LUA = `
local e = redis.call('HMGET', KEYS[1], 'id', 'lost')
if ARGV[1] == 'force' or (ARGV[1] == 'copy' and not e[1] and not e[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'origin', ARGV[3], 'since', ARGV[4])
elseif ARGV[1] == 'lose' and (not e[1] or e[1] == ARGV[2]) and not e[2] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'lost', ARGV[2], 'lostAt', ARGV[3])
end
e = redis.call('HMGET', KEYS[1], 'id', 'lost')
return { e[1] or '', e[2] or '' }
`;

/** The scripts of `RedisStore`, with their command names and key counts. */
export const STORE_SCRIPTS: readonly ScriptDefinition[] = [
  { name: COMMANDS.lookup, numberOfKeys: 6, lua: LOOKUP_LUA },
  { name: COMMANDS.heartbeat, numberOfKeys: 1, lua: HEARTBEAT_LUA },
  { name: COMMANDS.epochWrite, numberOfKeys: 1, lua: EPOCH_WRITE_LUA },
  { name: COMMANDS.epochCheck, numberOfKeys: 1, lua: EPOCH_CHECK_LUA },
  { name: COMMANDS.epochSpread, numberOfKeys: 1, lua: EPOCH_SPREAD_LUA },
  { name: COMMANDS.raise, numberOfKeys: 1, lua: RAISE_LUA },
  ...CONSENT_SCRIPTS,
];
