import { createHash } from 'node:crypto';
import { ConfigError } from '@tokenwarden/core';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';

/** Hash tag appended to a prefix that has none, so every key lands in one cluster slot. */
export const DEFAULT_HASH_TAG = '{tw}';

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

/**
 * Builds every key a {@link RedisStore} uses:
 *
 * ```
 * <base>rev:<id>              revoked token id (hash: at, until), expires with the token
 * <base>nbf:sub:<id>          not-before mark of a subject (hash: at, until), expires at keepUntil
 * <base>nbf:cli:<id>          not-before mark of a client
 * <base>nbf:all               not-before mark of the whole deployment
 * <base>consent:<sub>:<pur>   consent record (hash: granted, expires, withdrawn, source), no TTL
 * <base>epoch                 epoch of the state (hash: id, origin, since; or lost, lostAt), no TTL
 * ```
 *
 * `<base>` is the prefix followed by the `{tw}` hash tag (`tokenwarden:{tw}:`), or the prefix
 * alone when it carries its own `{tag}`. Ids are {@link encodeId}-encoded; when a key would exceed
 * `maxKeyLength` bytes, the encoded id is replaced by `#` and its SHA-256 in hex. `#` never occurs
 * in an encoded id, so a hashed key cannot equal a plain one.
 */
export class KeySpace {
  /** Everything before the kind: prefix plus hash tag. */
  readonly base: string;
  private readonly maxKeyLength: number;

  constructor(prefix: string = DEFAULT_PREFIX, maxKeyLength: number = DEFAULT_MAX_KEY_LENGTH) {
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
    this.base = hasBraces ? prefix : `${prefix}${DEFAULT_HASH_TAG}:`;

    // The longest hashed key: base + 'consent:' + '#' + 64 hex digits.
    const longestHashed = Buffer.byteLength(this.base) + 'consent:'.length + 65;
    if (!Number.isSafeInteger(maxKeyLength) || maxKeyLength < longestHashed) {
      throw new ConfigError(
        `RedisStore option 'maxKeyLength' must be an integer of at least ${longestHashed} with this prefix`,
      );
    }
    this.maxKeyLength = maxKeyLength;
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

  /** Key of the not-before mark of one subject. */
  subjectMark(subject: string): string {
    return this.key('nbf:sub:', subject);
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

  /** Key of one (subject, purpose) consent record; `:` cannot occur inside an encoded id. */
  consent(subject: string, purpose: string): string {
    return this.build('consent:', `${encodeId(subject)}:${encodeId(purpose)}`);
  }

  /** A glob matching every key of this key space (for SCAN); glob characters are escaped. */
  pattern(): string {
    return `${this.base.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }

  private build(kind: string, encoded: string): string {
    const key = `${this.base}${kind}${encoded}`;
    if (Buffer.byteLength(key) <= this.maxKeyLength) return key;
    return `${this.base}${kind}#${createHash('sha256').update(encoded).digest('hex')}`;
  }
}
