import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors';
import { openSecret, sealSecret, type Envelope, type MasterKey } from '../internal/envelope';

/** Additional data bound into the chain key's envelope: it opens as nothing else. */
export const CHAIN_KEY_CONTEXT = 'audit-chain-key';

/**
 * Where the generated chain key is kept, sealed by the master key (as signing keys are): a file
 * (`FileChainKeyStore`), Redis (`RedisChainKeyStore` in `@tokenwarden/redis`) or your own.
 */
export interface ChainKeyStore {
  /** Where the key lives, for messages (never the key). */
  readonly description: string;
  /** The stored envelope, or `undefined` when none was created yet. */
  load(): Promise<Envelope | undefined>;
  /**
   * Stores `envelope` unless one exists already (atomically: two nodes starting together end up
   * with one key); resolves to the envelope stored.
   */
  createIfAbsent(envelope: Envelope): Promise<Envelope>;
  /** Replaces the stored envelope (after re-sealing with a new master key). */
  replace(envelope: Envelope): Promise<void>;
}

/**
 * Keeps the sealed chain key in a JSON file (mode 0600, created exclusively).
 *
 * @example
 * const chainKey = await loadChainKey({ store: new FileChainKeyStore('/var/lib/tokenwarden/chain-key.json'), masterKey });
 */
export class FileChainKeyStore implements ChainKeyStore {
  readonly description: string;

  constructor(readonly path: string) {
    if (typeof path !== 'string' || path === '') {
      throw new ConfigError('FileChainKeyStore needs a file path');
    }
    this.description = `file ${path}`;
  }

  async load(): Promise<Envelope | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ConfigError(
        `cannot read the chain key ${this.description} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    try {
      return JSON.parse(text) as Envelope;
    } catch {
      throw new ConfigError(`the chain key ${this.description} is not JSON`);
    }
  }

  async createIfAbsent(envelope: Envelope): Promise<Envelope> {
    try {
      await writeFile(this.path, JSON.stringify(envelope) + '\n', { flag: 'wx', mode: 0o600 });
      return envelope;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stored = await this.load();
      if (stored === undefined) throw new ConfigError(`the chain key ${this.description} vanished`);
      return stored;
    }
  }

  async replace(envelope: Envelope): Promise<void> {
    await writeFile(this.path, JSON.stringify(envelope) + '\n', { mode: 0o600 });
  }
}

/** Options of {@link loadChainKey}. */
export interface LoadChainKeyOptions {
  readonly store: ChainKeyStore;
  /** Seals a new key and opens the stored one. */
  readonly masterKey: MasterKey;
  /** Master keys used before, that may have sealed the stored key. Default: none. */
  readonly previousMasterKeys?: readonly MasterKey[];
  /** Generate and store a key when there is none. Default: true (false for readers). */
  readonly create?: boolean;
}

/**
 * The audit chain key kept in `store`, sealed by the master key: opened when it exists, else
 * generated (32 random bytes), sealed and stored, so a deployment needs no key of its own beyond
 * the master key. Pass the result as `audit.chainKey`.
 * @throws EnvelopeError when the stored key does not open with these master keys;
 *   ConfigError when there is none and `create` is false.
 *
 * @example
 * const chainKey = await loadChainKey({ store, masterKey: masterKey(process.env.TOKENWARDEN_MASTER_KEY!) });
 * const warden = createWarden({ jwt, audit: { sinks, chainKey } });
 */
export async function loadChainKey(options: LoadChainKeyOptions): Promise<Buffer> {
  const keys = [options.masterKey, ...(options.previousMasterKeys ?? [])];
  let envelope = await options.store.load();
  if (envelope === undefined) {
    if (options.create === false) {
      throw new ConfigError(`no audit chain key is stored in ${options.store.description}`);
    }
    const fresh = sealSecret(randomBytes(32), options.masterKey, CHAIN_KEY_CONTEXT);
    envelope = await options.store.createIfAbsent(fresh);
  }
  return openSecret(envelope, keys, CHAIN_KEY_CONTEXT);
}

/**
 * Re-seals the stored chain key with `masterKey` (after a master-key rotation); the key itself,
 * and so the chain, stays the same. Resolves to whether anything was stored.
 */
export async function rewrapChainKey(
  options: Omit<LoadChainKeyOptions, 'create'>,
): Promise<boolean> {
  const envelope = await options.store.load();
  if (envelope === undefined) return false;
  const keys = [options.masterKey, ...(options.previousMasterKeys ?? [])];
  const key = openSecret(envelope, keys, CHAIN_KEY_CONTEXT);
  await options.store.replace(sealSecret(key, options.masterKey, CHAIN_KEY_CONTEXT));
  return true;
}
