import { verify as verifySignature } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { ErrorCode } from '../errors';
import { hasControlChar, isSafeId } from '../internal/text';
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
  /** Optional claim holding an array of extra scopes (e.g. `permissions`). */
  readonly permissionsClaim: string | undefined;
  /**
   * The `typ` header values accepted, as media types (see {@link mediaTypeOf}); a token without
   * `typ` is always accepted. Default: {@link ACCESS_TOKEN_TYPES}.
   */
  readonly acceptedTypes?: ReadonlySet<string>;
}

/**
 * The `typ` values every verifier accepts, as media types: `JWT` (RFC 7519 §5.1, a JWT that says
 * no more) and `at+jwt` (RFC 9068 §2.1, an access token). A JWT of another kind (a DPoP proof,
 * a logout or security event token, an ID token that says so) is refused (RFC 8725 §3.11).
 */
export const ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set([
  'application/jwt',
  'application/at+jwt',
]);

/**
 * A `typ` value as the media type it names (RFC 7515 §4.1.9): lower case (media types compare
 * case-insensitively), `application/` prepended when it has no `/`.
 */
export function mediaTypeOf(typ: string): string {
  const type = typ.toLowerCase();
  return type.includes('/') ? type : `application/${type}`;
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

/** A verification failure: a code for clients, a detail for the audit trail (never the token). */
export interface VerifyFailure {
  readonly code: ErrorCode;
  readonly detail: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | { readonly ok: false; readonly failure: VerifyFailure };

const B64URL = /^[A-Za-z0-9_-]+$/;
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u'] as const;
// ignoreBOM keeps a leading U+FEFF, which JSON.parse then refuses: jsonwebtoken would too, and
// the two parsers must never read different claims from one segment.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(code: ErrorCode, detail: string): VerifyResult {
  return { ok: false, failure: { code, detail } };
}

/**
 * Decodes one base64url JWT segment into a plain JSON object, or a reason it is not one. A
 * member named twice is refused (RFC 7515 §4, RFC 8725 §3.1): parsers disagree on which copy
 * wins, so a gateway and this verifier could read different `alg`, `kid` or claims.
 */
function decodeSegment(
  segment: string,
): { readonly value: Record<string, unknown> } | { readonly error: string } {
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'not a JSON object' };
  }
  if (hasDuplicateMember(text)) return { error: 'a member named twice' };
  return { value: value as Record<string, unknown> };
}

/** True when an object anywhere in `text` (valid JSON) names a member twice, escapes decoded. */
function hasDuplicateMember(text: string): boolean {
  // One entry per open object (its member names so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = i + 1;
      let escaped = false;
      while (text.charCodeAt(end) !== 0x22) {
        if (text.charCodeAt(end) === 0x5c) {
          escaped = true;
          end += 1;
        }
        end += 1;
      }
      if (expectName) {
        const name = escaped
          ? (JSON.parse(text.slice(i, end + 1)) as string)
          : text.slice(i + 1, end);
        const names = open[open.length - 1]!;
        if (names.has(name)) return true;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = (open[open.length - 1] ?? null) !== null;
    }
  }
  return false;
}

/**
 * True when `segment` is the one base64url spelling of its bytes. Unused low bits in the last
 * character would otherwise give one signature many spellings (RSA and ECDSA verifiers decode
 * before comparing), so one token would have several fingerprints.
 */
function isCanonical(segment: string): boolean {
  return (
    segment.length % 4 !== 1 && Buffer.from(segment, 'base64url').toString('base64url') === segment
  );
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
  if (!B64URL.test(h) || !B64URL.test(p)) return fail('token_malformed', 'bad base64url');

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
  if (kid !== undefined && !isSafeId(kid, MAX_KID_LENGTH))
    return fail('token_malformed', 'bad kid');
  const key = policy.ring.select(kid);
  if (!key) return fail('key_unknown', 'no key for kid');
  if (key.alg !== alg) return fail('algorithm_not_allowed', 'alg does not match the key');
  if (s.length === 0) return fail('invalid_signature', 'signature missing');
  if (!B64URL.test(s)) return fail('token_malformed', 'bad base64url signature');
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
  if (!isSafeId(claims.sub, max)) return fail('token_claims_invalid', 'sub missing or invalid');
  if (!isSafeId(claims.jti, max)) return fail('token_claims_invalid', 'jti missing or invalid');
  if (!isSafeId(claims.iss, max)) return fail('issuer_invalid', 'iss missing or invalid');
  const client = claims.client_id ?? claims.azp;
  if (client !== undefined && !isSafeId(client, max)) {
    return fail('token_claims_invalid', 'client_id invalid');
  }
  const scopes = readScopes(claims, policy);
  if (!scopes) return fail('token_claims_invalid', 'scope claim invalid');

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
        audience: policy.audience,
        clockTolerance: policy.clockToleranceMs / 1000,
        clockTimestamp: Math.floor(nowMs / 1000),
      });
    } catch (error) {
      return mapLibraryError(error);
    }
  }

  const issuedAt = claims.iat * 1000;
  const expiresAt = claims.exp * 1000;
  if (issuedAt > nowMs + policy.clockToleranceMs) {
    return fail('token_not_yet_valid', 'iat in the future');
  }
  if (expiresAt <= issuedAt) return fail('token_claims_invalid', 'exp not after iat');
  if (expiresAt - issuedAt > policy.maxLifetimeMs) {
    return fail('token_lifetime_exceeded', 'exp - iat above the maximum lifetime');
  }
  return {
    ok: true,
    token: {
      tokenId: claims.jti,
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
  const audiences = Array.isArray(claims.aud) ? (claims.aud as unknown[]) : [claims.aud];
  const accepted: readonly string[] =
    typeof policy.audience === 'string' ? [policy.audience] : policy.audience;
  if (!audiences.some((a) => typeof a === 'string' && accepted.includes(a))) {
    return fail('audience_invalid', 'aud not accepted');
  }
  const issuers: readonly string[] =
    typeof policy.issuer === 'string' ? [policy.issuer] : policy.issuer;
  if (!issuers.includes(claims.iss as string)) return fail('issuer_invalid', 'iss not accepted');
  return undefined;
}

/** Scopes from `scope` (space-delimited, RFC 9068) plus the optional permissions array claim. */
function readScopes(
  claims: Record<string, unknown>,
  policy: JwtVerifyPolicy,
): readonly string[] | undefined {
  const out: string[] = [];
  const scope = claims.scope;
  if (scope !== undefined) {
    if (
      typeof scope !== 'string' ||
      scope.length > policy.maxClaimLength * 16 ||
      hasControlChar(scope)
    ) {
      return undefined;
    }
    for (const s of scope.split(' ')) if (s !== '') out.push(s);
  }
  if (policy.permissionsClaim !== undefined) {
    const extra = claims[policy.permissionsClaim];
    if (extra !== undefined) {
      if (!Array.isArray(extra) || extra.length > 1000) return undefined;
      for (const s of extra) {
        if (!isSafeId(s, policy.maxClaimLength) || s.includes(' ')) return undefined;
        out.push(s);
      }
    }
  }
  return out;
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
