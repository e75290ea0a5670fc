import { createHash, verify as verifySignature } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { ErrorCode } from '../errors';
import { isSafeId } from '../internal/text';
import { readScopes, type ScopeClaimFormat } from './claims';
import type { VerifyDetail } from './details';
import { ACCESS_TOKEN_TYPES, B64URL, decodeSegment, isCanonical, mediaTypeOf } from './jws';
import { MAX_KID_LENGTH, type JwtAlgorithm, type KeySelector, type RingKey } from './key-ring';

/** What strict JWT verification needs, already validated. */
export interface JwtVerifyPolicy {
  readonly ring: KeySelector;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly issuer: string | [string, ...string[]];
  readonly audience: string | [string, ...string[]];
  readonly maxLifetimeMs: number;
  readonly clockToleranceMs: number;
  readonly maxClaimLength: number;
  /**
   * Further claims holding scopes (e.g. `permissions`): names, or JSON Pointers starting with
   * `/`; each value a list of names or a space-delimited string (see `ClaimProfile`).
   */
  readonly permissionsClaim: string | readonly string[] | undefined;
  /** Refuse a token without `jti`. Default: true. */
  readonly requireTokenId?: boolean;
  /** How `scope` may be written. Default: `'string'`. */
  readonly scopeClaimFormat?: ScopeClaimFormat;
  /** The claim checked against `audience`. Default: `'aud'`. */
  readonly audienceClaim?: string;
  /** The claim naming the client. Default: `client_id`, else `azp`. */
  readonly clientClaim?: string;
  /**
   * The `typ` header values accepted, as media types (see {@link mediaTypeOf}); a token without
   * `typ` is always accepted. Default: {@link ACCESS_TOKEN_TYPES}.
   */
  readonly acceptedTypes?: ReadonlySet<string>;
}

/** The claims of a token that passed every check. Times in epoch ms. */
export interface VerifiedToken {
  readonly tokenId: string;
  readonly subject: string;
  readonly client: string | undefined;
  readonly issuer: string;
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly kid: string | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * A verification failure: a code, and a detail for the problem body and the audit trail that
 * names claims and rules only (never a claim value, key or token text).
 */
export interface VerifyFailure {
  readonly code: ErrorCode;
  readonly detail: VerifyDetail;
}

export type VerifyResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | {
      readonly ok: false;
      readonly failure: VerifyFailure;
      /**
       * Set when the key ring found no key but can look further (`KeySelector.prepare`): the
       * header's `kid` and `alg`, to prepare the ring with before verifying again.
       */
      readonly keyRequest?: KeyRequest;
    };

/** The key a token asks for: its header's `kid` and (allowed) `alg`. */
export interface KeyRequest {
  readonly kid: string | undefined;
  readonly alg: JwtAlgorithm;
}

const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u'] as const;

function fail(code: ErrorCode, detail: VerifyDetail): VerifyResult {
  return { ok: false, failure: { code, detail } };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/**
 * Verifies a compact JWS strictly. Cheap structural checks run first (an accepted `typ`
 * included, so no other kind of JWT passes for an access token); the signature, `iss`,
 * `aud`, `exp` and `nbf` are checked by jsonwebtoken with the one algorithm the key is bound to
 * (EdDSA, which jsonwebtoken 9 does not implement, by node:crypto and the same claim rules here);
 * the rest (claim types, lifetime, `iat` not in the future, header extensions) is checked here.
 * Never throws: every library exception becomes a failure.
 */
export function verifyJwt(token: string, policy: JwtVerifyPolicy, nowMs: number): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return fail('token_malformed', 'not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p)) {
    return fail('token_malformed', 'header or payload not base64url');
  }

  const decodedHeader = decodeSegment(h);
  if ('error' in decodedHeader) return fail('token_malformed', `header: ${decodedHeader.error}`);
  const header = decodedHeader.value;
  const alg = header.alg;
  if (typeof alg !== 'string' || !(policy.algorithms as readonly string[]).includes(alg)) {
    return fail('algorithm_not_allowed', 'alg not in allowlist');
  }
  const typ = header.typ;
  if (
    typ !== undefined &&
    (typeof typ !== 'string' || !(policy.acceptedTypes ?? ACCESS_TOKEN_TYPES).has(mediaTypeOf(typ)))
  ) {
    return fail('token_malformed', 'typ names another kind of token');
  }
  if (header.crit !== undefined) return fail('token_malformed', 'crit header not supported');
  if (header.b64 !== undefined) return fail('token_malformed', 'b64 header not supported');
  for (const name of FORBIDDEN_HEADERS) {
    if (header[name] !== undefined) return fail('token_malformed', `${name} header refused`);
  }
  const kid = header.kid;
  if (kid !== undefined && !isSafeId(kid, MAX_KID_LENGTH)) {
    return fail(
      'token_malformed',
      'kid invalid: must be 1 to 256 characters, no control characters',
    );
  }
  const ring = policy.ring;
  const key = ring.select(kid, alg as JwtAlgorithm);
  if (!key) {
    const failure: VerifyFailure = { code: 'key_unknown', detail: 'no key for kid' };
    return ring.prepare === undefined
      ? { ok: false, failure }
      : { ok: false, failure, keyRequest: { kid, alg: alg as JwtAlgorithm } };
  }
  if (key.alg !== alg) return fail('algorithm_not_allowed', 'alg does not match the key');
  if (s.length === 0) return fail('invalid_signature', 'signature missing');
  if (!B64URL.test(s)) return fail('token_malformed', 'signature not base64url');
  if (!isCanonical(h) || !isCanonical(p) || !isCanonical(s)) {
    return fail('token_malformed', 'non-canonical base64url');
  }

  const decodedClaims = decodeSegment(p);
  if ('error' in decodedClaims) return fail('token_malformed', `payload: ${decodedClaims.error}`);
  const claims = decodedClaims.value;
  const max = policy.maxClaimLength;
  if (!isTime(claims.exp)) return fail('token_claims_invalid', 'exp missing or not a number');
  if (!isTime(claims.iat)) return fail('token_claims_invalid', 'iat missing or not a number');
  if (claims.nbf !== undefined && !isTime(claims.nbf)) {
    return fail('token_claims_invalid', 'nbf not a number');
  }
  if (claims.sub === undefined) return fail('token_claims_invalid', 'sub missing');
  if (!isSafeId(claims.sub, max)) {
    return fail(
      'token_claims_invalid',
      'sub invalid: must be 1 to maxClaimLength characters, no control characters',
    );
  }
  const jti = claims.jti;
  if (jti === undefined) {
    if (policy.requireTokenId !== false) {
      return fail(
        'token_claims_invalid',
        'jti missing (requireTokenId: false accepts tokens without one)',
      );
    }
  } else if (!isSafeId(jti, max)) {
    return fail(
      'token_claims_invalid',
      'jti invalid: must be 1 to maxClaimLength characters, no control characters',
    );
  }
  if (claims.iss === undefined) return fail('issuer_invalid', 'iss missing');
  if (!isSafeId(claims.iss, max)) {
    return fail(
      'issuer_invalid',
      'iss invalid: must be 1 to maxClaimLength characters, no control characters',
    );
  }
  const clientClaim = policy.clientClaim;
  const client =
    clientClaim === undefined ? (claims.client_id ?? claims.azp) : own(claims, clientClaim);
  if (client !== undefined && !isSafeId(client, max)) {
    return fail(
      'token_claims_invalid',
      'client claim invalid: must be 1 to maxClaimLength characters, no control characters',
    );
  }
  const scopes = readScopes(claims, policy);
  if (typeof scopes === 'string') return fail('token_claims_invalid', scopes);
  const audienceClaim = policy.audienceClaim ?? 'aud';
  if (own(claims, audienceClaim) === undefined) {
    return fail(
      'audience_invalid',
      audienceClaim === 'aud' ? 'aud missing' : 'audienceClaim: the claim is missing',
    );
  }

  if (key.alg === 'EdDSA') {
    // The algorithm is the key's: the header's alg only had to agree with it (checked above).
    if (!verifyEdDsa(h, p, s, key)) return fail('invalid_signature', 'signature mismatch');
    const registered = checkRegisteredClaims(claims, policy, nowMs);
    if (registered !== undefined) return registered;
  } else {
    try {
      jwt.verify(token, key.keyObject, {
        algorithms: [key.alg],
        issuer: policy.issuer,
        // Another audience claim is checked below, with the same rule.
        ...(audienceClaim === 'aud' ? { audience: policy.audience } : {}),
        clockTolerance: policy.clockToleranceMs / 1000,
        clockTimestamp: Math.floor(nowMs / 1000),
      });
    } catch (error) {
      return mapLibraryError(error);
    }
    if (audienceClaim !== 'aud') {
      const audience = checkAudience(claims, policy, audienceClaim);
      if (audience !== undefined) return audience;
    }
  }

  const issuedAt = claims.iat * 1000;
  const expiresAt = claims.exp * 1000;
  if (issuedAt > nowMs + policy.clockToleranceMs) {
    return fail('token_not_yet_valid', 'iat in the future');
  }
  if (expiresAt <= issuedAt) return fail('token_claims_invalid', 'exp not after iat');
  if (expiresAt - issuedAt > policy.maxLifetimeMs) {
    return fail(
      'token_lifetime_exceeded',
      'exp - iat exceeds the maximum lifetime (maxLifetimeMs)',
    );
  }
  return {
    ok: true,
    token: {
      tokenId: typeof jti === 'string' ? jti : derivedTokenId(token),
      subject: claims.sub,
      client: client as string | undefined,
      issuer: claims.iss,
      scopes,
      issuedAt,
      expiresAt,
      kid: key.kid,
      claims,
    },
  };
}

// RFC 8032 signature sizes: the signature must have exactly this many bytes for the key's curve.
const EDDSA_SIGNATURE_BYTES: Readonly<Record<string, number>> = { ed25519: 64, ed448: 114 };

/**
 * An EdDSA signature (RFC 8037) over `header.payload`, checked with the key's own curve. The
 * signature segment is canonical base64url (checked by the caller) of exactly the curve's size.
 */
function verifyEdDsa(h: string, p: string, s: string, key: RingKey): boolean {
  const size = EDDSA_SIGNATURE_BYTES[key.keyObject.asymmetricKeyType ?? ''];
  const signature = Buffer.from(s, 'base64url');
  if (size === undefined || signature.length !== size) return false;
  try {
    return verifySignature(null, Buffer.from(`${h}.${p}`, 'ascii'), key.keyObject, signature);
  } catch {
    return false;
  }
}

/**
 * `nbf`, `exp`, `aud` and `iss` by the rules jsonwebtoken applies to the other algorithms (times
 * in whole seconds, the clock tolerance on both sides), so a token's fate never depends on its
 * algorithm. Types were checked by the caller.
 */
function checkRegisteredClaims(
  claims: Record<string, unknown>,
  policy: JwtVerifyPolicy,
  nowMs: number,
): VerifyResult | undefined {
  const now = Math.floor(nowMs / 1000);
  const tolerance = policy.clockToleranceMs / 1000;
  if (typeof claims.nbf === 'number' && claims.nbf > now + tolerance) {
    return fail('token_not_yet_valid', 'nbf in the future');
  }
  if (now >= (claims.exp as number) + tolerance) return fail('token_expired', 'exp passed');
  const audience = checkAudience(claims, policy, policy.audienceClaim ?? 'aud');
  if (audience !== undefined) return audience;
  const issuers: readonly string[] =
    typeof policy.issuer === 'string' ? [policy.issuer] : policy.issuer;
  if (!issuers.includes(claims.iss as string)) return fail('issuer_invalid', 'iss not accepted');
  return undefined;
}

/**
 * The audience claim (a string or a list of strings) names one of the accepted audiences: the
 * rule jsonwebtoken applies to `aud`, for EdDSA and for another audience claim.
 */
function checkAudience(
  claims: Record<string, unknown>,
  policy: JwtVerifyPolicy,
  claim: string,
): VerifyResult | undefined {
  const value = own(claims, claim);
  const audiences = Array.isArray(value) ? (value as unknown[]) : [value];
  const accepted: readonly string[] =
    typeof policy.audience === 'string' ? [policy.audience] : policy.audience;
  if (audiences.some((a) => typeof a === 'string' && accepted.includes(a))) return undefined;
  return fail(
    'audience_invalid',
    claim === 'aud' ? 'aud not accepted' : 'audienceClaim: the claim is not accepted',
  );
}

function own(claims: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(claims, name) ? claims[name] : undefined;
}

/**
 * The id of a token without `jti` (with `requireTokenId: false`): `sha256:` and the base64url
 * SHA-256 of the token. The token's encoding is canonical (checked above), so a token has one id.
 */
export function derivedTokenId(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('base64url')}`;
}

function mapLibraryError(error: unknown): VerifyResult {
  if (error instanceof jwt.TokenExpiredError) return fail('token_expired', 'exp passed');
  if (error instanceof jwt.NotBeforeError) return fail('token_not_yet_valid', 'nbf in the future');
  const message = error instanceof Error ? error.message : '';
  if (message === 'invalid signature') return fail('invalid_signature', 'signature mismatch');
  if (message.startsWith('jwt issuer invalid')) return fail('issuer_invalid', 'iss not accepted');
  if (message.startsWith('jwt audience invalid')) {
    return fail('audience_invalid', 'aud not accepted');
  }
  if (message.includes('signature')) return fail('invalid_signature', 'signature rejected');
  return fail('token_malformed', 'rejected by the JWT library');
}
