import type { WardenStore } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';

/** RedisStore when REDIS_URL is set, else undefined (the warden's embedded MemoryStore). */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env): WardenStore | undefined {
  if (!env.REDIS_URL) return undefined;
  return new RedisStore({
    url: env.REDIS_URL,
    prefix: env.TOKENWARDEN_PREFIX ?? 'tokenwarden-demo:',
  });
}
