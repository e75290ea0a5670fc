import { randomBytes } from 'node:crypto';
import { MemoryStore, type WardenStore } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
import { deleteKeys } from './redis-server';

/** A store to run a suite on, and how to clean up after it. */
export interface StoreCase {
  readonly name: string;
  make(): Promise<{ store: WardenStore; cleanup: () => Promise<void> }>;
}

/** The test Redis: REDIS_URL, else 127.0.0.1:6379. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const memoryStoreCase: StoreCase = {
  name: 'MemoryStore',
  make: async () => ({ store: new MemoryStore(), cleanup: async () => {} }),
};

/** RedisStore on the test Redis, isolated by a random prefix whose keys are deleted afterwards. */
export const redisStoreCase: StoreCase = {
  name: 'RedisStore',
  async make() {
    const prefix = `tw-test-${randomBytes(6).toString('hex')}:`;
    const store = new RedisStore({ url: TEST_REDIS_URL, prefix });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await deleteKeys(Number(new URL(TEST_REDIS_URL).port || 6379), prefix);
      },
    };
  },
};

/** Both stores: every adapter suite runs on each. */
export const STORE_CASES: readonly StoreCase[] = [memoryStoreCase, redisStoreCase];
