import { verifyJwt, type JwtVerifyPolicy, type VerifiedToken } from '../verify/jwt';

/** A JWT found to be this warden's own, and whether it still works. */
export interface OwnJwt {
  readonly token: VerifiedToken;
  /** False once it has expired: nothing is left to revoke, but it was a real credential. */
  readonly live: boolean;
}

/**
 * Whether a JWT is this warden's own: its signature verifies against the warden's keys (`jwt`),
 * with the warden's algorithms, issuer and audience; every other check of the request path
 * applies too. A token that fails only because it has expired is checked again at its own expiry
 * instant, so an expired token of ours is still recognised (and answered as real) without being
 * revoked. Tokens of trusted issuers (an identity provider's) are not ours: the issuer revokes
 * them. Never throws; a key that must be fetched first (a key resolver) is asked once.
 */
export async function ownJwt(
  token: string,
  policy: JwtVerifyPolicy | undefined,
  now: number,
): Promise<OwnJwt | undefined> {
  if (policy === undefined || token.split('.').length !== 3) return undefined;
  let result = verifyJwt(token, policy, now);
  if (!result.ok && result.keyRequest !== undefined && policy.ring.prepare !== undefined) {
    try {
      await policy.ring.prepare(result.keyRequest.kid, result.keyRequest.alg);
    } catch {
      return undefined;
    }
    result = verifyJwt(token, policy, now);
  }
  if (result.ok) return { token: result.token, live: true };
  if (result.failure.code !== 'token_expired') return undefined;
  const exp = expiryOf(token);
  if (exp === undefined) return undefined;
  const then = verifyJwt(token, policy, exp - 1);
  return then.ok ? { token: then.token, live: false } : undefined;
}

/** The `exp` of a JWT's payload in epoch ms, unverified; undefined when there is none. */
function expiryOf(token: string): number | undefined {
  try {
    const payload: unknown = JSON.parse(
      Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'),
    );
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
