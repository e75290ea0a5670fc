/**
 * What makes a stored signing key set trustworthy: the metadata a node publishes (public keys,
 * validity times, the revision) must be the metadata that was written with the private keys, and
 * never older than what the node has loaded before.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { TokenwardenError } from '../errors';
import { JWT_ALGORITHMS } from '../verify/key-ring';
import {
  publicJwk,
  signingKeyObject,
  type Jwk,
  type SigningKeyInfo,
  type SigningKeySettings,
  type StoredSigningKey,
} from './signing-keys';

/**
 * Why a key set was refused: `tampered` (metadata that does not authenticate, or a public key
 * that is not the public half of its private key), `rolled_back` (a revision lower than one
 * already loaded), `malformed` (not a key set), `unsealed` (the unsealed format of Tokenwarden
 * 0.1, which must be sealed once with `tokenwarden keys rewrap`).
 */
export type SigningKeyProblem = 'tampered' | 'rolled_back' | 'malformed' | 'unsealed';

/**
 * A stored signing key set was refused: its keys are not used, and a ring keeps the keys it
 * loaded before. Code `signing_key_invalid`; `reason` says why.
 *
 * @example
 * try { await ring.refresh(); }
 * catch (error) { if (error instanceof SigningKeyError && error.reason === 'rolled_back') page(); }
 */
export class SigningKeyError extends TokenwardenError {
  /** Why the set was refused. */
  readonly reason: SigningKeyProblem;

  constructor(reason: SigningKeyProblem, message: string, options?: { cause?: unknown }) {
    super('signing_key_invalid', message, options);
    this.reason = reason;
  }
}

/** Longest key id a stored set may carry (as for verification keys). */
const MAX_KID_LENGTH = 256;

/** The private key types each public-key algorithm family signs with. */
const KEY_TYPES: Readonly<Record<string, readonly string[]>> = {
  RS: ['rsa'],
  PS: ['rsa', 'rsa-pss'],
  ES: ['ec'],
  Ed: ['ed25519', 'ed448'],
};

/**
 * JSON with the members of every object in code-point order and `undefined` members left out:
 * the same value always gives the same text, whatever order it was built in.
 */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

/** The metadata of a stored key, without its secret and without members it does not define. */
export function keyInfoOf(key: SigningKeyInfo): SigningKeyInfo {
  return {
    kid: key.kid,
    alg: key.alg,
    ...(key.publicJwk === undefined ? {} : { publicJwk: key.publicJwk }),
    createdAt: key.createdAt,
    activeFrom: key.activeFrom,
    ...(key.verifyUntil === undefined ? {} : { verifyUntil: key.verifyUntil }),
  };
}

/**
 * SHA-256 (base64url) of everything a sealed key set vouches for: where it is stored (`scope`),
 * its revision, its settings and the metadata of every key, in order. A store seals it with the
 * private keys, so a change to any of them (a swapped public key, a moved `activeFrom`, a bumped
 * or lowered revision, a removed key) no longer authenticates.
 */
export function signingKeySetDigest(
  scope: string,
  set: {
    readonly revision: number;
    readonly settings?: SigningKeySettings;
    readonly keys: readonly SigningKeyInfo[];
  },
): string {
  const text = stableJson({
    v: 2,
    scope,
    revision: set.revision,
    settings: set.settings ?? null,
    keys: set.keys.map(keyInfoOf),
  });
  return createHash('sha256').update(text, 'utf8').digest('base64url');
}

/**
 * The additional data a store binds to a sealed secret: the set's digest, and the key id for a
 * key's secret (without `kid`: the seal of the set as a whole).
 */
export function signingKeySealContext(digest: string, kid?: string): string {
  return kid === undefined ? `signing-key-set:${digest}` : `signing-key:${kid}:${digest}`;
}

/**
 * Checks that a stored key is what its metadata says: a key id, a supported algorithm, a secret
 * of that algorithm's kind, and, for a public-key algorithm, a published public key that is the
 * public half of the private key (an HMAC key publishes none). Returns the key that signs.
 *
 * @throws SigningKeyError (`tampered` or `malformed`) naming the key id, never the key.
 */
export function checkKeyMaterial(key: StoredSigningKey): KeyObject {
  const kid: unknown = key?.kid;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    throw new SigningKeyError('malformed', 'a stored signing key has no valid key id');
  }
  const where = `stored signing key '${kid}'`;
  if (!(JWT_ALGORITHMS as readonly string[]).includes(key.alg)) {
    throw new SigningKeyError('malformed', `${where} has an unsupported algorithm`);
  }
  for (const name of ['createdAt', 'activeFrom', 'verifyUntil'] as const) {
    const value = key[name];
    if (value === undefined && name === 'verifyUntil') continue;
    if (!Number.isSafeInteger(value)) {
      throw new SigningKeyError('malformed', `${where}: ${name} is not a time in epoch ms`);
    }
  }
  let signing: KeyObject;
  try {
    if (typeof key.secret !== 'string') throw new TypeError('secret');
    signing = signingKeyObject(key);
  } catch {
    throw new SigningKeyError('malformed', `${where}: its secret is not a readable key`);
  }
  if (key.alg.startsWith('HS')) {
    if (key.publicJwk !== undefined) {
      throw new SigningKeyError(
        'tampered',
        `${where} is an HMAC key but carries a public key to publish`,
      );
    }
    return signing;
  }
  const type = signing.asymmetricKeyType ?? '';
  if (!(KEY_TYPES[key.alg.slice(0, 2)] ?? []).includes(type)) {
    throw new SigningKeyError('tampered', `${where}: its private key is not a ${key.alg} key`);
  }
  let derived: Jwk;
  try {
    derived = publicJwk(signing, kid, key.alg);
  } catch {
    throw new SigningKeyError('malformed', `${where}: its secret is not a private key`);
  }
  if (key.publicJwk === undefined || stableJson(key.publicJwk) !== stableJson(derived)) {
    throw new SigningKeyError(
      'tampered',
      `${where}: the public key stored with it is not the public half of its private key`,
    );
  }
  return signing;
}
