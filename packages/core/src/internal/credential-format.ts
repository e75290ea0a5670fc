import { createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors';

/**
 * Opaque credentials (API keys and refresh tokens) share one format that secret scanners can
 * recognise and that catches typos without a store look-up:
 *
 * ```
 * twk_live_4eC39HqLyjWDarjtT1zdp7dc0K3hLzvQ1TMbXQ
 * └┬┘ └┬─┘ └──────────── 32 random ────────────┘└ 6 ┘
 * type env                                  checksum
 * ```
 *
 * - type: `twk` (API key) or `twr` (refresh token);
 * - env: 1–16 characters `[a-z0-9]`, starting with a letter (`live`, `test`, `staging`…);
 * - 32 base62 characters from the system CSPRNG (about 190 bits);
 * - a 6-character base62 CRC-32 of everything before it.
 */

/** The credential types the prefix tells apart. */
export type CredentialType = 'twk' | 'twr';

/** Prefix type of API keys. */
export const API_KEY_TYPE: CredentialType = 'twk';
/** Prefix type of refresh tokens. */
export const REFRESH_TOKEN_TYPE: CredentialType = 'twr';

/** Default environment in new credentials. */
export const DEFAULT_ENVIRONMENT = 'live';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const ENVIRONMENT = /^[a-z][a-z0-9]{0,15}$/;
const BODY = /^[0-9A-Za-z]+$/;
/** Longest credential the format allows: type, env, two separators and the body. */
export const MAX_CREDENTIAL_LENGTH = 3 + 16 + 2 + RANDOM_LENGTH + CHECKSUM_LENGTH;

/** A credential that passed the format and checksum check (it may still be unknown). */
export interface ParsedCredential {
  readonly type: CredentialType;
  readonly environment: string;
}

/** Why a string is not a well-formed credential; never includes the string. */
export type CredentialFormatError = 'format' | 'checksum';

/** True when `environment` can appear in a credential prefix. */
export function isValidEnvironment(environment: unknown): environment is string {
  return typeof environment === 'string' && ENVIRONMENT.test(environment);
}

/** `count` base62 characters from the CSPRNG, without modulo bias. */
function randomBase62(count: number): string {
  let out = '';
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      // 248 = 4 × 62: bytes above it would favour the first characters.
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === count) break;
    }
  }
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of an ASCII string, as 6 base62 characters. */
function checksum(text: string): string {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  }
  let value = (crc ^ 0xffffffff) >>> 0;
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Generates a new credential of `type` for `environment`. */
export function generateCredential(type: CredentialType, environment: string): string {
  if (!isValidEnvironment(environment)) {
    throw new ConfigError(
      `environment '${String(environment)}' must be 1-16 characters [a-z0-9] starting with a letter (e.g. 'live', 'test')`,
    );
  }
  const head = `${type}_${environment}_${randomBase62(RANDOM_LENGTH)}`;
  return head + checksum(head);
}

/**
 * Checks a credential's format and checksum without any look-up: a mistyped or truncated key is
 * refused here. Never throws.
 */
export function parseCredential(
  credential: unknown,
):
  | { readonly ok: true; readonly value: ParsedCredential }
  | { readonly ok: false; readonly error: CredentialFormatError } {
  if (typeof credential !== 'string' || credential.length > MAX_CREDENTIAL_LENGTH) {
    return { ok: false, error: 'format' };
  }
  const parts = credential.split('_');
  if (parts.length !== 3) return { ok: false, error: 'format' };
  const [type, environment, body] = parts as [string, string, string];
  if (type !== API_KEY_TYPE && type !== REFRESH_TOKEN_TYPE) return { ok: false, error: 'format' };
  if (!ENVIRONMENT.test(environment)) return { ok: false, error: 'format' };
  if (body.length !== RANDOM_LENGTH + CHECKSUM_LENGTH || !BODY.test(body)) {
    return { ok: false, error: 'format' };
  }
  const head = credential.slice(0, credential.length - CHECKSUM_LENGTH);
  if (checksum(head) !== credential.slice(-CHECKSUM_LENGTH))
    return { ok: false, error: 'checksum' };
  return { ok: true, value: { type, environment } };
}

/** SHA-256 of a credential, lower-case hex: what stores keep instead of the credential. */
export function hashCredential(credential: string): string {
  return createHash('sha256').update(credential, 'utf8').digest('hex');
}

/** A new public id: `prefix` plus 20 base62 characters. */
export function newPublicId(prefix: 'ak' | 'rf' | 'rt'): string {
  return `${prefix}_${randomBase62(20)}`;
}
