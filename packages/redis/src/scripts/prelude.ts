/**
 * The start of every `RedisCredentialStore` script. ARGV[1] is the store's clock (epoch ms). Each
 * record is a hash with a `gone` field, the time it may be forgotten; Redis also drops it then
 * (PEXPIREAT), and this check keeps an injected clock authoritative.
 *
 * Every key of these scripts lives under one hash-tag prefix, so all of them share one cluster
 * slot; the hash index and the list index hold key names that the scripts follow inside that slot.
 */
export const CREDENTIAL_PRELUDE = `
-- The store's clock, in epoch ms.
local now = tonumber(ARGV[1])
-- A record counts while its 'gone' time is ahead of the store's clock.
local function live(key)
  -- HGET returns false for a missing key or field: no record.
  local gone = redis.call('HGET', key, 'gone')
  return gone ~= false and tonumber(gone) > now
end
-- Epoch-ms numbers back to decimal strings without exponent notation.
local function ms(x)
  return string.format('%.0f', x)
end
`;
