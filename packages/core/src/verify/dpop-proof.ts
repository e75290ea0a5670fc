import {
  constants,
  createHash,
  createPublicKey,
  timingSafeEqual,
  verify as verifySignature,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { hasControlChar, isSafeId } from '../internal/text';

/** Algorithms a DPoP proof may be signed with: asymmetric only, never `none` or HMAC. */
export type DpopAlgorithm =
  'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA';

/** Every algorithm in {@link DpopAlgorithm}. */
export const DPOP_ALGORITHMS: readonly DpopAlgorithm[] = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];

/** A verified proof, from {@link verifyDpopProof}. */
export interface DpopProof {
  readonly jti: string;
  /** `iat`, epoch ms. */
  readonly issuedAt: number;
  readonly jkt: string;
  readonly alg: DpopAlgorithm;
  readonly nonce?: string;
}

/** Inputs of {@link verifyDpopProof}. */
export interface DpopProofInput {
  readonly proof: string;
  readonly method: string;
  readonly url: string;
  /** The access token; when given, the proof's `ath` must be its hash. */
  readonly accessToken?: string;
  readonly algorithms: readonly DpopAlgorithm[];
  readonly maxAgeMs: number;
  readonly clockToleranceMs: number;
  readonly maxProofBytes: number;
  readonly nowMs: number;
}

/** The result of {@link verifyDpopProof}. */
export type DpopProofResult =
  | { readonly ok: true; readonly proof: DpopProof }
  | { readonly ok: false; readonly detail: string };

/** base64url text, without padding. */
export const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MAX_JTI_LENGTH = 256;
const MAX_NONCE_LENGTH = 512;

const ALG: Record<
  DpopAlgorithm,
  { kty: 'EC' | 'RSA' | 'OKP'; hash: string | null; crv?: string; sigBytes?: number; pss?: number }
> = {
  ES256: { kty: 'EC', hash: 'sha256', crv: 'P-256', sigBytes: 64 },
  ES384: { kty: 'EC', hash: 'sha384', crv: 'P-384', sigBytes: 96 },
  ES512: { kty: 'EC', hash: 'sha512', crv: 'P-521', sigBytes: 132 },
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: 32 },
  PS384: { kty: 'RSA', hash: 'sha384', pss: 48 },
  PS512: { kty: 'RSA', hash: 'sha512', pss: 64 },
  EdDSA: { kty: 'OKP', hash: null, crv: 'Ed25519' },
};

/** base64url(SHA-256(ASCII(accessToken))): the `ath` a proof must carry (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public JWK (`cnf.jkt` in DPoP-bound tokens): the required
 * members only, in lexicographic order, no whitespace. Undefined for an unsupported key.
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string | undefined {
  let members: Record<string, unknown>;
  if (jwk.kty === 'EC') members = { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
  else if (jwk.kty === 'RSA') members = { e: jwk.e, kty: 'RSA', n: jwk.n };
  else if (jwk.kty === 'OKP') members = { crv: jwk.crv, kty: 'OKP', x: jwk.x };
  else return undefined;
  if (Object.values(members).some((v) => typeof v !== 'string')) return undefined;
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/**
 * The RFC 9449 §4.3 comparison form of a URL: scheme and host lower case, default port dropped,
 * dot segments resolved, query and fragment removed. Undefined when not an absolute http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return value as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The proof key as a `KeyObject`, from its public members only; undefined when unusable. */
function proofKey(jwk: Record<string, unknown>, alg: DpopAlgorithm): KeyObject | undefined {
  const spec = ALG[alg];
  if (jwk.kty !== spec.kty) return undefined;
  if (PRIVATE_MEMBERS.some((m) => jwk[m] !== undefined)) return undefined;
  let material: JsonWebKey;
  if (spec.kty === 'EC') {
    if (jwk.crv !== spec.crv || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      return undefined;
    }
    material = { kty: 'EC', crv: spec.crv, x: jwk.x, y: jwk.y };
  } else if (spec.kty === 'OKP') {
    if (jwk.crv !== spec.crv || typeof jwk.x !== 'string') return undefined;
    material = { kty: 'OKP', crv: spec.crv, x: jwk.x };
  } else {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return undefined;
    material = { kty: 'RSA', n: jwk.n, e: jwk.e };
  }
  try {
    const key = createPublicKey({ key: material, format: 'jwk' });
    if (spec.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      return undefined;
    return key;
  } catch {
    return undefined;
  }
}

function signatureValid(
  alg: DpopAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): boolean {
  const spec = ALG[alg];
  if (spec.sigBytes !== undefined && signature.length !== spec.sigBytes) return false;
  try {
    const data = Buffer.from(signingInput, 'ascii');
    if (spec.kty === 'EC') {
      return verifySignature(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (spec.pss !== undefined) {
      return verifySignature(
        spec.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss },
        signature,
      );
    }
    return verifySignature(spec.hash, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies one DPoP proof JWT against a request (RFC 9449 §4.3, checks 2 to 11 except replay and
 * nonce, which {@link DpopVerifier} adds): compact JWS, `typ` `dpop+jwt`, an allowed asymmetric
 * `alg`, a public `jwk` (no private members) that verifies the signature, `htm` and `htu`
 * matching, `iat` within the window, a `jti`, and `ath` matching the access token when given.
 * Pure and synchronous; never throws.
 */
export function verifyDpopProof(input: DpopProofInput): DpopProofResult {
  const fail = (detail: string): DpopProofResult => ({ ok: false, detail });
  const { proof } = input;
  if (typeof proof !== 'string' || proof.length === 0) return fail('no proof');
  if (proof.length > input.maxProofBytes) return fail('proof above the size cap');
  const parts = proof.split('.');
  if (parts.length !== 3) return fail('not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) return fail('bad base64url');
  const header = decodeSegment(h);
  if (!header) return fail('header is not a JSON object');
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') {
    return fail('typ is not dpop+jwt');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !(input.algorithms as readonly string[]).includes(alg)) {
    return fail('alg not allowed');
  }
  if (header.crit !== undefined) return fail('crit header not supported');
  const jwk = header.jwk;
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return fail('jwk missing');
  const key = proofKey(jwk as Record<string, unknown>, alg as DpopAlgorithm);
  if (!key) return fail('jwk is not a usable public key for alg');
  if (!signatureValid(alg as DpopAlgorithm, key, `${h}.${p}`, Buffer.from(s, 'base64url'))) {
    return fail('signature mismatch');
  }
  const claims = decodeSegment(p);
  if (!claims) return fail('payload is not a JSON object');
  if (!isSafeId(claims.jti, MAX_JTI_LENGTH)) return fail('jti missing or invalid');
  if (typeof claims.htm !== 'string' || claims.htm !== input.method) return fail('htm mismatch');
  if (typeof claims.htu !== 'string') return fail('htu missing');
  const htu = normalizeHtu(claims.htu);
  const target = normalizeHtu(input.url);
  if (htu === undefined || target === undefined || htu !== target) return fail('htu mismatch');
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) {
    return fail('iat missing or not a number');
  }
  const issuedAt = claims.iat * 1000;
  if (issuedAt > input.nowMs + input.clockToleranceMs) return fail('iat in the future');
  if (issuedAt < input.nowMs - input.maxAgeMs) return fail('proof too old');
  if (input.accessToken !== undefined) {
    if (typeof claims.ath !== 'string') return fail('ath missing');
    const want = Buffer.from(accessTokenHash(input.accessToken));
    const got = Buffer.from(claims.ath);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return fail('ath mismatch');
  }
  let nonce: string | undefined;
  if (claims.nonce !== undefined) {
    if (
      typeof claims.nonce !== 'string' ||
      claims.nonce.length > MAX_NONCE_LENGTH ||
      hasControlChar(claims.nonce)
    ) {
      return fail('nonce invalid');
    }
    nonce = claims.nonce;
  }
  const jkt = jwkThumbprint(jwk as Record<string, unknown>);
  if (jkt === undefined) return fail('jwk thumbprint');
  return {
    ok: true,
    proof: {
      jti: claims.jti,
      issuedAt,
      jkt,
      alg: alg as DpopAlgorithm,
      ...(nonce === undefined ? {} : { nonce }),
    },
  };
}
