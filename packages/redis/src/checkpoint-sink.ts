import type { CheckpointSink } from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_PREFIX, DEFAULT_STREAM_TIMEOUT_MS } from './defaults';
import { KeySpace } from './keys';

/** Options of {@link RedisCheckpointSink}. */
export interface RedisCheckpointSinkOptions {
  /**
   * A `redis://` or `rediss://` URL: best another Redis than the audit stream's, so whoever can
   * write the stream cannot also remove the checkpoints. Exclusive with `client`.
   */
  readonly url?: string;
  /** An ioredis client you own (never closed here). */
  readonly client?: Redis | Cluster;
  /** Key prefix; the list is `<base>audit:checkpoints`. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** Deadline of one command, in ms. Default: 2000. */
  readonly commandTimeoutMs?: number;
}

type ListClient = {
  rpush(key: string, ...values: string[]): Promise<number>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
};

/** The list of checkpoint lines for a prefix. */
export function checkpointsKey(prefix: string = DEFAULT_PREFIX): string {
  return `${new KeySpace(prefix).base}audit:checkpoints`;
}

/**
 * Keeps the audit trail's signed checkpoints in a Redis list, apart from the stream: pass it as
 * `audit.checkpoints.sink`, and `tokenwarden audit verify --checkpoints redis://…` (another Redis)
 * or `--checkpoints redis:` (the Redis and prefix of `--redis-url`) reads them. A checkpoint cannot
 * be forged without the signing key, but in the stream's own Redis it can be deleted with the
 * events: prefer another server, or a file on another host.
 *
 * @example
 * audit: { sinks, checkpoints: { sink: new RedisCheckpointSink({ url: process.env.CHECKPOINT_REDIS_URL }) } }
 */
export class RedisCheckpointSink implements CheckpointSink {
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<ListClient>;
  /** The list key. */
  readonly key: string;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCheckpointSinkOptions) {
    this.key = checkpointsKey(options?.prefix);
    const target = connectionTarget(options, {
      owner: 'RedisCheckpointSink',
      defaultTimeoutMs: DEFAULT_STREAM_TIMEOUT_MS,
      waitFor: 'first',
    });
    this.#connection = new RedisConnection<ListClient>(target);
  }

  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.#connection.run('audit checkpoints write', (redis) =>
      redis.rpush(this.key, ...lines),
    );
  }

  /** Every checkpoint line stored, oldest first, one per line. */
  async readAll(): Promise<string> {
    const lines = await this.#connection.run('audit checkpoints read', (redis) =>
      redis.lrange(this.key, 0, -1),
    );
    return lines.join('\n');
  }

  /** Closes the client if this sink opened it. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}
