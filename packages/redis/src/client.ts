import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { Redis, type RedisOptions } from 'ioredis';
import { connectTimeoutMs } from './defaults';

/**
 * Opens a fail-fast client for a `redis://` or `rediss://` URL (no offline queue, one retry per
 * command, `commandTimeout`, reconnect delay capped at 1 s). Connection errors are kept, sanitised,
 * by `onError` instead of being printed. The URL is validated without ever being echoed.
 *
 * @param what Names the option in the ConfigError for a bad URL, e.g. `"RedisStore option 'url'"`.
 * @param waitMs Longest wait a command may ask the server for on purpose (WAIT), added to the
 * client's `commandTimeout`.
 */
export function openClient(
  url: unknown,
  timeoutMs: number,
  onError: (error: Error) => void,
  what = "option 'url'",
  waitMs = 0,
): Redis {
  const redis = new Redis(checkedUrl(url, what), {
    ...failFastOptions(timeoutMs),
    commandTimeout: timeoutMs + waitMs,
  });
  // Without a listener ioredis prints every connection error, with the failed command.
  redis.on('error', (err: Error) => onError(safeCause(err) as Error));
  return redis;
}

/**
 * Opens a connection for pub/sub (subscriber mode): it queues its SUBSCRIBE until connected and
 * resubscribes after every reconnect. It has no `error` listener yet: its owner adds one.
 */
export function openSubscriber(url: string, timeoutMs: number, connectionName: string): Redis {
  return new Redis(checkedUrl(url), {
    ...failFastOptions(timeoutMs),
    enableOfflineQueue: true,
    commandTimeout: undefined,
    connectionName,
  });
}

/** Connection options for a client the store opens itself: fail fast, reconnect forever. */
export function failFastOptions(timeoutMs: number): RedisOptions {
  return {
    // A command sent while disconnected fails at once instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: connectTimeoutMs(timeoutMs),
    // Keep reconnecting, at most 1 s apart, so the store recovers when Redis is back.
    retryStrategy: (times: number) => Math.min(times * 100, 1_000),
    // After a failover the old primary answers READONLY: reconnect to find the new one.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    connectionName: 'tokenwarden',
    // close() after the server died: ioredis keeps a timer this long for the dead socket.
    disconnectTimeout: 500,
  };
}

/** Validates `url` without ever echoing it: it may hold a password. */
export function checkedUrl(url: unknown, what = "RedisStore option 'url'"): string {
  const message = `${what} must be a redis:// or rediss:// URL`;
  if (typeof url !== 'string') throw new ConfigError(message);
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new ConfigError(message);
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new ConfigError(message);
  return url;
}

/**
 * Wraps any failure as `StoreUnavailableError` with the original as `cause`. The message names
 * the operation and a short reason (a Redis error code such as READONLY, or a Node error code),
 * never a key, an id, the URL or a password.
 */
export function unavailable(operation: string, err: unknown): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(`Redis could not answer ${operation} (${reason(err)})`, {
    cause: safeCause(err),
  });
}

/**
 * A copy of an ioredis error with only its name, message, stack and error code. ioredis attaches
 * the failed command to its errors, and for a failed handshake that is `HELLO 3 AUTH <user>
 * <password>`; a Cluster error also carries the last node error. Neither may reach a log.
 */
export function safeCause(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const copy = new Error(err.message);
  copy.name = err.name;
  if (err.stack !== undefined) copy.stack = err.stack;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

export function reason(err: unknown): string {
  if (!(err instanceof Error)) return 'non-error rejection';
  const redisCode = /^([A-Z][A-Z_]{2,})(?:\s|$)/.exec(err.message)?.[1];
  if (redisCode !== undefined) return redisCode;
  const nodeCode = (err as { code?: unknown }).code;
  if (typeof nodeCode === 'string' && /^[A-Z_]+$/.test(nodeCode)) return nodeCode;
  if (err.message.includes('timed out')) return 'timeout';
  if (err.message.includes("isn't writeable")) return 'not connected';
  if (err.message.includes('Connection is closed')) return 'connection closed';
  if (err.name !== 'Error' && /^\w+$/.test(err.name)) return err.name;
  return 'error';
}

/** The deadline of one store call (see {@link startDeadline}). */
export interface Deadline {
  /** Rejects with `StoreUnavailableError` once the time is up; never resolves. */
  readonly promise: Promise<never>;
  /** Whether the time is up (a write must then not be sent). */
  readonly passed: boolean;
  /** Stops the timer once the call has an answer. */
  clear(): void;
}

/**
 * Starts the deadline of one call. The rejection names the operation and the time allowed, never
 * a key or the URL; `cause` is read only when the time is up (the last connection error).
 */
export function startDeadline(
  operation: string,
  timeoutMs: number,
  cause: () => unknown,
): Deadline {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let passed = false;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      passed = true;
      reject(
        new StoreUnavailableError(`Redis did not answer ${operation} within ${timeoutMs} ms`, {
          cause: cause(),
        }),
      );
    }, timeoutMs);
  });
  return {
    promise,
    get passed() {
      return passed;
    },
    clear: () => clearTimeout(timer),
  };
}
