import { createHash } from 'node:crypto';
import { ConfigError } from '@tokenwarden/core';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { globEscape } from './scan-keys';

/** Hash tag appended to a prefix that has none, so every key lands in one cluster slot. */
export const DEFAULT_HASH_TAG = '{tw}';

/**
 * Hash-tag buckets of the `'sharded'` layout. A data subject's keys live in the bucket of its
 * subject id; the buckets' tags are chosen so that their slots are evenly spaced over the 16384
 * slots of Redis Cluster, hence spread over every master.
 */
export const SHARD_BUCKETS = 64;

/** Cluster slots (Redis Cluster always has 16384). */
const SLOTS = 16384;

/** Longest prefix accepted, in bytes. */
const MAX_PREFIX_LENGTH = 128;

/** A prefix with exactly one non-empty `{tag}` and no other brace. */
const TAGGED_PREFIX = /^[^{}]*\{[^{}]+\}[^{}]*$/;

/** Characters kept as they are by {@link encodeId}; every other UTF-16 code unit is escaped. */
const PLAIN = /^[A-Za-z0-9._~-]$/;

/**
 * Encodes an untrusted id so that it cannot forge another key: `[A-Za-z0-9._~-]` stay as they
 * are; every other UTF-16 code unit becomes `%XX` (below 0x100) or `%uXXXX`. The output holds no
 * `:`, `{`, `}`, `#`, glob characters or control characters, and the mapping is injective for
 * every JavaScript string, lone surrogates included (UTF-8 would turn those into U+FFFD).
 */
export function encodeId(id: string): string {
  let out = '';
  for (let i = 0; i < id.length; i += 1) {
    const ch = id.charAt(i);
    if (PLAIN.test(ch)) {
      out += ch;
      continue;
    }
    const unit = id.charCodeAt(i);
    out +=
      unit < 0x100
        ? `%${unit.toString(16).toUpperCase().padStart(2, '0')}`
        : `%u${unit.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return out;
}

/** CRC16 (XMODEM) of `bytes`, as Redis Cluster computes key slots. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** The Redis Cluster slot of `key`: of its hash tag when it has a non-empty one. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % SLOTS;
}

/** How a key space names a data subject in its keys (see `SubjectNames`). */
export interface SubjectNaming {
  /** Whether names are keyed hashes rather than the encoded ids. */
  readonly hashed: boolean;
  /** The name of `subject` in a key: never holds `:`, `{`, `}`, `#` or glob characters. */
  name(subject: string): string;
}

/** The names of the ids themselves, encoded. */
const CLEAR_NAMING: SubjectNaming = { hashed: false, name: encodeId };

/**
 * The keys of one data subject, its name computed once (with a `subjectNameKey`, one HMAC).
 */
export interface SubjectKeys {
  /** The key space (bucket) holding them. */
  readonly space: KeySpace;
  /** Its not-before mark. */
  readonly mark: string;
  /** Its consent index. */
  readonly index: string;
  /** Its consent record of `purpose`. */
  consent(purpose: string): string;
  /** Its keyed-hash name with a `subjectNameKey` (what its sealed consent docs are bound to). */
  readonly hashedName: string | undefined;
}

/** The hash tag of bucket `n`: `tw.<n>.<k>`, the first `k` whose slot lies in the n-th range. */
function bucketTag(n: number): string {
  const from = Math.floor((n * SLOTS) / SHARD_BUCKETS);
  const to = Math.floor(((n + 1) * SLOTS) / SHARD_BUCKETS);
  for (let k = 0; ; k += 1) {
    const slot = keySlot(`{tw.${n}.${k}}`);
    if (slot >= from && slot < to) return `{tw.${n}.${k}}`;
  }
}

/**
 * Builds every key a {@link RedisStore} uses:
 *
 * ```
 * <base>rev:<id>              revoked token id (hash: at, until), expires with the token
 * <base>nbf:sub:<sub>         not-before mark of a subject (hash: at, until), expires at keepUntil
 * <base>nbf:cli:<id>          not-before mark of a client
 * <base>nbf:all               not-before mark of the whole deployment
 * <base>consent:<sub>:<pur>   consent record (hash: granted, expires, withdrawn, until, purpose,
 *                             gdoc, wdoc), expires at 'until' once withdrawn
 * <base>cidx:<sub>            the keys of a subject's consent records (set), expires with the last
 * <base>epoch                 epoch of the state (hash: id, origin, since; or lost, lostAt), no TTL
 * <base>naming                how subjects are named in keys (hash: subjects), no TTL
 * ```
 *
 * `<base>` is the prefix followed by the `{tw}` hash tag (`tokenwarden:{tw}:`), or the prefix
 * alone when it carries its own `{tag}`. Ids are {@link encodeId}-encoded. `<sub>`, a data
 * subject, is its {@link SubjectNaming} name: the encoded id, or with a `subjectNameKey` `=` and
 * its keyed hash, so the id never appears in a key name. When a key would exceed
 * `maxKeyLength` bytes, the encoded id is replaced by `#` and its SHA-256 in hex. `#` never occurs
 * in an encoded id, so a hashed key cannot equal a plain one.
 */
export class KeySpace {
  /** Everything before the kind: prefix plus hash tag. */
  readonly base: string;
  /**
   * The `'sharded'` layout's buckets, each a key space of its own hash tag (`<prefix>{tw.<n>.<k>}:`);
   * `undefined` in the `'single'` layout.
   */
  readonly buckets: readonly KeySpace[] | undefined;
  private readonly maxKeyLength: number;
  /** How data subjects are named in keys. */
  readonly naming: SubjectNaming;

  constructor(
    prefix: string = DEFAULT_PREFIX,
    maxKeyLength: number = DEFAULT_MAX_KEY_LENGTH,
    layout: 'single' | 'sharded' | { readonly base: string } = 'single',
    naming: SubjectNaming = CLEAR_NAMING,
  ) {
    this.naming = naming;
    if (typeof layout === 'object') {
      // A bucket of a sharded key space, checked by its parent.
      this.base = layout.base;
      this.maxKeyLength = maxKeyLength;
      this.buckets = undefined;
      return;
    }
    if (typeof prefix !== 'string' || Buffer.byteLength(prefix) > MAX_PREFIX_LENGTH) {
      throw new ConfigError(
        `RedisStore option 'prefix' must be a string of at most ${MAX_PREFIX_LENGTH} bytes`,
      );
    }
    if ([...prefix].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
      throw new ConfigError(`RedisStore option 'prefix' must not contain control characters`);
    }
    const hasBraces = prefix.includes('{') || prefix.includes('}');
    if (hasBraces && !TAGGED_PREFIX.test(prefix)) {
      throw new ConfigError(
        `RedisStore option 'prefix' may contain one non-empty hash tag like 'app:{tw}:' and no other '{' or '}'`,
      );
    }
    if (layout === 'sharded' && hasBraces) {
      throw new ConfigError(
        `RedisStore option 'prefix' must not contain a hash tag with layout 'sharded': each data subject's keys get the tag of its bucket`,
      );
    }
    this.base = hasBraces ? prefix : `${prefix}${DEFAULT_HASH_TAG}:`;
    const bases =
      layout === 'sharded'
        ? Array.from({ length: SHARD_BUCKETS }, (_, n) => `${prefix}${bucketTag(n)}:`)
        : [];
    const longestBase = Math.max(
      Buffer.byteLength(this.base),
      ...bases.map((b) => Buffer.byteLength(b)),
    );

    // The longest hashed key: base + 'consent:' + '#' + 64 hex digits.
    const longestHashed = longestBase + 'consent:'.length + 65;
    if (!Number.isSafeInteger(maxKeyLength) || maxKeyLength < longestHashed) {
      throw new ConfigError(
        `RedisStore option 'maxKeyLength' must be an integer of at least ${longestHashed} with this prefix`,
      );
    }
    this.maxKeyLength = maxKeyLength;
    this.buckets =
      layout === 'sharded'
        ? bases.map((base) => new KeySpace(prefix, maxKeyLength, { base }, naming))
        : undefined;
  }

  /**
   * The key space holding the keys of data subject `subject`: its bucket in the `'sharded'`
   * layout (CRC16 of its name, modulo the bucket count), else this one.
   */
  of(subject: string): KeySpace {
    return this.ofName(this.naming.name(subject));
  }

  /**
   * Every key of data subject `subject`, its name computed once: the request path's one HMAC per
   * subject with a `subjectNameKey`.
   */
  subject(subject: string): SubjectKeys {
    const name = this.naming.name(subject);
    const space = this.ofName(name);
    return {
      space,
      mark: space.build('nbf:sub:', name),
      index: space.build('cidx:', name),
      consent: (purpose) => space.build('consent:', `${name}:${encodeId(purpose)}`),
      hashedName: this.naming.hashed ? name : undefined,
    };
  }

  /** The bucket of a subject named `name` (see {@link KeySpace.of}). */
  private ofName(name: string): KeySpace {
    const buckets = this.buckets;
    if (buckets === undefined) return this;
    return buckets[crc16(Buffer.from(name, 'latin1')) % buckets.length]!;
  }

  /** Every key space a change that is not of one data subject is written to. */
  all(): readonly KeySpace[] {
    return this.buckets ?? [this];
  }

  /**
   * The key `<base><kind><encoded id>`; when longer than `maxKeyLength` bytes, the encoded id is
   * replaced by `#` and its SHA-256. Every key of an untrusted id is built here.
   */
  key(kind: string, id: string): string {
    return this.build(kind, encodeId(id));
  }

  /** Key of a revoked token id. */
  revoked(tokenId: string): string {
    return this.key('rev:', tokenId);
  }

  /** Key of the not-before mark of one subject (named by {@link KeySpace.naming}). */
  subjectMark(subject: string): string {
    return this.build('nbf:sub:', this.naming.name(subject));
  }

  /** Key of the consent index of one subject (named by {@link KeySpace.naming}). */
  consentIndex(subject: string): string {
    return this.build('cidx:', this.naming.name(subject));
  }

  /** Key of the not-before mark of one client. */
  clientMark(client: string): string {
    return this.key('nbf:cli:', client);
  }

  /** Key of the deployment-wide not-before mark. */
  allMark(): string {
    return `${this.base}nbf:all`;
  }

  /** Key of the epoch of the state (see `RedisStore`). */
  epoch(): string {
    return `${this.base}epoch`;
  }

  /** Key of the record of how the keys of data subjects are named (see `SubjectNames`). */
  namingRecord(): string {
    return `${this.base}naming`;
  }

  /** Key of one (subject, purpose) consent record; `:` cannot occur inside a name. */
  consent(subject: string, purpose: string): string {
    return this.build('consent:', `${this.naming.name(subject)}:${encodeId(purpose)}`);
  }

  /** A glob matching every key of this key space (for SCAN); glob characters are escaped. */
  pattern(): string {
    return `${globEscape(this.base)}*`;
  }

  private build(kind: string, encoded: string): string {
    const key = `${this.base}${kind}${encoded}`;
    if (Buffer.byteLength(key) <= this.maxKeyLength) return key;
    return `${this.base}${kind}#${createHash('sha256').update(encoded).digest('hex')}`;
  }
}
