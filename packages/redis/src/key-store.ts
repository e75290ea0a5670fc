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
} from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, unavailable } from './client';
import { DEFAULT_PREFIX, KeySpace } from './keys';

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
  /** Command timeout of the clients it opens, in ms. Default: 1000. */
  readonly commandTimeoutMs?: number;
}

/** The stored document: metadata in clear, secrets sealed. */
interface StoredDocument {
  readonly settings?: SigningKeySettings;
  readonly keys: readonly (SigningKeyInfo & { readonly secret: Envelope })[];
}

/** Compare-and-set of the key set; publishes the new revision on the change channel. */
const SAVE_SCRIPT = `
-- KEYS[1]: the hash holding revision and doc. ARGV: new revision, doc JSON, channel.
local current = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
-- Another writer came first: refuse, the caller reloads and retries.
if current ~= tonumber(ARGV[1]) - 1 then return 0 end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'doc', ARGV[2])
-- Every node's ring reloads on this message, so a rotation spreads within milliseconds.
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`;

type Client = Redis | Cluster;

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
  private readonly client: Client;
  private readonly owned: boolean;
  private readonly key: string;
  private readonly channel: string;
  private readonly timeoutMs: number;
  private readonly url: string | undefined;
  private readonly subscribers = new Set<Client>();

  constructor(private readonly options: RedisSigningKeyStoreOptions) {
    if ((options.url === undefined) === (options.client === undefined)) {
      throw new ConfigError(`RedisSigningKeyStore needs exactly one of 'url' and 'client'`);
    }
    const space = new KeySpace(options.prefix ?? DEFAULT_PREFIX);
    this.key = `${space.base}signing-keys`;
    this.channel = `${space.base}signing-keys:changed`;
    this.timeoutMs = options.commandTimeoutMs ?? 1_000;
    this.url = options.url;
    if (options.client !== undefined) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = openClient(
        options.url,
        this.timeoutMs,
        () => {},
        "RedisSigningKeyStore option 'url'",
      );
      this.owned = true;
    }
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
    await this.connected(this.client);
    try {
      const saved = await this.client.eval(
        SAVE_SCRIPT,
        1,
        this.key,
        String(next.revision),
        JSON.stringify(doc),
        this.channel,
      );
      return saved === 1;
    } catch (error) {
      throw unavailable('a signing key save', error);
    }
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
    const subscriber: Client =
      this.url !== undefined
        ? openClient(this.url, this.timeoutMs, () => {}, "RedisSigningKeyStore option 'url'")
        : (this.client.duplicate as () => Client).call(this.client);
    this.subscribers.add(subscriber);
    subscriber.on('message', (channel: string) => {
      if (channel === this.channel) listener();
    });
    await this.connected(subscriber);
    await subscriber.subscribe(this.channel);
    return async () => {
      this.subscribers.delete(subscriber);
      subscriber.disconnect();
    };
  }

  /** Closes the connections the store opened (never a client passed in). */
  async close(): Promise<void> {
    for (const subscriber of this.subscribers) subscriber.disconnect();
    this.subscribers.clear();
    if (this.owned) this.client.disconnect();
  }

  private async read(): Promise<{ revision: number; doc: StoredDocument }> {
    let reply: (string | null)[];
    await this.connected(this.client);
    try {
      reply = await this.client.hmget(this.key, 'revision', 'doc');
    } catch (error) {
      throw unavailable('a signing key load', error);
    }
    const [revision, doc] = reply;
    if (revision === null || revision === undefined || doc === null || doc === undefined) {
      return { revision: 0, doc: { keys: [] } };
    }
    const parsed = JSON.parse(doc) as StoredDocument;
    if (!Array.isArray(parsed?.keys))
      throw new ConfigError('the stored signing key set is malformed');
    return { revision: Number(revision), doc: parsed };
  }

  /**
   * Waits until `client` is connected: a fail-fast client refuses commands while it connects,
   * and key loads happen at start-up, right after the client was opened.
   */
  private async connected(client: Client): Promise<void> {
    if (client.status === 'ready') return;
    if (client.status === 'end' || client.status === 'close') {
      throw unavailable('a signing key command', new Error('Connection is closed'));
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          client.off('ready', onReady);
          reject(unavailable('a signing key command', new Error('timed out')));
        },
        Math.max(1_000, 5 * this.timeoutMs),
      );
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  }

  private requireKeys(what: string): MasterKey[] {
    const current = this.options.masterKey;
    if (current === undefined) {
      throw new ConfigError(`RedisSigningKeyStore needs masterKey to ${what} signing keys`);
    }
    return [current, ...(this.options.previousMasterKeys ?? [])];
  }
}
