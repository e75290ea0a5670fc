import { ConfigError, type ChainKeyStore, type Envelope } from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_PREFIX, DEFAULT_SIGNING_KEY_TIMEOUT_MS } from './defaults';
import { KeySpace } from './keys';

/** Options of {@link RedisChainKeyStore}. */
export interface RedisChainKeyStoreOptions {
  /** A `redis://` or `rediss://` URL; the store opens (and closes) its own client. */
  readonly url?: string;
  /** An ioredis client you own (never closed by the store). Exclusive with `url`. */
  readonly client?: Redis | Cluster;
  /** Key prefix, as for `RedisStore`. The key is `<base>audit:chain-key`. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** Command timeout, in ms. Default: 1000. */
  readonly commandTimeoutMs?: number;
}

type ChainKeyClient = {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, nx: 'NX'): Promise<string | null>;
  set(key: string, value: string): Promise<string | null>;
};

/** The Redis key of the sealed chain key for a prefix. */
export function chainKeyKey(prefix: string = DEFAULT_PREFIX): string {
  return `${new KeySpace(prefix).base}audit:chain-key`;
}

/**
 * Keeps the audit chain key in Redis, sealed by the master key (AES-256-GCM; Redis never holds
 * it in clear), for `loadChainKey`: every node of a deployment, and `tokenwarden audit verify`
 * given the master key, opens the same key. Created with SET NX, so nodes starting together
 * agree on one key.
 *
 * @example
 * const chainKey = await loadChainKey({ store: new RedisChainKeyStore({ url }), masterKey });
 */
export class RedisChainKeyStore implements ChainKeyStore {
  readonly description: string;
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<ChainKeyClient>;
  private readonly key: string;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisChainKeyStoreOptions) {
    this.key = chainKeyKey(options?.prefix);
    this.description = `Redis key ${this.key}`;
    const target = connectionTarget(options, {
      owner: 'RedisChainKeyStore',
      defaultTimeoutMs: DEFAULT_SIGNING_KEY_TIMEOUT_MS,
      // Read at start-up, right after the client was opened: wait as long as connecting may.
      deadline: 'connect',
    });
    this.#connection = new RedisConnection<ChainKeyClient>(target);
  }

  async load(): Promise<Envelope | undefined> {
    const text = await this.#connection.run('chain key load', (redis) => redis.get(this.key));
    if (text === null) return undefined;
    try {
      return JSON.parse(text) as Envelope;
    } catch {
      throw new ConfigError(`the chain key in ${this.description} is not JSON`);
    }
  }

  async createIfAbsent(envelope: Envelope): Promise<Envelope> {
    const text = JSON.stringify(envelope);
    const set = await this.#connection.run('chain key create', (redis) =>
      redis.set(this.key, text, 'NX'),
    );
    if (set !== null) return envelope;
    const stored = await this.load();
    if (stored === undefined)
      throw new ConfigError(`the chain key in ${this.description} vanished`);
    return stored;
  }

  async replace(envelope: Envelope): Promise<void> {
    await this.#connection.run('chain key replace', (redis) =>
      redis.set(this.key, JSON.stringify(envelope)),
    );
  }

  /** Closes the client if this store opened it. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}
