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
 * - Every read of state (and every heartbeat) checks the epoch of the state first, in the same
 *   script (see {@link EPOCH_CHECK}), and answers its status as three more strings.
 */
import { COMMANDS, type ScriptDefinition } from './commands';

/**
 * The epoch check every state read (and heartbeat) of `RedisStore` runs first. The epoch hash
 * holds the current epoch (`id`, `origin`, `since`) or the record of a lost one (`lost`,
 * `lostAt`); it has no TTL. `epoch(key, expected, mode, candidate, now)`:
 * - expected: the epoch id this store instance knows, '' when it knows none yet;
 * - mode: 'create' (a store may write the first epoch of a new deployment) or 'require';
 * - candidate: the id this store writes if it creates the first epoch;
 * - now: epoch ms as a string, stored as given.
 * Answers { status, id, since }: { 'ok', id, '' } to read on; { 'lost', lostId, lostAt } or
 * { 'missing', '', '' } to refuse.
 */
export const EPOCH_CHECK = `
local function epoch(key, expected, mode, candidate, now)
  -- HMGET returns false for each missing field (and for every field of a missing key).
  local e = redis.call('HMGET', key, 'id', 'origin', 'lost', 'lostAt')
  if e[1] then
    -- The epoch this store read before, or the first one it meets: the state is the one it knew.
    if expected == '' or e[1] == expected then
      return { 'ok', e[1], '' }
    end
    -- Another epoch, started once the state was rebuilt or its loss accepted: adopt it.
    if e[2] == 'restored' or e[2] == 'accepted' then
      return { 'ok', e[1], '' }
    end
    -- Another epoch written over the state this store knew (by a node that found Redis empty,
    -- or by 'state init'): the state it knew is gone. Record the loss, so every node refuses.
    redis.call('DEL', key)
    redis.call('HSET', key, 'lost', expected, 'lostAt', now)
    return { 'lost', expected, now }
  end
  -- A loss recorded before: refuse until 'state restore' or 'state accept-loss' renews the epoch.
  if e[3] then
    return { 'lost', e[3], e[4] or '' }
  end
  -- No epoch, yet this store knew one: Redis lost it (restart without persistence, FLUSHALL,
  -- eviction, a replica without the writes). Record the loss for every node, new ones included.
  if expected ~= '' then
    redis.call('HSET', key, 'lost', expected, 'lostAt', now)
    return { 'lost', expected, now }
  end
  -- Nothing was ever written here that any node knows of: a new deployment may start an epoch.
  if mode == 'create' then
    redis.call('HSET', key, 'id', candidate, 'origin', 'created', 'since', now)
    return { 'ok', candidate, '' }
  end
  -- epoch: 'require': only 'tokenwarden state init' (or a restore) starts the first epoch.
  return { 'missing', '', '' }
end
`;

/**
 * Everything one request needs, read in one round trip, after the epoch check.
 *
 * KEYS: 1 revoked-id hash, 2 subject mark, 3 client mark, 4 all mark, 5 consent hash, 6 epoch hash.
 * Every key is always passed (all in one hash-tag slot); ARGV flags say whether 3 and 5 were asked
 * for.
 * ARGV: 1 now (epoch ms, the store's clock), 2 '1' if a client was given, 3 '1' if consent was,
 * 4 expected epoch id, 5 epoch mode, 6 candidate epoch id (see {@link EPOCH_CHECK}).
 * Reply: [revokedUntil, subjectAt, clientAt, allAt, granted, expires, withdrawn, hasSource, source,
 * epochStatus, epochId, lostAt]
 */
export const LOOKUP_LUA = `${EPOCH_CHECK}
-- The epoch first: a lost state is never read as if it were the state.
local state = epoch(KEYS[6], ARGV[4], ARGV[5], ARGV[6], ARGV[1])
if state[1] ~= 'ok' then
  return { '', '', '', '', '', '', '', '0', '', state[1], state[2], state[3] }
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
  live(KEYS[1]), live(KEYS[2]), '', live(KEYS[4]), '', '', '', '0', '', state[1], state[2], state[3]
}
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
 * One consent record (a route step's read), after the epoch check.
 *
 * KEYS: 1 the consent hash, 2 the epoch hash.
 * ARGV: 1 now (epoch ms), 2 expected epoch id, 3 epoch mode, 4 candidate epoch id.
 * Reply: the record as five strings (granted '' when there is none), then epochStatus, epochId,
 * lostAt.
 */
export const CONSENT_GET_LUA = `${EPOCH_CHECK}
local state = epoch(KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[1])
local reply = { '', '', '', '0', '', state[1], state[2], state[3] }
-- A lost state is never read as if it were the state.
if state[1] ~= 'ok' then
  return reply
end
-- HMGET returns false for each missing field.
local c = redis.call('HMGET', KEYS[1], 'granted', 'expires', 'withdrawn', 'source')
-- A record always has 'granted'; without it, no record.
if c[1] then
  reply[1] = c[1]
  reply[2] = c[2] or ''
  reply[3] = c[3] or ''
  -- Flag the source separately: '' is a valid source.
  if c[4] then
    reply[4] = '1'
    reply[5] = c[4]
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
  { name: COMMANDS.consentGet, numberOfKeys: 2, lua: CONSENT_GET_LUA },
  { name: COMMANDS.heartbeat, numberOfKeys: 1, lua: HEARTBEAT_LUA },
  { name: COMMANDS.epochWrite, numberOfKeys: 1, lua: EPOCH_WRITE_LUA },
  { name: COMMANDS.epochCheck, numberOfKeys: 1, lua: EPOCH_CHECK_LUA },
  { name: COMMANDS.epochSpread, numberOfKeys: 1, lua: EPOCH_SPREAD_LUA },
  { name: COMMANDS.raise, numberOfKeys: 1, lua: RAISE_LUA },
  { name: COMMANDS.grant, numberOfKeys: 1, lua: GRANT_LUA },
  { name: COMMANDS.withdraw, numberOfKeys: 1, lua: WITHDRAW_LUA },
];
