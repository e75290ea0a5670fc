import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { ConfigError, TokenwardenError } from '../errors';

/** A 256-bit key that encrypts secrets at rest; its id is derived from it. */
export interface MasterKey {
  /** Derived id written into every envelope it seals (never the key). */
  readonly id: string;
  readonly key: Buffer;
}

/** AES-256-GCM ciphertext with the id of the master key that sealed it. Plain JSON. */
export interface Envelope {
  /** Format version. */
  readonly v: 1;
  readonly alg: 'A256GCM';
  /** Id of the master key ({@link MasterKey.id}). */
  readonly mk: string;
  /** 96-bit nonce, base64url. */
  readonly iv: string;
  /** 128-bit authentication tag, base64url. */
  readonly tag: string;
  /** Ciphertext, base64url. */
  readonly ct: string;
}

/**
 * A stored secret cannot be opened: not an envelope, sealed with a master key that is not
 * configured, or bytes that do not authenticate (tampered, or moved from another record). Never
 * silent. Code `secret_unreadable`.
 */
export class EnvelopeError extends TokenwardenError {
  constructor(message: string) {
    super('secret_unreadable', message);
  }
}

/**
 * A master key from 32 bytes, or from text holding them as base64/base64url (43–44 characters)
 * or hex (64 characters). Anything else is a {@link ConfigError}: a master key is never a
 * passphrase.
 */
export function masterKey(material: Buffer | string, what = 'master key'): MasterKey {
  // 32 bytes are the key itself; other input (a file or variable read as bytes) is its text form.
  const bytes =
    Buffer.isBuffer(material) && material.length === 32
      ? material
      : decodeKeyText(material.toString('utf8').trim());
  if (bytes === undefined || bytes.length !== 32) {
    throw new ConfigError(
      `${what} must be 32 random bytes (base64url or hex). Generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`,
    );
  }
  const id =
    'mk-' +
    createHmac('sha256', bytes).update('tokenwarden master key id').digest('hex').slice(0, 16);
  return { id, key: Buffer.from(bytes) };
}

function decodeKeyText(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9_\-+/]{43}=?$/.test(text)) return Buffer.from(text, 'base64url');
  return undefined;
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key`. `context` (for instance the signing key's
 * `kid`) is bound as additional data, so an envelope moved to another record fails to open.
 */
export function sealSecret(plaintext: Buffer, key: MasterKey, context: string): Envelope {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(`tokenwarden:${key.id}:${context}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    v: 1,
    alg: 'A256GCM',
    mk: key.id,
    iv: iv.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
    ct: ct.toString('base64url'),
  };
}

/**
 * Decrypts an envelope with whichever of `keys` sealed it. Throws {@link EnvelopeError} when no
 * key has its id or the bytes do not authenticate (wrong key, tampering, wrong `context`).
 */
export function openSecret(
  envelope: Envelope,
  keys: readonly MasterKey[],
  context: string,
): Buffer {
  if (
    envelope === null ||
    typeof envelope !== 'object' ||
    envelope.v !== 1 ||
    envelope.alg !== 'A256GCM'
  ) {
    throw new EnvelopeError('stored secret is not a version 1 A256GCM envelope');
  }
  const key = keys.find((k) => k.id === envelope.mk);
  if (key === undefined) {
    throw new EnvelopeError(
      `stored secret was sealed with master key ${envelope.mk}, which is not configured; pass that key as a previous master key, or check TOKENWARDEN_MASTER_KEY`,
    );
  }
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      key.key,
      Buffer.from(envelope.iv, 'base64url'),
    );
    decipher.setAAD(Buffer.from(`tokenwarden:${key.id}:${context}`, 'utf8'));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(envelope.ct, 'base64url')),
      decipher.final(),
    ]);
  } catch {
    throw new EnvelopeError(
      `stored secret does not authenticate under master key ${key.id}: it was altered or belongs to another record`,
    );
  }
}
