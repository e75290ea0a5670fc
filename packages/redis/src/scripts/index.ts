/**
 * Every Lua script of the Redis classes, one file per class, each commented line by line. Every
 * read-modify-write is one script, so it is atomic and costs one round trip. They are registered
 * with ioredis `defineCommand` (see `RedisConnection.define`), which sends EVALSHA and falls back
 * to EVAL once on NOSCRIPT (after a restart or SCRIPT FLUSH); nothing else is ever retried.
 */
export { COMMANDS, type CommandName, type ScriptCalls, type ScriptDefinition } from './commands';
export {
  EPOCH_CHECK,
  EPOCH_WRITE_LUA,
  HEARTBEAT_LUA,
  LOOKUP_LUA,
  RAISE_LUA,
  STORE_SCRIPTS,
} from './store';
export {
  CONSENT_ERASE_LUA,
  CONSENT_GET_LUA,
  CONSENT_LIST_LUA,
  GRANT_LUA,
  WITHDRAW_LUA,
} from './consent';
export { API_KEY_SCRIPTS } from './api-keys';
export { REFRESH_SCRIPTS } from './refresh';
export { LIMIT_LUA, LIMIT_SCRIPT } from './usage';
export { AUDIT_APPEND_LUA, AUDIT_APPEND_SCRIPT } from './audit';
export { SIGNING_KEYS_SAVE_LUA, SIGNING_KEYS_SAVE_SCRIPT } from './signing-keys';
