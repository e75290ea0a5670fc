/**
 * The Lua script of `RedisUsageLimiter`: per-credential usage counters, sliding window or token
 * bucket, counted all or nothing over every rule of a request.
 */
import { COMMANDS, type ScriptDefinition } from './commands';

/**
 * Counts one use against several counters, all or nothing, in one atomic script. The arithmetic
 * is the same as core's `evaluateSliding` / `evaluateBucket`; keep them in step.
 *
 * KEYS: one hash per counter, all in one hash-tag slot.
 * ARGV: 1 now (epoch ms, or '' to read the server's TIME), 2 cost, then per counter three values:
 *   algorithm ('s' sliding window | 'b' token bucket), limit, window (ms).
 * Reply: four strings per counter: allowed ('1' | '0'), remaining, resetMs, retryAfterMs.
 */
export const LIMIT_LUA = `
-- The caller's clock when given, else the server's, so every node counts on one clock.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  -- TIME is seconds and microseconds: epoch ms, rounded down.
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The weight of this use.
local cost = tonumber(ARGV[2])
-- Floats are written with 17 significant digits so nothing is lost between calls.
local function num(x)
  return string.format('%.17g', x)
end
-- One result per counter; 'all' stays true while every counter has room.
local results = {}
local all = true
for i = 1, #KEYS do
  -- This counter's three values: algorithm, limit, window.
  local algo = ARGV[3 * i]
  local limit = tonumber(ARGV[3 * i + 1])
  local window = tonumber(ARGV[3 * i + 2])
  local r = {}
  if algo == 's' then
    -- Sliding window: the current fixed window's count plus the previous one's, weighted by
    -- how much of the previous window the sliding window still covers.
    local h = redis.call('HMGET', KEYS[i], 'ws', 'cur', 'prev')
    -- Start of the current fixed window.
    local ws = math.floor(now / window) * window
    local cur, prev = 0, 0
    -- The stored window start; counts of any older window are dropped.
    local stored = tonumber(h[1])
    if stored == ws then
      cur = tonumber(h[2]) or 0
      prev = tonumber(h[3]) or 0
    elseif stored == ws - window then
      -- The stored window just ended: its count becomes the previous one.
      prev = tonumber(h[2]) or 0
    end
    -- Time left in the current window, and the weighted count of the sliding window.
    local untilEnd = window - (now - ws)
    local count = prev * untilEnd / window + cur
    r.reset = untilEnd
    -- Kept while the count can still weigh in: this window and the next.
    r.ttl = 2 * window
    -- Written only if every counter allows the use.
    r.write = { 'ws', num(ws), 'cur', num(cur + cost), 'prev', num(prev) }
    if count + cost <= limit then
      r.allowed = 1
      r.remaining = math.max(0, math.floor(limit - count - cost))
      r.retry = 0
    else
      r.allowed = 0
      r.remaining = math.max(0, math.floor(limit - count))
      local retry
      if cost > limit then
        -- Never fits: a long, fixed retry hint.
        retry = 2 * window
      elseif cur + cost <= limit and prev > 0 then
        -- The previous window's weight fades enough before this window ends.
        retry = untilEnd - window * (limit - cur - cost) / prev
      else
        -- Wait for the next window, where this window's count fades in turn.
        local into = 0
        if cur > 0 then
          into = window - window * (limit - cost) / cur
        end
        retry = untilEnd + math.max(0, into)
      end
      r.retry = math.max(1, math.ceil(retry))
    end
  else
    -- Token bucket: 'limit' tokens, refilled at limit per window, never above 'limit'.
    local h = redis.call('HMGET', KEYS[i], 'tokens', 'at')
    -- Tokens refilled per ms.
    local rate = limit / window
    -- A missing bucket is full.
    local tokens = limit
    local st, sat = tonumber(h[1]), tonumber(h[2])
    if st and sat then
      -- Refill for the time since the last write; a clock that went back refills nothing.
      tokens = math.min(limit, st + math.max(0, now - sat) * rate)
    end
    if tokens >= cost then
      -- Enough tokens: take 'cost' of them; reset is when the bucket is full again.
      local left = tokens - cost
      r.allowed = 1
      r.remaining = math.floor(left)
      r.reset = math.ceil((limit - left) / rate)
      r.retry = 0
      r.write = { 'tokens', num(left), 'at', num(now) }
    else
      -- Too few tokens: nothing is taken; retry once enough have been refilled.
      r.allowed = 0
      r.remaining = math.floor(tokens)
      r.reset = math.ceil((limit - tokens) / rate)
      if cost > limit then
        -- Never fits: a long, fixed retry hint.
        r.retry = 2 * window
      else
        r.retry = math.max(1, math.ceil((cost - tokens) / rate))
      end
    end
    -- Once full again the bucket is as good as absent.
    r.ttl = r.reset + 1000
  end
  -- One refusing counter refuses the whole call.
  if r.allowed == 0 then
    all = false
  end
  results[i] = r
end
-- All or nothing: a refused call writes nothing, so it drains no budget.
if all then
  for i = 1, #KEYS do
    redis.call('HSET', KEYS[i], unpack(results[i].write))
    -- The counter forgets itself once it no longer matters.
    redis.call('PEXPIRE', KEYS[i], results[i].ttl)
  end
end
-- Strings only: a nil would cut the reply short.
local reply = {}
for i = 1, #KEYS do
  local r = results[i]
  reply[#reply + 1] = tostring(r.allowed)
  reply[#reply + 1] = string.format('%d', r.remaining)
  reply[#reply + 1] = string.format('%d', r.reset)
  reply[#reply + 1] = string.format('%d', r.retry)
end
return reply
`;

/** The limiter's script; the caller passes the key count first (one key per counter). */
export const LIMIT_SCRIPT: ScriptDefinition = { name: COMMANDS.limit, lua: LIMIT_LUA };
