import {
  checkKeyMaterial,
  ConfigError,
  EnvelopeError,
  keyInfoOf,
  openSecret,
  sealSecret,
  SigningKeyError,
  signingKeySealContext,
  signingKeySetDigest,
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
   * Encrypts every private key and secret before it reaches Redis (AES-256-GCM) and seals the
   * set's metadata and revision with them. Read it with `masterKey(...)` from the environment or a
   * file; never from code. Required to read or write secrets; `loadInfo` works without it (then
   * unauthenticated).
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

/** Format of a sealed document. Documents without `v` were written by Tokenwarden 0.1, unsealed. */
const SEALED = 2;

/**
 * The stored document: metadata in clear, secrets sealed. Each key's envelope, and `seal` (an
 * envelope of nothing), bind the digest of the set's metadata, settings and revision
 * (`signingKeySetDigest`) as additional data: metadata changed in Redis no longer authenticates.
 */
interface StoredDocument {
  readonly v?: typeof SEALED;
  readonly settings?: SigningKeySettings;
  readonly keys: readonly (SigningKeyInfo & { readonly secret: Envelope })[];
  /** Authenticates the set as a whole, keys or none. Absent before format 2. */
  readonly seal?: Envelope;
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
 * and a JSON document whose private keys are each sealed with AES-256-GCM under the master key.
 * The seal binds, as additional data, the key id and a digest of everything the set says: the
 * hash's name, the revision, the settings and every key's metadata (public key, algorithm,
 * times), so a public key swapped in Redis, a moved activation time, a removed key or a changed
 * revision fails to load with a {@link SigningKeyError}. Saves are compare-and-set in one Lua
 * script and announced on `<prefix>{tw}:signing-keys:changed`, which `watch` follows, so a node
 * picks up a rotation without restart. A wrong master key fails loudly.
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

  /**
   * Loads, authenticates and decrypts the set. Throws {@link EnvelopeError} when a secret was
   * sealed with a master key that is not configured, {@link SigningKeyError} when the set does not
   * authenticate (`tampered`), is not a key set (`malformed`) or was written unsealed by
   * Tokenwarden 0.1 (`unsealed`: run `tokenwarden keys rewrap` once).
   */
  async load(): Promise<SigningKeySet> {
    const { revision, doc } = await this.read();
    return this.open(revision, doc, this.requireKeys('read'));
  }

  /**
   * The keys' metadata and public JWKs. With a master key, the set is authenticated as by
   * {@link load} (the secrets are opened to check their seal, then dropped); without one, the
   * metadata is read as stored, unauthenticated: enough to list keys, not to publish them.
   */
  async loadInfo(): Promise<{
    revision: number;
    settings?: SigningKeySettings;
    keys: SigningKeyInfo[];
  }> {
    const { revision, doc } = await this.read();
    if (this.options.masterKey !== undefined) {
      const set = this.open(revision, doc, this.requireKeys('read'));
      return {
        revision,
        ...(set.settings ? { settings: set.settings } : {}),
        keys: set.keys.map(keyInfoOf),
      };
    }
    return {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: doc.keys.map(keyInfoOf),
    };
  }

  /**
   * Seals every secret and the set's metadata with the current master key and writes the set if
   * `revision` follows.
   */
  async save(next: SigningKeySet): Promise<boolean> {
    const current = this.options.masterKey;
    if (current === undefined) {
      throw new ConfigError('RedisSigningKeyStore needs masterKey to store signing keys');
    }
    const keys = next.keys.map((k: StoredSigningKey) => keyInfoOf(k));
    const digest = signingKeySetDigest(this.key, {
      revision: next.revision,
      ...(next.settings ? { settings: next.settings } : {}),
      keys,
    });
    const doc: StoredDocument = {
      v: SEALED,
      ...(next.settings ? { settings: next.settings } : {}),
      keys: next.keys.map((k, i) => ({
        ...keys[i]!,
        secret: sealSecret(
          Buffer.from(k.secret, 'utf8'),
          current,
          signingKeySealContext(digest, k.kid),
        ),
      })),
      seal: sealSecret(Buffer.alloc(0), current, signingKeySealContext(digest)),
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
   * pass the old one in `previousMasterKeys`). Returns how many keys were re-wrapped. Also seals,
   * once, a set written unsealed by Tokenwarden 0.1: its secrets must open and every public key
   * must be the public half of its private key.
   */
  async rewrap(): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { revision, doc } = await this.read();
      if (doc.keys.length === 0) return 0;
      const keys = this.requireKeys('read');
      const set =
        doc.v === undefined
          ? this.openUnsealed(revision, doc, keys)
          : this.open(revision, doc, keys);
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
    let parsed: StoredDocument;
    try {
      parsed = JSON.parse(doc) as StoredDocument;
    } catch {
      throw new SigningKeyError('malformed', 'the stored signing key set is not JSON');
    }
    const number = Number(revision);
    if (
      !Array.isArray(parsed?.keys) ||
      !parsed.keys.every((k) => k !== null && typeof k === 'object') ||
      !Number.isSafeInteger(number) ||
      number < 0
    ) {
      throw new SigningKeyError('malformed', 'the stored signing key set is malformed');
    }
    return { revision: number, doc: parsed };
  }

  /** The set of a sealed document, once its seal and every secret authenticate. */
  private open(revision: number, doc: StoredDocument, keys: readonly MasterKey[]): SigningKeySet {
    if (revision === 0 && doc.keys.length === 0 && doc.seal === undefined) {
      return { revision: 0, keys: [] };
    }
    if (doc.v === undefined) {
      throw new SigningKeyError(
        'unsealed',
        'the stored signing key set was written by Tokenwarden 0.1 and its metadata is not sealed; seal it once with `tokenwarden keys rewrap` (the current master key file as --previous-master-key-file)',
      );
    }
    if (doc.v !== SEALED || doc.seal === undefined) {
      throw new SigningKeyError(
        'malformed',
        `the stored signing key set has unknown format ${String(doc.v)}`,
      );
    }
    const info = doc.keys.map(keyInfoOf);
    const digest = signingKeySetDigest(this.key, {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: info,
    });
    this.openSealed(doc.seal, keys, signingKeySealContext(digest));
    return {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: doc.keys.map((k, i) => ({
        ...info[i]!,
        secret: this.openSealed(k.secret, keys, signingKeySealContext(digest, k.kid)),
      })),
    };
  }

  /**
   * The set of a document written by Tokenwarden 0.1 (each secret sealed with its kid only), for
   * `rewrap` to seal: every public key is checked against its private key, the one part of the
   * metadata that can be checked without a seal.
   */
  private openUnsealed(
    revision: number,
    doc: StoredDocument,
    keys: readonly MasterKey[],
  ): SigningKeySet {
    const set: SigningKeySet = {
      revision,
      ...(doc.settings ? { settings: doc.settings } : {}),
      keys: doc.keys.map((k) => ({
        ...keyInfoOf(k),
        secret: this.openSealed(k.secret, keys, k.kid),
      })),
    };
    for (const key of set.keys) checkKeyMaterial(key);
    return set;
  }

  /**
   * Opens one envelope. An envelope of a configured master key that does not authenticate means
   * the set was altered: a {@link SigningKeyError}, not a key problem.
   */
  private openSealed(envelope: Envelope, keys: readonly MasterKey[], context: string): string {
    try {
      return openSecret(envelope, keys, context).toString('utf8');
    } catch (error) {
      if (error instanceof EnvelopeError && keys.some((k) => k.id === envelope?.mk)) {
        throw new SigningKeyError(
          'tampered',
          'the stored signing key set does not authenticate under the master key: its keys, their metadata, its settings or its revision were altered in Redis',
          { cause: error },
        );
      }
      throw error;
    }
  }

  private requireKeys(what: string): MasterKey[] {
    const current = this.options.masterKey;
    if (current === undefined) {
      throw new ConfigError(`RedisSigningKeyStore needs masterKey to ${what} signing keys`);
    }
    return [current, ...(this.options.previousMasterKeys ?? [])];
  }
}
