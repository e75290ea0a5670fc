import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ConfigError, masterKey } from '@tokenwarden/core';
import { encodeId, type SubjectNaming } from './keys';

/**
 * First character of a hashed subject name. `encodeId` never emits `=` (it becomes `%3D`), and a
 * key too long for `maxKeyLength` carries `#`, so a hashed name can never equal an encoded id.
 */
export const HASHED_NAME_MARK = '=';

/** Bytes of the HMAC kept in a hashed name: 128 bits, 22 base64url characters. */
const NAME_BYTES = 16;

/** What the naming record holds for key names built from the data subject id in clear. */
export const CLEAR_NAMES = 'clear';

/**
 * How a `RedisStore` names the keys of a data subject: with the id itself ({@link encodeId}), or,
 * with a `subjectNameKey`, with the HMAC-SHA-256 of the encoded id under that key (base64url, 128
 * bits, after {@link HASHED_NAME_MARK}), so no key name holds the id in clear.
 *
 * @internal
 */
export class SubjectNames implements SubjectNaming {
  /**
   * What the store records as its naming and checks against Redis: `'clear'`, or
   * `'hmac-sha256:<id>'`, `<id>` a 64-bit HMAC of a fixed text under the key (names the key
   * without revealing it, so a store with another key is refused too).
   */
  readonly tag: string;
  readonly #key: KeyObject | undefined;

  constructor(key?: Buffer) {
    this.#key = key === undefined ? undefined : createSecretKey(key);
    this.tag =
      key === undefined
        ? CLEAR_NAMES
        : `hmac-sha256:${createHmac('sha256', key).update('tokenwarden subject name key id').digest('hex').slice(0, 16)}`;
  }

  /** Whether names are keyed hashes. */
  get hashed(): boolean {
    return this.#key !== undefined;
  }

  /** The name of `subject` in a key: its encoded id, or `=` and its keyed hash. */
  name(subject: string): string {
    const encoded = encodeId(subject);
    if (this.#key === undefined) return encoded;
    const mac = createHmac('sha256', this.#key).update(encoded, 'latin1').digest();
    return HASHED_NAME_MARK + mac.subarray(0, NAME_BYTES).toString('base64url');
  }
}

/**
 * Checks the `subjectNameKey` option: 32 bytes, as a Buffer.
 * @throws ConfigError naming the option, never its value.
 * @internal
 */
export function checkedSubjectNameKey(key: unknown): Buffer | undefined {
  if (key === undefined) return undefined;
  if (!Buffer.isBuffer(key) || key.length !== 32) {
    throw new ConfigError(
      `RedisStore option 'subjectNameKey' must be a Buffer of 32 random bytes (read one with subjectNameKey(text))`,
    );
  }
  if (key.every((byte) => byte === key[0])) {
    throw new ConfigError(
      `RedisStore option 'subjectNameKey' must be 32 random bytes, not one byte repeated`,
    );
  }
  return key;
}

/**
 * Reads a `subjectNameKey` for `RedisStore` from what a file or an environment variable holds:
 * 32 bytes as they are, or their text form (64 hex digits or 43 base64url characters, surrounding
 * white space ignored). Generate one with
 * `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`.
 *
 * @example
 * new RedisStore({ url, subjectNameKey: subjectNameKey(process.env.TOKENWARDEN_SUBJECT_NAME_KEY!) });
 * @throws ConfigError when it is not 32 bytes; the message never holds the material.
 */
export function subjectNameKey(material: Buffer | string): Buffer {
  if (material === undefined || material === null) {
    throw new ConfigError('subjectNameKey must be 32 random bytes (base64url or hex)');
  }
  return checkedSubjectNameKey(masterKey(material, 'subjectNameKey').key)!;
}
