import type { Envelope, MasterKey } from '../internal/envelope';
import type { SubjectKeyOptions } from './seal';
import {
  decryptIdentifier,
  encryptIdentifier,
  loadPseudonymKey,
  newWrappedKey,
  pseudonymOf,
  SubjectKeyError,
  unwrapKey,
} from './subject-keys';

/** Prefix of a value sealed by {@link SubjectCipher}: format 1, then the data subject's pseudonym. */
const PREFIX = 'sk1.';

/**
 * Encrypts records kept about one data subject (a consent record's source, notice and evidence)
 * under that person's own key, the key the audit trail seals their identifier with. Erasing the
 * person (`tokenwarden erase`) destroys the key, and with it every copy of such a record, in
 * backups and snapshots too. A sealed value is `sk1.<pseudonym>.<base64url(iv ‖ ct ‖ tag)>`; the
 * pseudonym says which key opens it, and is bound as additional data with a caller's `context`
 * (e.g. `consent:<purpose>`), so a value moved to another record does not open.
 *
 * A store calls {@link SubjectCipher.seal} before it writes and {@link SubjectCipher.open} after it
 * reads; the key of a new data subject is stored durably before `seal` resolves.
 *
 * @example
 * const cipher = new SubjectCipher({ store: subjectKeyStore, masterKey: master });
 * const doc = await cipher.seal(subject, JSON.stringify({ source, notice, evidence }), 'consent');
 */
export class SubjectCipher {
  private pseudonymKey: Buffer | undefined;
  private readonly keys = new Map<string, Buffer>();
  private readonly masters: readonly MasterKey[];

  constructor(private readonly options: SubjectKeyOptions) {
    this.masters = [options.masterKey, ...(options.previousMasterKeys ?? [])];
  }

  /** Whether a stored value was sealed by a {@link SubjectCipher}. */
  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  /** `plaintext` sealed under the data subject's key (created and stored when new). */
  async seal(subject: string, plaintext: string, context = ''): Promise<string> {
    const pseudonym = await this.pseudonym(subject);
    const key = await this.key(pseudonym, true);
    return `${PREFIX}${pseudonym}.${encryptIdentifier(key!, `${pseudonym}|${context}`, plaintext)}`;
  }

  /**
   * The plaintext of a sealed value; `undefined` when the data subject was erased (their key is
   * gone). Throws {@link SubjectKeyError} when the value does not authenticate (altered, moved to
   * another record or context) or the master key is wrong.
   */
  async open(value: string, context = ''): Promise<string | undefined> {
    if (!value.startsWith(PREFIX)) throw new SubjectKeyError('not a value sealed per data subject');
    const dot = value.indexOf('.', PREFIX.length);
    if (dot < 0) throw new SubjectKeyError('not a value sealed per data subject');
    const pseudonym = value.slice(PREFIX.length, dot);
    const key = await this.key(pseudonym, false);
    if (key === undefined) return undefined;
    const plain = decryptIdentifier(key, `${pseudonym}|${context}`, value.slice(dot + 1));
    if (plain === undefined) {
      throw new SubjectKeyError(
        'a value sealed per data subject does not authenticate: it was altered or belongs to another record',
      );
    }
    return plain;
  }

  /** Forgets cached keys (after an erasure in this process). */
  forget(): void {
    this.keys.clear();
  }

  private async pseudonym(subject: string): Promise<string> {
    this.pseudonymKey ??= await loadPseudonymKey(this.options.store, this.masters);
    return pseudonymOf(this.pseudonymKey!, subject);
  }

  private async key(pseudonym: string, create: boolean): Promise<Buffer | undefined> {
    const cached = this.keys.get(pseudonym);
    if (cached !== undefined) return cached;
    let wrapped: Envelope | undefined = (await this.options.store.load([pseudonym])).get(pseudonym);
    if (wrapped === undefined) {
      if (!create) return undefined;
      const made = newWrappedKey(pseudonym, this.options.masterKey);
      wrapped = (await this.options.store.create(new Map([[pseudonym, made.wrapped]]))).get(
        pseudonym,
      );
      if (wrapped === undefined) throw new SubjectKeyError('the data subject key was not stored');
    }
    const key = unwrapKey(pseudonym, wrapped, this.masters);
    if (this.keys.size >= (this.options.cacheSize ?? 10_000)) this.keys.clear();
    this.keys.set(pseudonym, key);
    return key;
  }
}
