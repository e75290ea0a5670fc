import {
  ConfigError,
  openSecret,
  sealSecret,
  type Envelope,
  type MasterKey,
  type SigningKeyInfo,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_PREFIX, DEFAULT_SIGNING_KEY_TIMEOUT_MS } from './defaults';
import { KeySpace } from './keys';
import { COMMANDS, SIGNING_KEYS_SAVE_SCRIPT, type ScriptCalls } from './scripts';

/** Options of {@link RedisSigningKeyStore}. */
export interface RedisSigningKeyStoreOptions {
  /** A `redis://` or `rediss://` URL; the store opens (and closes) its own clients. */
  readonly url?: string;
  /** An ioredis client you own (never closed by the store). Exclusive with `url`. */
  readonly client?: Redis | Cluster;
  /** Key prefix, as for `RedisStore`. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /**
   * Encrypts every private key and secret before it reaches Redis (AES-256-GCM). Read it with
   * `masterKey(...)` from the environment or a file; never from code. Required to read or write
   * secrets; `loadInfo` works without it.
   */
  readonly masterKey?: MasterKey;
  /**
   * Master keys used before the current one. Keys sealed with them still open; every save seals
   * everything with `masterKey` again (see {@link RedisSigningKeyStore.rewrap}). Default: none.
   */
  readonly previousMasterKeys?: readonly MasterKey[];
  /**
   * Command timeout of the clients it opens, in ms. A call (made at start-up, right after the
   * client was opened) may wait for the connection up to `max(1000, 5 × commandTimeoutMs)`.
   * Default: 1000.
   */
  readonly commandTimeoutMs?: number;
}

/** The stored document: metadata in clear, secrets sealed. */
interface StoredDocument {
  readonly settings?: SigningKeySettings;
  readonly keys: readonly (SigningKeyInfo & { readonly secret: Envelope })[];
}

/** The commands the store sends: HMGET and its compare-and-set script. */
type KeyStoreClient = ScriptCalls<typeof COMMANDS.signingKeysSave> & {
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
};

/** The members of a subscriber-mode client that `watch` uses. */
interface WatchClient {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string) => void): unknown;
}

/**
 * The shared signing key set in Redis: one hash (`<prefix>{tw}:signing-keys`) with a revision
 * and a JSON document whose private keys are each sealed with AES-256-GCM under the master key
 * (its id in the envelope, the `kid` bound as additional data). Saves are compare-and-set in one
 * Lua script and announced on `<prefix>{tw}:signing-keys:changed`, which `watch` follows, so a
 * node picks up a rotation without restart. A wrong master key fails loudly.
 *
 * @example
 * const store = new RedisSigningKeyStore({ url: process.env.REDIS_URL,
 *   masterKey: masterKey(readFileSync('/run/secrets/tokenwarden-master-key')) });
 * const ring = new SigningKeyRing({ store, maxTokenLifetimeMs: 900_000 });
 */
export class RedisSigningKeyStore implements SigningKeyStore {
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<KeyStoreClient>;
  readonly #subscribers = new Set<RedisConnection<WatchClient>>();
  private readonly key: string;
  private readonly channel: string;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(private readonly options: RedisSigningKeyStoreOptions) {
    const target = connectionTarget(options, {
      owner: 'RedisSigningKeyStore',
      defaultTimeoutMs: DEFAULT_SIGNING_KEY_TIMEOUT_MS,
      // Keys load at start-up, right after the client was opened: wait as long as connecting may.
      deadline: 'connect',
    });
    const space = new KeySpace(options.prefix ?? DEFAULT_PREFIX);
    this.key = `${space.base}signing-keys`;
    this.channel = `${space.base}signing-keys:changed`;
    // Last: a client is opened only for valid options.
    this.#connection = new RedisConnection<KeyStoreClient>(target);
    this.#connection.define([SIGNING_KEYS_SAVE_SCRIPT]);
  }

  /** Loads and decrypts the set. Throws when a secret does not open (wrong master key). */
  async load(): Promise<SigningKeySet> {
    const { revision, doc } = await this.read();
    const keys = this.requireKeys('read');
    return {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: doc.keys.map(({ secret, ...info }) => ({
        ...info,
        secret: openSecret(secret, keys, info.kid).toString('utf8'),
      })),
    };
  }

  /** The keys' metadata and public JWKs, without opening any secret (no master key needed). */
  async loadInfo(): Promise<{
    revision: number;
    settings?: SigningKeySettings;
    keys: SigningKeyInfo[];
  }> {
    const { revision, doc } = await this.read();
    return {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: doc.keys.map(({ secret: _secret, ...info }) => info),
    };
  }

  /** Seals every secret with the current master key and writes the set if `revision` follows. */
  async save(next: SigningKeySet): Promise<boolean> {
    const current = this.options.masterKey;
    if (current === undefined) {
      throw new ConfigError('RedisSigningKeyStore needs masterKey to store signing keys');
    }
    const doc: StoredDocument = {
      ...(next.settings ? { settings: next.settings } : {}),
      keys: next.keys.map((k: StoredSigningKey) => ({
        ...k,
        secret: sealSecret(Buffer.from(k.secret, 'utf8'), current, k.kid),
      })),
    };
    const args = [this.key, String(next.revision), JSON.stringify(doc), this.channel];
    return this.#connection.run(
      'a signing key save',
      (redis) => redis[COMMANDS.signingKeysSave](...args),
      (saved) => saved === 1,
    );
  }

  /**
   * Re-seals every stored secret with the current master key (after the master key rotated:
   * pass the old one in `previousMasterKeys`). Returns how many keys were re-wrapped.
   */
  async rewrap(): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const set = await this.load();
      if (set.keys.length === 0) return 0;
      if (await this.save({ ...set, revision: set.revision + 1 })) return set.keys.length;
    }
    throw new ConfigError('the signing key set kept changing during re-wrap; try again');
  }

  /** Follows the change channel on a dedicated connection; resolves to an unsubscribe. */
  async watch(listener: () => void): Promise<() => Promise<void>> {
    const subscriber = this.#connection.subscriber<WatchClient>('tokenwarden-signing-keys');
    this.#subscribers.add(subscriber);
    subscriber.client.on('message', (channel: string) => {
      if (channel === this.channel) listener();
    });
    const unsubscribe = async () => {
      this.#subscribers.delete(subscriber);
      await subscriber.close();
    };
    try {
      await subscriber.run('a signing key watch', (redis) => redis.subscribe(this.channel));
    } catch (error) {
      await unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /** Closes the connections the store opened (never a client passed in). Idempotent. */
  async close(): Promise<void> {
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    await Promise.all(subscribers.map((subscriber) => subscriber.close()));
    await this.#connection.close();
  }

  private async read(): Promise<{ revision: number; doc: StoredDocument }> {
    const reply = await this.#connection.run('a signing key load', (redis) =>
      redis.hmget(this.key, 'revision', 'doc'),
    );
    const [revision, doc] = reply;
    if (revision === null || revision === undefined || doc === null || doc === undefined) {
      return { revision: 0, doc: { keys: [] } };
    }
    const parsed = JSON.parse(doc) as StoredDocument;
    if (!Array.isArray(parsed?.keys))
      throw new ConfigError('the stored signing key set is malformed');
    return { revision: Number(revision), doc: parsed };
  }

  private requireKeys(what: string): MasterKey[] {
    const current = this.options.masterKey;
    if (current === undefined) {
      throw new ConfigError(`RedisSigningKeyStore needs masterKey to ${what} signing keys`);
    }
    return [current, ...(this.options.previousMasterKeys ?? [])];
  }
}
