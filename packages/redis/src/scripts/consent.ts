/**
 * The consent scripts of `RedisStore`: grant, withdraw, read, list and erase per data subject.
 *
 * A consent record is a hash (see `KeySpace`):
 * - `granted`, `expires`, `withdrawn`: epoch-ms strings the scripts compare;
 * - `until`: set by a withdrawal, when the record is deleted (its retention after withdrawal);
 *   the key expires then too (PEXPIREAT), and reads treat it as gone from then on by the store's
 *   clock; a re-grant clears it;
 * - `purpose`: the purpose, for listing;
 * - `gdoc`, `wdoc`: what the grant and the last withdrawal recorded beyond their times (notice,
 *   source, evidence), each one opaque string encoded by `store-consent.ts`; the scripts copy
 *   them and never read them;
 * - `source`: written by versions before `gdoc`/`wdoc`; read, never written.
 *
 * Each data subject has an index set (`cidx:<subject>`, in the same slot) of the keys of its
 * records, so they can be listed and erased without a SCAN. The index expires with the last of
 * them: after every write it is persisted while any record has no `until`, else set to expire
 * at the latest `until`.
 *
 * A record travels as eight strings: granted ('' when there is none), expires, withdrawn, until,
 * gdoc, wdoc, hasLegacySource ('1' | '0'), legacySource.
 */
import { COMMANDS, type ScriptDefinition } from './commands';
import { EPOCH_CHECK } from './epoch';

/**
 * Lua functions the consent scripts (and the lookup) share:
 * - `consent_read(key, now)`: the record's eight strings, or nil when there is none or its
 *   retention is over by the store's clock (now: a number);
 * - `consent_reindex(index, now)`: drops index members whose record is gone, then persists the
 *   index while a record has no `until`, else expires it at the latest one.
 */
export const CONSENT_READ = `
local function consent_read(key, now)
  -- HMGET returns false for each missing field.
  local c = redis.call('HMGET', key, 'granted', 'expires', 'withdrawn', 'until', 'gdoc', 'wdoc', 'source')
  -- A record always has 'granted' (0 for a withdrawal without a grant); without it, no record.
  if not c[1] then
    return nil
  end
  -- Past its retention after withdrawal: gone, whether or not Redis has dropped it yet.
  if c[4] and tonumber(c[4]) <= now then
    return nil
  end
  local legacy = '0'
  if c[7] then
    legacy = '1'
  end
  return { c[1], c[2] or '', c[3] or '', c[4] or '', c[5] or '', c[6] or '', legacy, c[7] or '' }
end
local function consent_reindex(index, now)
  local latest = 0
  local forever = false
  for _, key in ipairs(redis.call('SMEMBERS', index)) do
    local u = redis.call('HMGET', key, 'granted', 'until')
    if not u[1] or (u[2] and tonumber(u[2]) <= now) then
      -- Erased, deleted at the end of its retention, or about to be: no longer listed.
      redis.call('SREM', index, key)
    elseif not u[2] then
      forever = true
    elseif tonumber(u[2]) > latest then
      latest = tonumber(u[2])
    end
  end
  if forever then
    redis.call('PERSIST', index)
  elseif latest > 0 then
    redis.call('PEXPIREAT', index, latest)
  end
end
`;

/**
 * One consent record (a route step's read), after the epoch check.
 *
 * KEYS: 1 the consent hash, 2 the epoch hash.
 * ARGV: 1 now (epoch ms), 2 expected epoch id, 3 epoch mode, 4 candidate epoch id.
 * Reply: the record's eight strings (granted '' when there is none), then epochStatus, epochId,
 * lostAt.
 */
export const CONSENT_GET_LUA = `${EPOCH_CHECK}${CONSENT_READ}
local state = epoch(KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[1])
local reply = { '', '', '', '', '', '', '0', '', state[1], state[2], state[3] }
-- A lost state is never read as if it were the state.
if state[1] ~= 'ok' then
  return reply
end
local c = consent_read(KEYS[1], tonumber(ARGV[1]))
if c then
  for i = 1, 8 do
    reply[i] = c[i]
  end
end
return reply
`;

/**
 * Records a consent grant. Same rule as MemoryStore: the grant replaces everything but the last
 * withdrawal time (kept so tokens issued before it stay refused); the retention countdown ends.
 * A record past its retention counts as none.
 *
 * KEYS: 1 the consent hash, 2 the subject's index set.
 * ARGV: 1 grantedAt, 2 '1' if expiresAt is given, 3 expiresAt, 4 purpose, 5 gdoc, 6 now,
 * 7 invalidation channel, 8 message.
 * Reply: the record's eight strings.
 */
export const GRANT_LUA = `${CONSENT_READ}
local now = tonumber(ARGV[6])
-- Keep the last withdrawal time across the re-grant (none when there is no live record).
local old = consent_read(KEYS[1], now)
local withdrawn = ''
if old then
  withdrawn = old[3]
end
-- Drop the previous grant's fields (and any TTL): nothing absent from this grant survives.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'granted', ARGV[1], 'purpose', ARGV[4], 'gdoc', ARGV[5])
local reply = { ARGV[1], '', withdrawn, '', ARGV[5], '', '0', '' }
-- Expiry only when the grant has one.
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'expires', ARGV[3])
  reply[2] = ARGV[3]
end
-- Put the kept withdrawal time back.
if withdrawn ~= '' then
  redis.call('HSET', KEYS[1], 'withdrawn', withdrawn)
end
redis.call('SADD', KEYS[2], KEYS[1])
consent_reindex(KEYS[2], now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return reply
`;

/**
 * Records a consent withdrawal. Same rule as MemoryStore: granted (0 without a prior grant),
 * expires and the grant's gdoc are kept, withdrawn and until each become the later of the old
 * and new time, wdoc is replaced only when the withdrawal names a source. The key expires at
 * until. A record past its retention counts as none.
 *
 * KEYS: 1 the consent hash, 2 the subject's index set.
 * ARGV: 1 withdrawnAt, 2 keepUntil, 3 purpose, 4 '1' if wdoc is given, 5 wdoc, 6 now,
 * 7 invalidation channel, 8 message.
 * Reply: the record's eight strings.
 */
export const WITHDRAW_LUA = `${CONSENT_READ}
local now = tonumber(ARGV[6])
local c = consent_read(KEYS[1], now)
if not c then
  -- None, or one past its retention that Redis has not dropped yet: start afresh.
  redis.call('DEL', KEYS[1])
  c = { '0', '', '0', '0', '', '', '0', '' }
end
-- withdrawn = max(previous, new): an older withdrawal arriving late changes nothing.
local withdrawn = c[3]
if withdrawn == '' or tonumber(ARGV[1]) > tonumber(withdrawn) then
  withdrawn = ARGV[1]
end
-- until = max(previous, new): a later withdrawal never shortens the retention.
local keep = c[4]
if keep == '' or tonumber(ARGV[2]) > tonumber(keep) then
  keep = ARGV[2]
end
local wdoc = c[6]
if ARGV[4] == '1' then
  wdoc = ARGV[5]
end
redis.call('HSET', KEYS[1], 'granted', c[1], 'withdrawn', withdrawn, 'until', keep, 'purpose', ARGV[3])
if wdoc ~= '' then
  redis.call('HSET', KEYS[1], 'wdoc', wdoc)
end
-- Deleted at the end of its retention; a time already past deletes it at once.
redis.call('PEXPIREAT', KEYS[1], keep)
redis.call('SADD', KEYS[2], KEYS[1])
consent_reindex(KEYS[2], now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return { c[1], c[2], withdrawn, keep, c[5], wdoc, c[7], c[8] }
`;

/**
 * Every live consent record of one data subject (an operator's read; no epoch check).
 *
 * KEYS: 1 the subject's index set. ARGV: 1 now (epoch ms).
 * Reply: nine strings per record: purpose, then the record's eight strings.
 */
export const CONSENT_LIST_LUA = `${CONSENT_READ}
local now = tonumber(ARGV[1])
local reply = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local c = consent_read(key, now)
  local purpose = redis.call('HGET', key, 'purpose')
  if c and purpose then
    table.insert(reply, purpose)
    for i = 1, 8 do
      table.insert(reply, c[i])
    end
  end
end
return reply
`;

/**
 * Deletes every consent record of one data subject, and its index, announcing each purpose on
 * the invalidation channel.
 *
 * KEYS: 1 the subject's index set.
 * ARGV: 1 now (epoch ms), 2 invalidation channel, 3 the start of the subject's consent messages
 * (a JSON array of 'p' and the subject, without its closing bracket).
 * Reply: the purposes of the records that were live.
 */
export const CONSENT_ERASE_LUA = `${CONSENT_READ}
local now = tonumber(ARGV[1])
local erased = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local live = consent_read(key, now)
  local purpose = redis.call('HGET', key, 'purpose')
  redis.call('DEL', key)
  if purpose then
    if live then
      table.insert(erased, purpose)
    end
    redis.call('PUBLISH', ARGV[2], ARGV[3] .. ',' .. cjson.encode(purpose) .. ']')
  end
end
redis.call('DEL', KEYS[1])
return erased
`;

/** The consent scripts of `RedisStore`, with their command names and key counts. */
export const CONSENT_SCRIPTS: readonly ScriptDefinition[] = [
  { name: COMMANDS.consentGet, numberOfKeys: 2, lua: CONSENT_GET_LUA },
  { name: COMMANDS.grant, numberOfKeys: 2, lua: GRANT_LUA },
  { name: COMMANDS.withdraw, numberOfKeys: 2, lua: WITHDRAW_LUA },
  { name: COMMANDS.consentList, numberOfKeys: 1, lua: CONSENT_LIST_LUA },
  { name: COMMANDS.consentErase, numberOfKeys: 1, lua: CONSENT_ERASE_LUA },
];
