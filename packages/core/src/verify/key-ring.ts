import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';

/**
 * JWS algorithms Tokenwarden verifies. `none` is not among them and never will be. `EdDSA`
 * (RFC 8037) takes an Ed25519 or Ed448 key.
 */
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA';

/** Every algorithm in {@link JwtAlgorithm}. */
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/**
 * One verification key, bound to exactly one `kid` and one algorithm.
 * `key` is the HMAC secret for HS*, or the public key (PEM, DER Buffer or `KeyObject`; a private
 * key is accepted and only its public half kept) for RS*, PS*, ES* and EdDSA.
 */
export interface VerificationKey {
  /** The `kid` header value that selects this key. */
  readonly kid: string;
  /** The only algorithm this key verifies. */
  readonly alg: JwtAlgorithm;
  /** Secret or public key material. Read it from a file or the environment, never from code. */
  readonly key: string | Buffer | KeyObject;
}

/** A key after validation: material turned into a `KeyObject` of the right type. */
export interface RingKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly keyObject: KeyObject;
}

const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
const EC_CURVE: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};
/** Longest `kid` accepted, in a header or in configuration. */
export const MAX_KID_LENGTH = 256;

/** Validates one configured key and binds it to its algorithm. Throws {@link ConfigError}. */
export function toRingKey(input: VerificationKey, allowed: readonly JwtAlgorithm[]): RingKey {
  const where = `key '${String(input.kid)}'`;
  if (
    typeof input.kid !== 'string' ||
    input.kid.length === 0 ||
    input.kid.length > MAX_KID_LENGTH
  ) {
    throw new ConfigError(`jwt.keys: every key needs a 'kid' of 1 to ${MAX_KID_LENGTH} characters`);
  }
  if (!JWT_ALGORITHMS.includes(input.alg)) {
    throw new ConfigError(
      `jwt.keys: ${where} has alg '${String(input.alg)}'; use one of ${JWT_ALGORITHMS.join(', ')}`,
    );
  }
  if (!allowed.includes(input.alg)) {
    throw new ConfigError(
      `jwt.keys: ${where} uses ${input.alg}, which is not in jwt.algorithms; add it there or remove the key`,
    );
  }
  const family = input.alg.slice(0, 2);
  if (family === 'HS') return { kid: input.kid, alg: input.alg, keyObject: hmacKey(input, where) };
  let keyObject: KeyObject;
  try {
    keyObject =
      input.key instanceof KeyObject
        ? input.key.type === 'private'
          ? createPublicKey(input.key)
          : input.key
        : createPublicKey(input.key);
  } catch {
    throw new ConfigError(
      `jwt.keys: ${where} is not a readable public key (PEM, DER or KeyObject) for ${input.alg}`,
    );
  }
  if (keyObject.type !== 'public') {
    throw new ConfigError(`jwt.keys: ${where} must be a public or private key for ${input.alg}`);
  }
  const type = keyObject.asymmetricKeyType;
  const details = keyObject.asymmetricKeyDetails ?? {};
  if (family === 'RS' || family === 'PS') {
    if (type !== 'rsa' && !(family === 'PS' && type === 'rsa-pss')) {
      throw new ConfigError(
        `jwt.keys: ${where} is a ${String(type)} key, but ${input.alg} needs RSA`,
      );
    }
    if ((details.modulusLength ?? 0) < 2048) {
      throw new ConfigError(
        `jwt.keys: ${where} is shorter than 2048 bits; use a 2048-bit or larger RSA key`,
      );
    }
  } else if (family === 'Ed') {
    if (type !== 'ed25519' && type !== 'ed448') {
      throw new ConfigError(
        `jwt.keys: ${where} is a ${String(type)} key, but EdDSA needs an Ed25519 or Ed448 key`,
      );
    }
  } else if (type !== 'ec' || details.namedCurve !== EC_CURVE[input.alg]) {
    throw new ConfigError(
      `jwt.keys: ${where} must be an EC key on ${EC_CURVE[input.alg]} for ${input.alg}`,
    );
  }
  return { kid: input.kid, alg: input.alg, keyObject };
}

function hmacKey(input: VerificationKey, where: string): KeyObject {
  let keyObject: KeyObject;
  if (input.key instanceof KeyObject) {
    if (input.key.type !== 'secret') {
      throw new ConfigError(
        `jwt.keys: ${where} uses ${input.alg} and needs a secret, not a public or private key`,
      );
    }
    keyObject = input.key;
  } else {
    // A PEM read into a Buffer (readFileSync without an encoding) is still public material.
    const text = Buffer.isBuffer(input.key) ? input.key.toString('latin1') : input.key;
    if (/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
      throw new ConfigError(
        `jwt.keys: ${where} uses ${input.alg} but holds a PEM key; HMAC needs a random secret (an RSA or EC key is not a secret)`,
      );
    }
    keyObject = createSecretKey(
      Buffer.isBuffer(input.key) ? input.key : Buffer.from(input.key, 'utf8'),
    );
  }
  const min = HMAC_MIN_BYTES[input.alg] ?? 32;
  if ((keyObject.symmetricKeySize ?? 0) < min) {
    throw new ConfigError(
      `jwt.keys: ${where} is ${keyObject.symmetricKeySize ?? 0} bytes; ${input.alg} needs at least ${min} random bytes (RFC 7518 §3.2). Generate one with: node -e "console.log(require('crypto').randomBytes(${min}).toString('base64url'))"`,
    );
  }
  return keyObject;
}

/** Options of {@link keyFromEnv} and {@link keyFromFile}. */
export interface KeySourceOptions {
  /** The `kid` the key is bound to. */
  readonly kid: string;
  /** The only algorithm the key verifies. */
  readonly alg: JwtAlgorithm;
  /**
   * How an HMAC secret is written: `'utf8'` takes the text as is, `'base64'`/`'base64url'`/`'hex'`
   * decode it. Ignored for public keys. Default: `'utf8'`.
   */
  readonly encoding?: 'utf8' | 'base64' | 'base64url' | 'hex';
}

/**
 * Reads a key from an environment variable, so no key lives in source code.
 *
 * @example
 * keys: [keyFromEnv('TOKENWARDEN_HS256_SECRET', { kid: '2026-11', alg: 'HS256', encoding: 'base64url' })]
 */
export function keyFromEnv(
  variable: string,
  options: KeySourceOptions,
  env: NodeJS.ProcessEnv = process.env,
): VerificationKey {
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new ConfigError(
      `environment variable ${variable} is not set; it must hold the key '${options.kid}'`,
    );
  }
  return { kid: options.kid, alg: options.alg, key: decode(value, options) };
}

/**
 * Reads a key from a file (a PEM public key, or an HMAC secret).
 *
 * @example
 * keys: [keyFromFile('/run/secrets/jwt-public.pem', { kid: 'rs-1', alg: 'RS256' })]
 */
export function keyFromFile(path: string, options: KeySourceOptions): VerificationKey {
  let value: string;
  try {
    value = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the key '${options.kid}' from ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const isPem = value.includes('-----BEGIN');
  return {
    kid: options.kid,
    alg: options.alg,
    key: isPem ? value : decode(value.trim(), options),
  };
}

function decode(value: string, options: KeySourceOptions): string | Buffer {
  const encoding = options.encoding ?? 'utf8';
  if (options.alg.startsWith('HS') && encoding !== 'utf8') return Buffer.from(value, encoding);
  return value;
}

/**
 * Where verification finds the key a token names. A ring that changes (rotation, a refreshed
 * JWKS) increments `version`, so caches of verified tokens know to drop what they hold.
 */
export interface KeySelector {
  /**
   * The key a token's header selects, or undefined: synchronous, from what the selector holds.
   * `alg` is the header's algorithm (one of the accepted ones); a selector may ignore it.
   */
  select(kid: string | undefined, alg?: JwtAlgorithm): RingKey | undefined;
  /** Changes whenever the set of keys changes. */
  readonly version: number;
  /**
   * For a selector that can look further than what it holds (a remote JWKS, a key resolver):
   * called when `select` found no key, resolves once `select` answers as well as it can, and
   * rejects (with `KeySourceError`) when the source cannot be asked. Absent for fixed keys.
   */
  prepare?(kid: string | undefined, alg?: JwtAlgorithm): Promise<void>;
}

/**
 * Whether `value` is a {@link KeySelector} (a rotating `SigningKeyRing`, a remote JWKS source)
 * rather than a list of keys, so options may take either.
 */
export function isKeySelector(value: unknown): value is KeySelector {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as KeySelector).select === 'function' &&
    typeof (value as KeySelector).version === 'number'
  );
}

/** The verification keys, by `kid`. Immutable; build a new ring to rotate. */
export class KeyRing implements KeySelector {
  /** Always 0: this ring never changes. */
  readonly version: number = 0;
  private readonly byKid: Map<string, RingKey>;

  constructor(keys: readonly VerificationKey[], allowed: readonly JwtAlgorithm[]) {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new ConfigError(
        'jwt.keys is required: list at least one { kid, alg, key } (see keyFromEnv and keyFromFile)',
      );
    }
    this.byKid = new Map();
    for (const key of keys) {
      const ring = toRingKey(key, allowed);
      if (this.byKid.has(ring.kid)) {
        throw new ConfigError(
          `jwt.keys: kid '${ring.kid}' appears twice; each kid names exactly one key`,
        );
      }
      this.byKid.set(ring.kid, ring);
    }
  }

  /** The key a token's header selects, or undefined. A token without `kid` works only with a one-key ring. */
  select(kid: string | undefined): RingKey | undefined {
    if (kid === undefined) {
      return this.byKid.size === 1 ? this.byKid.values().next().value : undefined;
    }
    return this.byKid.get(kid);
  }

  /** Number of keys. */
  get size(): number {
    return this.byKid.size;
  }
}
