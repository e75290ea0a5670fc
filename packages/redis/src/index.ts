export { DEFAULT_COMMAND_TIMEOUT_MS, RedisStore, type RedisStoreOptions } from './redis-store';
export { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './keys';
export { checkedUrl, openClient } from './client';
