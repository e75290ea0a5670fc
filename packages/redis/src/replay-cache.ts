import type { ReplayCache } from '@tokenwarden/core';
import { openCounters, type Counters, type RedisCounterOptions } from './counters';

/** The one command the cache sends. */
interface ReplayClient {
  set(...args: (string | number)[]): Promise<unknown>;
}

/**
 * One-time ids (DPoP proof `jti`s) in Redis, shared by every node, so a proof replayed to another
 * node behind the load balancer is refused too. One `SET key 1 PXAT <expiresAt> NX` per id:
 * atomic, a single key (so any Redis Cluster slot), gone by itself once the id would be refused
 * anyway. Needs Redis 6.2 or later (PXAT).
 *
 * Keys: `<base>replay:<encoded id>`.
 *
 * @example
 * import { RedisReplayCache } from '@tokenwarden/redis';
 * const replayCache = new RedisReplayCache({ client: redis });
 */
export class RedisReplayCache implements ReplayCache {
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #counters: Counters<ReplayClient>;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCounterOptions) {
    this.#counters = openCounters<ReplayClient>(options, 'RedisReplayCache');
  }

  /** True the first time `id` is seen; false while it is remembered. Rejects when Redis cannot answer. */
  async markUsed(id: string, expiresAt: number): Promise<boolean> {
    if (typeof id !== 'string' || id === '') {
      throw new TypeError('RedisReplayCache: id must be a non-empty string');
    }
    if (!Number.isSafeInteger(expiresAt)) {
      throw new RangeError('RedisReplayCache: expiresAt must be an integer number of epoch ms');
    }
    // An id already past its window is refused by its own checks; nothing to remember.
    const { clock, connection, keys } = this.#counters;
    if (clock !== undefined && expiresAt <= clock.now()) return true;
    const key = keys.key('replay:', id);
    return connection.run(
      'markUsed',
      (redis) => redis.set(key, '1', 'PXAT', expiresAt, 'NX'),
      (reply) => {
        if (reply === 'OK') return true;
        if (reply === null) return false;
        throw new TypeError('unexpected reply');
      },
    );
  }

  /** Quits the client if the cache opened it from `url`. Idempotent. */
  close(): Promise<void> {
    return this.#counters.connection.close();
  }
}
