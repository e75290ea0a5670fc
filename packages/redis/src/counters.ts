import { ConfigError, type Clock } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';

/** Options shared by `RedisUsageLimiter` and `RedisReplayCache`. Pass exactly one of `url` and `client`. */
export interface RedisCounterOptions {
  /**
   * A `redis://` or `rediss://` URL: a fail-fast client is opened (no offline queue, one retry,
   * `commandTimeout`) and closed in `close()`. Mutually exclusive with `client`.
   */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` you own (for example the one your `RedisStore` uses). Used as
   * is and never closed. Mutually exclusive with `url`.
   */
  client?: Redis | Cluster;
  /**
   * Prefix of every key. Without braces the `{tw}` hash tag is appended (`tokenwarden:{tw}:`), so
   * the keys one call touches share a cluster slot. Default: `'tokenwarden:'`.
   */
  prefix?: string;
  /** Deadline of each call, in ms, including the wait for a (re)connecting client. Default: 200. */
  commandTimeoutMs?: number;
  /** Longest key, in bytes; longer ids are replaced by their SHA-256. Default: 256. */
  maxKeyLength?: number;
  /**
   * Time source. Default: none, and then the Redis server's own `TIME` is used, so every node
   * counts on one clock however far their own clocks drift.
   */
  clock?: Clock;
}

/** What `RedisUsageLimiter` and `RedisReplayCache` build from their options. @internal */
export interface Counters<View> {
  readonly connection: RedisConnection<View>;
  readonly keys: KeySpace;
  /** The clock of the options; `undefined` lets the limiter's script read Redis `TIME`. */
  readonly clock: Clock | undefined;
}

/**
 * Checks the options of a limiter or replay cache, then opens (or adopts) its connection.
 *
 * @throws ConfigError naming `owner` and the option when the options are missing, ambiguous or
 * out of range.
 * @internal
 */
export function openCounters<View>(options: RedisCounterOptions, owner: string): Counters<View> {
  const target = connectionTarget(options, { owner, defaultTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS });
  const keys = new KeySpace(
    options.prefix ?? DEFAULT_PREFIX,
    options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
  );
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw new ConfigError(`${owner} option 'clock' must have a now() method`);
  }
  // Last: a client is opened only for valid options.
  return { connection: new RedisConnection<View>(target), keys, clock: options.clock };
}
