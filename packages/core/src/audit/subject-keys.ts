import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, TokenwardenError } from '../errors';
import { openSecret, sealSecret, type Envelope, type MasterKey } from '../internal/envelope';

/**
 * Where the per-data-subject keys live: one 256-bit key per pseudonym, wrapped (AES-256-GCM) by
 * the master key, and the pseudonym key under the reserved name {@link PSEUDONYM_KEY_NAME}.
 * Destroying a subject's key makes every encrypted copy of its identifier unreadable for good
 * (crypto-shredding), while the audit chain, which covers only ciphertext and pseudonym, stays
 * intact. Implementations: {@link MemorySubjectKeyStore}, {@link FileSubjectKeyStore},
 * `RedisSubjectKeyStore` (`@tokenwarden/redis`).
 */
export interface SubjectKeyStore {
  /** What the store is, for messages (a path, a key prefix); never a secret. */
  readonly description: string;
  /** The wrapped keys stored under these names; names without a key are absent. */
  load(names: readonly string[]): Promise<Map<string, Envelope>>;
  /**
   * Stores each key whose name has none yet, durably, and resolves with what is stored for every
   * name afterwards (a key stored first by another process wins).
   */
  create(keys: ReadonlyMap<string, Envelope>): Promise<Map<string, Envelope>>;
  /** Replaces stored keys (rewrapped under a new master key); names without a key are skipped. */
  replace(keys: ReadonlyMap<string, Envelope>): Promise<void>;
  /** Destroys one key for good; resolves whether there was one. */
  destroy(name: string): Promise<boolean>;
  /** Every stored name, in no particular order. */
  names(): AsyncIterable<string>;
  /** Releases what the store opened. */
  close?(): Promise<void>;
}

/** Name of the pseudonym key in a {@link SubjectKeyStore}; no pseudonym can take it. */
export const PSEUDONYM_KEY_NAME = 'pseudonym-key';

/** Prefix of a pseudonym as stored in an audit event. */
export const PSEUDONYM_PREFIX = 'ps:';

/** Additional data that binds a wrapped key to its name, so it cannot be moved to another. */
export function subjectKeyContext(name: string): string {
  return `subject-key:${name}`;
}

/**
 * An encrypted copy, key or pseudonym key cannot be opened (wrong or missing master key, altered
 * bytes). Code `secret_unreadable`.
 */
export class SubjectKeyError extends TokenwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('secret_unreadable', message, options);
    this.name = 'SubjectKeyError';
  }
}

/** The keyed pseudonym of one identifier: `ps:` and 128 bits of HMAC-SHA256, base64url. */
export function pseudonymOf(pseudonymKey: Buffer, identifier: string): string {
  return (
    PSEUDONYM_PREFIX +
    createHmac('sha256', pseudonymKey)
      .update(identifier)
      .digest()
      .subarray(0, 16)
      .toString('base64url')
  );
}

/** AES-256-GCM of `identifier` under `key`, the pseudonym bound: base64url(iv ‖ ct ‖ tag). */
export function encryptIdentifier(key: Buffer, pseudonym: string, identifier: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(pseudonym, 'utf8'));
  const ct = Buffer.concat([cipher.update(identifier, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64url');
}

/** The identifier in an {@link encryptIdentifier} copy; undefined when it does not authenticate. */
export function decryptIdentifier(
  key: Buffer,
  pseudonym: string,
  copy: string,
): string | undefined {
  const bytes = Buffer.from(copy, 'base64url');
  if (bytes.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(pseudonym, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([
      decipher.update(bytes.subarray(12, bytes.length - 16)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Wraps a fresh 256-bit key for `name` under the master key. */
export function newWrappedKey(name: string, master: MasterKey): { key: Buffer; wrapped: Envelope } {
  const key = randomBytes(32);
  return { key, wrapped: sealSecret(key, master, subjectKeyContext(name)) };
}

/** Unwraps a stored key; throws {@link SubjectKeyError} naming the master key it needs. */
export function unwrapKey(name: string, wrapped: Envelope, masters: readonly MasterKey[]): Buffer {
  try {
    return openSecret(wrapped, masters, subjectKeyContext(name));
  } catch (error) {
    throw new SubjectKeyError(
      `the key '${name === PSEUDONYM_KEY_NAME ? name : 'of a data subject'}' cannot be opened: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * The pseudonym key of a store: loaded and unwrapped, or created, wrapped and stored once (the
 * first process to store it wins).
 */
export async function loadPseudonymKey(
  store: SubjectKeyStore,
  masters: readonly MasterKey[],
  create = true,
): Promise<Buffer | undefined> {
  const found = (await store.load([PSEUDONYM_KEY_NAME])).get(PSEUDONYM_KEY_NAME);
  if (found !== undefined) return unwrapKey(PSEUDONYM_KEY_NAME, found, masters);
  if (!create) return undefined;
  const master = masters[0];
  if (master === undefined)
    throw new ConfigError('a master key is needed to create the pseudonym key');
  const fresh = newWrappedKey(PSEUDONYM_KEY_NAME, master);
  const stored = (await store.create(new Map([[PSEUDONYM_KEY_NAME, fresh.wrapped]]))).get(
    PSEUDONYM_KEY_NAME,
  );
  return stored === undefined ? fresh.key : unwrapKey(PSEUDONYM_KEY_NAME, stored, masters);
}

/**
 * Rewraps every key of a store (subject keys and the pseudonym key) under `masters[0]`, opening
 * them with any of `masters`; resolves with the number of keys rewrapped.
 */
export async function rewrapSubjectKeys(
  store: SubjectKeyStore,
  masters: readonly MasterKey[],
): Promise<number> {
  const master = masters[0];
  if (master === undefined) throw new ConfigError('rewrapping needs the new master key');
  let count = 0;
  let names: string[] = [];
  const flush = async () => {
    const loaded = await store.load(names);
    const out = new Map<string, Envelope>();
    for (const [name, wrapped] of loaded) {
      if (wrapped.mk === master.id) continue;
      const key = unwrapKey(name, wrapped, masters);
      out.set(name, sealSecret(key, master, subjectKeyContext(name)));
    }
    await store.replace(out);
    count += out.size;
    names = [];
  };
  for await (const name of store.names()) {
    names.push(name);
    if (names.length >= 500) await flush();
  }
  if (names.length > 0) await flush();
  return count;
}

/** Subject keys in memory, for tests and single-process demos (lost when the process ends). */
export class MemorySubjectKeyStore implements SubjectKeyStore {
  readonly description = 'memory';
  private readonly keys = new Map<string, Envelope>();

  async load(names: readonly string[]): Promise<Map<string, Envelope>> {
    const out = new Map<string, Envelope>();
    for (const name of names) {
      const key = this.keys.get(name);
      if (key !== undefined) out.set(name, key);
    }
    return out;
  }

  async create(keys: ReadonlyMap<string, Envelope>): Promise<Map<string, Envelope>> {
    const out = new Map<string, Envelope>();
    for (const [name, key] of keys) {
      if (!this.keys.has(name)) this.keys.set(name, key);
      out.set(name, this.keys.get(name)!);
    }
    return out;
  }

  async replace(keys: ReadonlyMap<string, Envelope>): Promise<void> {
    for (const [name, key] of keys) if (this.keys.has(name)) this.keys.set(name, key);
  }

  async destroy(name: string): Promise<boolean> {
    return this.keys.delete(name);
  }

  async *names(): AsyncIterable<string> {
    yield* [...this.keys.keys()];
  }
}

const FILE_NAME = /^[A-Za-z0-9_:-]{1,64}$/;

/**
 * Subject keys in a directory, one file per key (`<name>.key`, mode 0600), written to a temporary
 * file, fsynced and renamed, so a key is durable before any event uses it. Destroying a key
 * unlinks its file. For a single node; share keys between nodes with `RedisSubjectKeyStore`.
 */
export class FileSubjectKeyStore implements SubjectKeyStore {
  readonly description: string;
  private ready: Promise<unknown> | undefined;

  constructor(private readonly dir: string) {
    if (typeof dir !== 'string' || dir === '') {
      throw new ConfigError('FileSubjectKeyStore needs a directory path');
    }
    this.description = dir;
  }

  private file(name: string): string {
    if (!FILE_NAME.test(name)) throw new ConfigError(`'${name}' is not a subject key name`);
    return join(this.dir, `${name.replace(/:/g, '_')}.key`);
  }

  private async prepare(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.ready;
  }

  async load(names: readonly string[]): Promise<Map<string, Envelope>> {
    const out = new Map<string, Envelope>();
    for (const name of names) {
      try {
        out.set(name, JSON.parse(await readFile(this.file(name), 'utf8')) as Envelope);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return out;
  }

  async create(keys: ReadonlyMap<string, Envelope>): Promise<Map<string, Envelope>> {
    await this.prepare();
    const existing = await this.load([...keys.keys()]);
    for (const [name, key] of keys) {
      if (existing.has(name)) continue;
      await this.write(name, key, false);
      existing.set(name, (await this.load([name])).get(name) ?? key);
    }
    return existing;
  }

  async replace(keys: ReadonlyMap<string, Envelope>): Promise<void> {
    for (const [name, key] of keys) await this.write(name, key, true);
  }

  async destroy(name: string): Promise<boolean> {
    try {
      await unlink(this.file(name));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async *names(): AsyncIterable<string> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.endsWith('.key')) continue;
      const base = entry.slice(0, -4);
      yield base === PSEUDONYM_KEY_NAME ? base : base.replace(/^ps_/, PSEUDONYM_PREFIX);
    }
  }

  /** Temporary file, fsync, then rename (or link, which fails when the key exists). */
  private async write(name: string, key: Envelope, overwrite: boolean): Promise<void> {
    const target = this.file(name);
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(key));
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (overwrite) {
      await rename(temp, target);
      return;
    }
    try {
      await link(temp, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await unlink(temp);
    }
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
