import { ConfigError, type Logger } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { checkedUrl } from './client';
import { MAX_COMMAND_TIMEOUT_MS } from './defaults';

/** The connection options of every Redis class. Pass exactly one of `url` and `client`. */
export interface ConnectionOptions {
  /** A `redis://` or `rediss://` URL; a fail-fast client is opened, and closed in `close()`. */
  readonly url?: string;
  /** An ioredis `Redis` or `Cluster` you own; used as is and never closed. */
  readonly client?: Redis | Cluster;
  /** Deadline of one call, in ms. Default: set by each class. */
  readonly commandTimeoutMs?: number;
}

/** How one class uses its connection. */
export interface ConnectionPolicy {
  /** The class, as errors name it, e.g. `'RedisStore'`. */
  readonly owner: string;
  /** `commandTimeoutMs` when the options leave it out. */
  readonly defaultTimeoutMs: number;
  /**
   * Which connection a call waits for, within its deadline. `'any'` (default): the first
   * connection and every reconnection, so a request that arrives a moment before the connection
   * is back is still answered. `'first'`: the first connection only, and only until its first
   * attempt fails; while reconnecting a call fails at once (an audit write then goes to the spool
   * instead of holding up the queue).
   */
  readonly waitFor?: 'any' | 'first';
  /**
   * The deadline of one call. `'command'` (default): `commandTimeoutMs`. `'connect'`: as long as a
   * connection attempt may take (`max(1000, 5 × commandTimeoutMs)`), for calls made at start-up.
   */
  readonly deadline?: 'command' | 'connect';
  /**
   * Longest wait a call asks the server for on purpose (`WAIT` of a durable write), in ms: added
   * to the command timeout of a client opened from `url`. Default: 0.
   */
  readonly waitMs?: number;
  /**
   * Where the connection's changes of state are logged, once each: Redis unreachable (with the
   * cause, e.g. `ECONNREFUSED 127.0.0.1:6390`), Redis answering again. Default: not logged.
   */
  readonly logger?: Pick<Logger, 'warn' | 'error'>;
}

/** Connection options checked against a policy, ready to open (see {@link connectionTarget}). */
export interface ConnectionTarget {
  readonly policy: ConnectionPolicy;
  readonly url: string | undefined;
  readonly client: Redis | Cluster | undefined;
  readonly timeoutMs: number;
}

/**
 * Checks the connection options of a class without opening anything, so a class can check all its
 * other options before it opens a client (an invalid option never leaves a client behind).
 *
 * @throws ConfigError naming the option when the options are missing, ambiguous or out of range;
 * a bad URL is never echoed.
 */
export function connectionTarget(
  options: ConnectionOptions,
  policy: ConnectionPolicy,
): ConnectionTarget {
  const { owner } = policy;
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`${owner} needs an options object with 'url' or 'client'`);
  }
  const { url, client } = options;
  if (url !== undefined && client !== undefined) {
    throw new ConfigError(
      `${owner} options 'url' and 'client' are mutually exclusive; pass exactly one of 'url' and 'client'`,
    );
  }
  if (url === undefined && client === undefined) {
    throw new ConfigError(
      `${owner} needs exactly one of 'url' (a redis:// or rediss:// URL) and 'client' (an ioredis Redis or Cluster)`,
    );
  }
  const timeoutMs = options.commandTimeoutMs ?? policy.defaultTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_COMMAND_TIMEOUT_MS) {
    throw new ConfigError(
      `${owner} option 'commandTimeoutMs' must be an integer from 1 to ${MAX_COMMAND_TIMEOUT_MS}`,
    );
  }
  if (client !== undefined) {
    const view = client as unknown as { defineCommand?: unknown } | null;
    if (typeof view?.defineCommand !== 'function') {
      throw new ConfigError(`${owner} option 'client' must be an ioredis Redis or Cluster`);
    }
  }
  if (url !== undefined) checkedUrl(url, `${owner} option 'url'`);
  return { policy, url, client, timeoutMs };
}
