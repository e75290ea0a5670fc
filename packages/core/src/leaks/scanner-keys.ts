import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { isSafeId } from '../internal/text';

/** Longest key identifier accepted from a request header (GitHub's are 64 hex digits). */
const MAX_KEY_ID_LENGTH = 256;
/** Longest signature header accepted: a DER ECDSA P-256 signature is at most 72 bytes. */
const MAX_SIGNATURE_LENGTH = 128;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * A secret scanner's public keys, by key identifier: ECDSA on P-256 (`ECDSA-NIST-P256V1-SHA256`),
 * configured, never fetched while a request waits. Several keys may be live at once, so the
 * scanner can rotate. Checked when built: a key that is not a P-256 public key is a ConfigError
 * naming its identifier.
 */
export class ScannerKeys {
  private readonly keys = new Map<string, KeyObject>();

  constructor(publicKeys: Readonly<Record<string, string | KeyObject>>, where: string) {
    if (publicKeys === null || typeof publicKeys !== 'object' || Array.isArray(publicKeys)) {
      throw new ConfigError(
        `${where}: publicKeys must map each key identifier to a PEM public key (ECDSA P-256)`,
      );
    }
    for (const [id, value] of Object.entries(publicKeys)) {
      if (!isSafeId(id, MAX_KEY_ID_LENGTH)) {
        throw new ConfigError(`${where}: publicKeys has an empty or overlong key identifier`);
      }
      this.keys.set(id, p256Key(value, `${where}: publicKeys['${id}']`));
    }
    if (this.keys.size === 0) {
      throw new ConfigError(
        `${where}: publicKeys is empty; add the scanner's public keys (key identifier -> PEM)`,
      );
    }
  }

  /**
   * True when `signature` (base64 DER, as the `Github-Public-Key-Signature` header carries it)
   * signs `body` (the raw bytes, never a re-serialisation) under the key `keyId` names. False for
   * an unknown key, a malformed signature or a mismatch. Never throws.
   */
  verify(keyId: string | undefined, signature: string | undefined, body: Buffer): boolean {
    if (keyId === undefined || signature === undefined) return false;
    const key = this.keys.get(keyId.trim());
    const text = signature.trim();
    if (key === undefined || text.length > MAX_SIGNATURE_LENGTH || !BASE64.test(text)) {
      return false;
    }
    try {
      return verify('sha256', body, { key, dsaEncoding: 'der' }, Buffer.from(text, 'base64'));
    } catch {
      return false;
    }
  }
}

function p256Key(value: string | KeyObject, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = typeof value === 'string' ? createPublicKey(value) : value;
  } catch {
    // The parser's message is not repeated: it may quote the input.
    throw new ConfigError(`${where} is not a PEM public key`);
  }
  if (
    key.type !== 'public' ||
    key.asymmetricKeyType !== 'ec' ||
    key.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
  ) {
    throw new ConfigError(`${where} must be an ECDSA P-256 public key (ECDSA-NIST-P256V1-SHA256)`);
  }
  return key;
}
