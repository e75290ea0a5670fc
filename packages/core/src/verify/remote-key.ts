import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { ConfigError } from '../errors';
import { hasControlChar } from '../internal/text';
import { MAX_KID_LENGTH, toRingKey, type JwtAlgorithm, type RingKey } from './key-ring';

const ASYMMETRIC = /^((RS|PS|ES)(256|384|512)|EdDSA)$/;
const EC_ALG: Record<string, JwtAlgorithm> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** Validates a remote key source's algorithm list; throws {@link ConfigError}. */
export function checkRemoteAlgorithms(
  algorithms: readonly JwtAlgorithm[],
  option: string,
): JwtAlgorithm[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new ConfigError(
      `${option} is required: list the algorithms the provider signs with, e.g. ['RS256']`,
    );
  }
  for (const alg of algorithms) {
    if (typeof alg !== 'string' || !ASYMMETRIC.test(alg)) {
      throw new ConfigError(
        `${option}: '${String(alg)}' cannot be used with keys from a URL; use RS*, PS*, ES* or EdDSA algorithms`,
      );
    }
  }
  return [...algorithms];
}

/**
 * One JWK of a remote set as a verification key for one of `allowed`, or undefined when it is
 * not usable here: not a signing key, private members published, an over-long `kid`, a key type
 * or curve none of `allowed` takes.
 */
export function remoteKey(value: unknown, allowed: readonly JwtAlgorithm[]): RingKey | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const jwk = value as Record<string, unknown>;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify')) return undefined;
  }
  // A set that publishes private parts is broken or hostile: none of its keys is trusted as is.
  if (PRIVATE_MEMBERS.some((member) => jwk[member] !== undefined)) return undefined;
  const kid = jwk.kid;
  if (
    kid !== undefined &&
    (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH || hasControlChar(kid))
  ) {
    return undefined;
  }
  let alg: JwtAlgorithm | undefined;
  let material: JsonWebKey;
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return undefined;
    material = { kty: 'RSA', n: jwk.n, e: jwk.e };
    const rsa = allowed.filter((a) => a.startsWith('RS') || a.startsWith('PS'));
    if (jwk.alg !== undefined) alg = rsa.find((a) => a === jwk.alg);
    else if (rsa.length === 1) alg = rsa[0];
  } else if (jwk.kty === 'EC') {
    if (typeof jwk.crv !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      return undefined;
    }
    material = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    const byCurve = EC_ALG[jwk.crv];
    if (byCurve !== undefined && (jwk.alg === undefined || jwk.alg === byCurve)) {
      alg = allowed.includes(byCurve) ? byCurve : undefined;
    }
  } else if (jwk.kty === 'OKP') {
    // RFC 8037: Ed25519 and Ed448 keys for EdDSA; X25519/X448 are not signing keys.
    if ((jwk.crv !== 'Ed25519' && jwk.crv !== 'Ed448') || typeof jwk.x !== 'string') {
      return undefined;
    }
    material = { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    if ((jwk.alg === undefined || jwk.alg === 'EdDSA') && allowed.includes('EdDSA')) alg = 'EdDSA';
  } else {
    return undefined;
  }
  if (alg === undefined) return undefined;
  try {
    const keyObject = createPublicKey({ key: material, format: 'jwk' });
    const ring = toRingKey(
      { kid: typeof kid === 'string' ? kid : 'jwks', alg, key: keyObject },
      allowed,
    );
    return { ...ring, kid: typeof kid === 'string' ? kid : '' };
  } catch {
    return undefined;
  }
}
