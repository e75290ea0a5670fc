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
