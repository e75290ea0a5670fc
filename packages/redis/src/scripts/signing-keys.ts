/**
 * The Lua script of `RedisSigningKeyStore`: the compare-and-set of the shared signing key set.
 */
import { COMMANDS, type ScriptDefinition } from './commands';

/**
 * Writes the key set only if its revision follows the stored one, and publishes the new revision
 * on the change channel.
 *
 * KEYS[1]: the hash holding revision and doc. ARGV: 1 new revision, 2 doc JSON, 3 channel.
 * Returns 1 when written, 0 when another writer came first.
 */
export const SIGNING_KEYS_SAVE_LUA = `
-- The stored revision; 0 before the first save.
local current = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
-- Another writer came first: refuse, the caller reloads and retries.
if current ~= tonumber(ARGV[1]) - 1 then return 0 end
-- Revision and document change together.
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'doc', ARGV[2])
-- Every node's ring reloads on this message, so a rotation spreads within milliseconds.
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

/** The key store's script: one key, the hash of the set. */
export const SIGNING_KEYS_SAVE_SCRIPT: ScriptDefinition = {
  name: COMMANDS.signingKeysSave,
  numberOfKeys: 1,
  lua: SIGNING_KEYS_SAVE_LUA,
};
