/**
 * Every reason a credential can fail verification. A denial carries one as the problem body's
 * `detail` and the audit event's `detail.failure`, so it is written for the developer who reads
 * the 401: claim names, option names and the rule that failed, never a claim value, key
 * material or any text of the token. Being a fixed list (the type below is its union), a detail
 * cannot interpolate request data, and a denial can be built once per code and detail.
 */
export const VERIFY_DETAILS = [
  // The compact serialisation (RFC 7515 §7.1).
  'not a compact JWS',
  'header or payload not base64url',
  'header: not JSON',
  'header: not a JSON object',
  'header: a member named twice',
  'payload: not JSON',
  'payload: not a JSON object',
  'payload: a member named twice',
  'signature missing',
  'signature not base64url',
  'non-canonical base64url',
  // The header.
  'alg not in allowlist',
  'typ names another kind of token',
  'crit header not supported',
  'b64 header not supported',
  'jku header refused',
  'jwk header refused',
  'x5u header refused',
  'kid invalid: must be 1 to 256 characters, no control characters',
  // The key.
  'no key for kid',
  'alg does not match the key',
  'the key source could not answer',
  'the keys of a trusted issuer could not be read',
  // The signature.
  'signature mismatch',
  'signature rejected',
  'rejected by the JWT library',
  // The claims.
  'exp missing or not a number',
  'iat missing or not a number',
  'nbf not a number',
  'sub missing',
  'sub invalid: must be 1 to maxClaimLength characters, no control characters',
  'jti missing (requireTokenId: false accepts tokens without one)',
  'jti invalid: must be 1 to maxClaimLength characters, no control characters',
  'iss missing',
  'iss invalid: must be 1 to maxClaimLength characters, no control characters',
  'client claim invalid: must be 1 to maxClaimLength characters, no control characters',
  'scope is not a space-delimited string (scopeClaimFormat)',
  'scope is neither a space-delimited string nor a list of scope names',
  'permissionsClaim: a claim is neither a list of scope names nor a space-delimited string',
  'aud missing',
  'aud not accepted',
  'audienceClaim: the claim is missing',
  'audienceClaim: the claim is not accepted',
  'iss not accepted',
  'exp passed',
  'nbf in the future',
  'iat in the future',
  'exp not after iat',
  'exp - iat exceeds the maximum lifetime (maxLifetimeMs)',
  // Trusted issuers (the unverified `iss` picks the issuer).
  'not a readable compact JWS',
  'iss is not a trusted issuer',
  // API keys.
  'not an API key',
  'API key checksum mismatch',
  'API key environment not accepted',
  'API key look-up failed',
  'no such API key',
  'API key revoked',
  'API key expired',
] as const;

/** Why a credential failed verification: one of {@link VERIFY_DETAILS}. */
export type VerifyDetail = (typeof VERIFY_DETAILS)[number];
