import { RecordCipher } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';
import { globEscape as escaped, scanKeys as scan } from './scan-keys';
import { consentDocContext } from './store-consent';
import { decodeId } from './store-migrate';
import { HASHED_NAME_MARK } from './subject-names';

/** Options of {@link rewrapConsentRecords}. */
export interface ConsentRewrapOptions {
  /** The Redis (or Cluster) holding the records; used as is, never closed. */
  readonly client: Redis | Cluster;
  /**
   * The record cipher of the nodes after the rotation: the current master key, with the previous
   * ones the records may still be sealed with.
   */
  readonly cipher: RecordCipher;
  /** Prefix of the `RedisStore` (either layout). Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** `maxKeyLength` of the store. Default: 256. */
  readonly maxKeyLength?: number;
  /**
   * Seal the records written in clear (before the store had a `recordCipher`) too. Only once
   * every node has the record cipher: a node without one refuses a sealed record.
   * Default: `false` (they are counted in `plain` and left as they are).
   */
  readonly sealPlain?: boolean;
}

/** What {@link rewrapConsentRecords} did, record by record. */
export interface ConsentRewrap {
  /** Records whose docs are now sealed under the current master key (re-sealed or sealed). */
  readonly resealed: number;
  /** Records already sealed under the current master key, or holding no doc: left alone. */
  readonly unchanged: number;
  /** Records in clear left as they are (without `sealPlain`). */
  readonly plain: number;
  /**
   * Records whose data subject cannot be told (the key holds a hash of an id longer than
   * `maxKeyLength` allows, and no index names it): left as they are.
   */
  readonly unreadable: number;
}

/** The fields of a consent hash that hold a doc (see `store-consent.ts`). */
const DOC_FIELDS = ['gdoc', 'wdoc'] as const;

/**
 * Replaces one field only when it still holds what was read: a grant or withdrawal written in
 * between wins (it is sealed by its node already). HSET keeps the key's TTL.
 */
const SWAP = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;

/**
 * The key spaces a store of `prefix` may have written (the `'single'` one and each bucket of
 * `'sharded'`), and one SCAN pattern matching the keys of `kind` in all of them.
 */
function spacesOf(prefix: string, maxKeyLength: number, kind: string) {
  const single = new KeySpace(prefix, maxKeyLength, 'single');
  // A prefix with a hash tag of its own has no 'sharded' layout.
  if (prefix.includes('{')) {
    return { bases: new Set([single.base]), pattern: `${escaped(single.base)}${kind}*` };
  }
  const buckets = new KeySpace(prefix, maxKeyLength, 'sharded').buckets ?? [];
  return {
    bases: new Set([single.base, ...buckets.map((bucket) => bucket.base)]),
    // '{tw}:' and every '{tw.<n>.<k>}:' in one pass; the base of each key is checked after.
    pattern: `${escaped(prefix)}{tw*}:${kind}*`,
  };
}

/** The base (`<prefix>{tag}:`) of `key` when it is one of `bases`, followed by `kind`. */
function baseOf(key: string, prefix: string, bases: ReadonlySet<string>, kind: string) {
  const close = key.indexOf('}', prefix.length);
  const base = close < 0 ? prefix : key.slice(0, close + 2);
  return bases.has(base) && key.startsWith(`${base}${kind}`) ? base : undefined;
}

/**
 * Seals every consent record of a `RedisStore` again under the current master key of `cipher`,
 * after the master key rotated: the notice, source and evidence docs sealed with a previous master
 * key are opened (it must be among the cipher's previous keys) and written back sealed with the
 * current one, so the nodes can then drop the previous key. SCANs the consent keys of the prefix
 * in both layouts (`'single'`, and every bucket of `'sharded'`). A record sealed under the current
 * key already is left alone; one in clear is sealed only with `sealPlain`. Each field is swapped
 * only while it still holds what was read, so a concurrent grant or withdrawal is never undone;
 * the content of a record does not change, so no node's cache is announced.
 *
 * Idempotent: a second run finds every record under the current key.
 *
 * @throws EnvelopeError when a record is sealed with a master key the cipher does not hold, or
 *   does not authenticate (nothing is written for it; records before it are re-sealed already).
 */
export async function rewrapConsentRecords(options: ConsentRewrapOptions): Promise<ConsentRewrap> {
  const { client, cipher } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const counts = { resealed: 0, unchanged: 0, plain: 0, unreadable: 0 };
  const { bases, pattern } = spacesOf(prefix, maxKeyLength, 'consent:');
  let subjects: Map<string, string> | undefined;

  for await (const key of scan(client, pattern)) {
    const base = baseOf(key, prefix, bases, 'consent:');
    if (base === undefined) continue;
    const hash = await client.hgetall(key);
    const docs = DOC_FIELDS.filter((field) => (hash[field] ?? '') !== '');
    if (docs.length === 0) {
      counts.unchanged += 1;
      continue;
    }
    const [encodedSubject, encodedPurpose] = key.slice(`${base}consent:`.length).split(':');
    if (encodedSubject?.startsWith(HASHED_NAME_MARK) === true) {
      // Hashed subject names: the docs are bound to the name, not to the subject.
      const purpose =
        hash['purpose'] ?? (encodedPurpose === undefined ? undefined : decodeId(encodedPurpose));
      if (purpose === undefined) {
        counts.unreadable += 1;
        continue;
      }
      try {
        const context = consentDocContext('', purpose, encodedSubject);
        counts[await rewrapOne(key, hash, docs, context)] += 1;
      } catch {
        // Sealed before the names were hashed, by a migration without the master key: bound to
        // a subject this key does not name. Opens with the old key until re-granted.
        counts.unreadable += 1;
      }
      continue;
    }
    let subject = encodedSubject === undefined ? undefined : decodeId(encodedSubject);
    if (subject === undefined) {
      subjects ??= await indexedSubjects(client, prefix, maxKeyLength);
      subject = subjects.get(key);
    }
    const purpose =
      hash['purpose'] ?? (encodedPurpose === undefined ? undefined : decodeId(encodedPurpose));
    if (subject === undefined || purpose === undefined) {
      counts.unreadable += 1;
      continue;
    }
    counts[await rewrapOne(key, hash, docs, consentDocContext(subject, purpose, undefined))] += 1;
  }
  return counts;

  async function rewrapOne(
    key: string,
    hash: Readonly<Record<string, string>>,
    docs: readonly string[],
    context: string,
  ): Promise<'resealed' | 'unchanged' | 'plain'> {
    const writes: [string, string, string][] = [];
    let plain = false;
    for (const field of docs) {
      const stored = hash[field]!;
      if (!RecordCipher.isSealed(stored)) {
        plain = true;
        if (options.sealPlain === true) writes.push([field, stored, cipher.seal(stored, context)]);
        continue;
      }
      const moved = cipher.rewrap(stored, context);
      if (moved !== undefined) writes.push([field, stored, moved]);
    }
    for (const [field, before, after] of writes) {
      await client.eval(SWAP, 1, key, field, before, after);
    }
    if (writes.length > 0) return 'resealed';
    return plain ? 'plain' : 'unchanged';
  }
}

/**
 * The data subject of each consent key whose id is stored hashed, from the subjects' consent
 * indexes (`cidx:<subject>`, a set of their record keys) whose own key is not hashed.
 */
async function indexedSubjects(
  client: Redis | Cluster,
  prefix: string,
  maxKeyLength: number,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const { bases, pattern } = spacesOf(prefix, maxKeyLength, 'cidx:');
  for await (const index of scan(client, pattern)) {
    const base = baseOf(index, prefix, bases, 'cidx:');
    if (base === undefined) continue;
    const subject = decodeId(index.slice(`${base}cidx:`.length));
    if (subject === undefined) continue;
    for (const key of await client.smembers(index)) out.set(key, subject);
  }
  return out;
}
