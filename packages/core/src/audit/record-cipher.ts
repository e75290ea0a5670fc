import { ConfigError } from '../errors';
import { openSecret, sealSecret, type Envelope, type MasterKey } from '../internal/envelope';
import { SubjectKeyError } from './subject-keys';

/** Prefix of a value sealed by {@link RecordCipher} (format 1). */
const PREFIX = 'rc1.';

/**
 * Encrypts a store's records at rest (a consent record's source, notice and evidence, as the
 * opaque doc a store keeps) with the master key, synchronously, so a store can seal in its write
 * and open in its reply parser without another round trip. A sealed value is
 * `rc1.<master key id>.<iv>.<tag>.<ciphertext>` (AES-256-GCM, base64url); the caller's `context`
 * (the record's key, e.g. `consent:<subject>:<purpose>`) is bound as additional data, so a value
 * copied to another record does not open. The master key id lets the key rotate: values sealed
 * with a previous master key still open while it is configured, and {@link RecordCipher.rewrap}
 * moves one to the current key.
 *
 * Values that are not sealed (written before encryption was turned on) are not opened by
 * {@link RecordCipher.open}: check {@link RecordCipher.isSealed} first and read them as they are.
 *
 * @example
 * const cipher = new RecordCipher(masterKey(readFileSync('/run/secrets/master.key')));
 * const stored = cipher.seal(JSON.stringify(doc), `consent:${subject}:${purpose}`);
 */
export class RecordCipher {
  private readonly masters: readonly MasterKey[];

  constructor(
    private readonly masterKey: MasterKey,
    previousMasterKeys: readonly MasterKey[] = [],
  ) {
    if (masterKey === undefined || !Buffer.isBuffer(masterKey.key)) {
      throw new ConfigError('RecordCipher needs a master key: read it with masterKey(...)');
    }
    this.masters = [masterKey, ...previousMasterKeys];
  }

  /** Whether a stored value was sealed by a {@link RecordCipher}. */
  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  /** `plaintext` sealed under the current master key, bound to `context`. */
  seal(plaintext: string, context: string): string {
    const e = sealSecret(Buffer.from(plaintext, 'utf8'), this.masterKey, `record:${context}`);
    return `${PREFIX}${e.mk}.${e.iv}.${e.tag}.${e.ct}`;
  }

  /**
   * The plaintext of a sealed value. Throws, with code `secret_unreadable`, a
   * {@link SubjectKeyError} when it is not a sealed value, and an `EnvelopeError` when it was
   * sealed with a master key that is not configured (the message names it) or does not
   * authenticate (altered, or moved from another record).
   */
  open(value: string, context: string): string {
    return openSecret(this.envelope(value), this.masters, `record:${context}`).toString('utf8');
  }

  /** The value sealed again under the current master key; `undefined` when it already is. */
  rewrap(value: string, context: string): string | undefined {
    if (this.envelope(value).mk === this.masterKey.id) return undefined;
    return this.seal(this.open(value, context), context);
  }

  private envelope(value: string): Envelope {
    const parts = RecordCipher.isSealed(value) ? value.slice(PREFIX.length).split('.') : [];
    if (parts.length !== 4) throw new SubjectKeyError('not a record sealed with a master key');
    const [mk, iv, tag, ct] = parts as [string, string, string, string];
    return { v: 1, alg: 'A256GCM', mk, iv, tag, ct };
  }
}
