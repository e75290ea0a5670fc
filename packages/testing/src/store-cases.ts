import { randomBytes } from 'node:crypto';
import type { WardenStore } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';

/** A store to run a suite on, and how to clean up after it. */
export interface StoreCase {
  readonly name: string;
  make(): Promise<{ store: WardenStore; cleanup: () => Promise<void> }>;
}

/** RedisStore on the test Redis (REDIS_URL or 127.0.0.1:6379), isolated by a random prefix. */
export function redisStoreCase(): StoreCase {
  return {
    name: 'RedisStore',
    async make() {
      const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
      const prefix = `tw-test-${randomBytes(6).toString('hex')}:`;
      const store = new RedisStore({ url, prefix });
      return { store, cleanup: () => store.close() };
    },
  };
}
