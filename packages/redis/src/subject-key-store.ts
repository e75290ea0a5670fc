import type { Envelope, SubjectKeyStore } from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';

/** Options of {@link RedisSubjectKeyStore}. */
export interface RedisSubjectKeyStoreOptions {
  /** A `redis://` or `rediss://` URL; the store opens (and closes) its own client. */
  readonly url?: string;
  /** An ioredis client you own (never closed by the store). Exclusive with `url`. */
  readonly client?: Redis | Cluster;
  /** Key prefix, as for `RedisStore`. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** Command timeout of the client it opens, in ms. Default: 1000. */
  readonly commandTimeoutMs?: number;
}

/** The commands the store sends. */
interface SubjectKeyClient {
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  hset(key: string, ...pairs: string[]): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
  hscan(
    key: string,
    cursor: string,
    count: 'COUNT',
    n: number,
  ): Promise<[cursor: string, entries: string[]]>;
  multi(): {
    hsetnx(key: string, field: string, value: string): unknown;
    hmget(key: string, ...fields: string[]): unknown;
    exec(): Promise<[Error | null, unknown][] | null>;
  };
}

/**
 * The per-data-subject keys of the audit trail in Redis: one hash, `<prefix>{tw}:subject-keys`,
 * whose fields are pseudonyms (never identifiers) and whose values are keys wrapped by the master
 * key. Loading a batch's keys is one HMGET; creating the missing ones is one MULTI of HSETNX and
 * HMGET, so the first writer wins and every node then uses the same key. Destroying a key is one
 * HDEL: the encrypted copies in the trail can no longer be opened.
 *
 * @example
 * const subjectKeys = { store: new RedisSubjectKeyStore({ url }), masterKey: masterKey(fileBytes) };
 * const warden = createWarden({ ..., audit: { sinks, subjectKeys } });
 */
export class RedisSubjectKeyStore implements SubjectKeyStore {
  readonly #connection: RedisConnection<SubjectKeyClient>;
  readonly description: string;
  private readonly key: string;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisSubjectKeyStoreOptions) {
    const target = connectionTarget(options, {
      owner: 'RedisSubjectKeyStore',
      defaultTimeoutMs: 1_000,
    });
    const space = new KeySpace(options.prefix ?? DEFAULT_PREFIX);
    this.key = `${space.base}subject-keys`;
    this.description = this.key;
    this.#connection = new RedisConnection<SubjectKeyClient>(target);
  }

  async load(names: readonly string[]): Promise<Map<string, Envelope>> {
    const out = new Map<string, Envelope>();
    if (names.length === 0) return out;
    const values = await this.#connection.run('a subject key load', (redis) =>
      redis.hmget(this.key, ...names),
    );
    names.forEach((name, i) => {
      const value = values[i];
      if (typeof value === 'string') out.set(name, JSON.parse(value) as Envelope);
    });
    return out;
  }

  async create(keys: ReadonlyMap<string, Envelope>): Promise<Map<string, Envelope>> {
    const names = [...keys.keys()];
    const out = new Map<string, Envelope>();
    if (names.length === 0) return out;
    const replies = await this.#connection.run('a subject key write', (redis) => {
      const tx = redis.multi();
      for (const [name, key] of keys) tx.hsetnx(this.key, name, JSON.stringify(key));
      tx.hmget(this.key, ...names);
      return tx.exec();
    });
    const last = replies?.[replies.length - 1];
    if (last === undefined || last[0] !== null || !Array.isArray(last[1])) {
      throw new Error('RedisSubjectKeyStore: the subject key write was not applied');
    }
    const values = last[1] as (string | null)[];
    names.forEach((name, i) => {
      const value = values[i];
      if (typeof value === 'string') out.set(name, JSON.parse(value) as Envelope);
    });
    return out;
  }

  async replace(keys: ReadonlyMap<string, Envelope>): Promise<void> {
    // HSET of a field another process destroyed meanwhile would bring it back: only existing ones.
    const present = await this.load([...keys.keys()]);
    const pairs: string[] = [];
    for (const [name, key] of keys) if (present.has(name)) pairs.push(name, JSON.stringify(key));
    if (pairs.length === 0) return;
    await this.#connection.run('a subject key rewrap', (redis) => redis.hset(this.key, ...pairs));
  }

  async destroy(name: string): Promise<boolean> {
    const removed = await this.#connection.run('a subject key erase', (redis) =>
      redis.hdel(this.key, name),
    );
    return removed === 1;
  }

  async *names(): AsyncIterable<string> {
    let cursor = '0';
    do {
      const [next, entries] = await this.#connection.run('a subject key scan', (redis) =>
        redis.hscan(this.key, cursor, 'COUNT', 500),
      );
      for (let i = 0; i < entries.length; i += 2) yield entries[i]!;
      cursor = next;
    } while (cursor !== '0');
  }

  /** Closes the client the store opened; a client passed in stays open. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}
