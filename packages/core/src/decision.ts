import type { ErrorCode } from './errors';
import type { LawfulBasis } from './policy/requirement';

/** Who is calling, from a token that passed every check. Times in epoch ms. */
export interface Principal {
  /** The token's subject (`sub`). */
  readonly subject: string;
  /** The client the token was issued to (`client_id`, else `azp`), if named. */
  readonly client?: string;
  /** Scopes from `scope` (and the permissions claim, when configured). */
  readonly scopes: readonly string[];
  /** The token id (`jti`). */
  readonly tokenId: string;
  readonly issuer: string;
  /** `iat`, epoch ms. */
  readonly issuedAt: number;
  /** `exp`, epoch ms. */
  readonly expiresAt: number;
  /** All claims, as verified. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Why an allowed request was allowed. */
export type AllowReason = 'authorized' | 'public_route' | 'lawful_basis' | 'consent';

/** The request may proceed. `principal` is absent on a public route called without a token. */
export interface AllowDecision {
  readonly outcome: 'allow';
  readonly reason: AllowReason;
  readonly principal?: Principal;
  /** The data subject whose consent was checked, on consent routes. */
  readonly dataSubject?: string;
  readonly purpose?: string;
  readonly lawfulBasis?: LawfulBasis | 'consent';
  /**
   * Headers for the response (`RateLimit`, `RateLimit-Policy`, a fresh `DPoP-Nonce`), lower-case
   * names; adapters set them before the handler runs. Absent when there are none.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/** RFC 9457 problem details, as sent in the body of a denial. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  /** The stable error code. */
  readonly code: ErrorCode;
  readonly detail?: string;
}

/** The request is refused. Adapters write `status`, `headers` and `body` as they are. */
export interface DenyDecision {
  readonly outcome: 'deny';
  readonly status: 400 | 401 | 403 | 429 | 503;
  readonly code: ErrorCode;
  /** Safe for clients: no token, no claim values. */
  readonly message: string;
  /**
   * Which check failed, when known (`'jti missing (…)'`, `'exp passed'`): claim names, option
   * names and rules only, never a claim value, key or token text. Also the body's `detail` and
   * the audit event's `detail.failure`.
   */
  readonly detail?: string;
  /**
   * `WWW-Authenticate`, `Content-Type`, `Cache-Control`, `Retry-After`, `DPoP-Nonce`, `RateLimit`
   * as needed.
   */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ProblemDetails;
}

/** The result of a check. Denials are values, not exceptions. */
export type Decision = AllowDecision | DenyDecision;

/** Narrows a decision to a denial. */
export function isDenied(decision: Decision): decision is DenyDecision {
  return decision.outcome === 'deny';
}

/** The `Content-Type` of denial bodies. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<ErrorCode, string> = {
  token_missing: 'An access token is required',
  token_malformed: 'The access token is malformed',
  token_too_large: 'The access token is too large',
  token_multiple: 'Send exactly one access token',
  token_expired: 'The access token has expired',
  token_not_yet_valid: 'The access token is not valid yet',
  token_lifetime_exceeded: 'The access token lives longer than allowed',
  token_revoked: 'The access token has been revoked',
  token_claims_invalid: 'The access token claims are invalid',
  invalid_signature: 'The access token signature is invalid',
  key_unknown: 'The access token is signed with an unknown key',
  algorithm_not_allowed: 'The access token algorithm is not allowed',
  issuer_invalid: 'The access token issuer is not accepted',
  audience_invalid: 'The access token audience is not accepted',
  key_source_unavailable: 'The keys of the token issuer are temporarily unavailable',
  dpop_proof_invalid: 'The DPoP proof is invalid',
  dpop_proof_replayed: 'The DPoP proof has been used before',
  dpop_nonce_required: 'A DPoP nonce from this server is required',
  dpop_required: 'This route requires a DPoP-bound access token',
  dpop_binding_mismatch: 'The access token is not bound to the DPoP proof key',
  dpop_proof_limit_exceeded: 'Too many DPoP proofs from this caller; retry later',
  insufficient_scope: 'The access token lacks a required scope',
  claim_check_failed: 'The access token claims do not meet the requirements of this route',
  consent_missing: 'The data subject has not consented to this purpose',
  consent_withdrawn: 'The data subject has withdrawn consent for this purpose',
  consent_expired: 'The data subject consent for this purpose has expired',
  data_subject_unresolved: 'The data subject of this request could not be determined',
  store_unavailable: 'Authorization state is temporarily unavailable',
  store_state_lost: 'Authorization state was lost and is being restored',
  store_capacity: 'Authorization state is full',
  usage_limit_exceeded: 'The usage limit of this credential is exhausted',
  audit_unavailable: 'The audit trail is temporarily unavailable',
  config_invalid: 'Tokenwarden is misconfigured',
  issue_refused: 'The token request was refused',
  api_key_unknown: 'The API key is unknown',
  api_key_revoked: 'The API key has been revoked',
  api_key_expired: 'The API key has expired',
  api_key_replaced: 'The API key has already been rotated',
  secret_unreadable: 'A stored secret cannot be read',
  signing_key_invalid: 'The stored signing key set was refused',
  audit_spool_full: 'The audit spool is full',
  audit_source_invalid: 'The audit source cannot be read',
  cli_usage: 'The command was used wrongly',
  cli_failed: 'The command failed',
};

/** Safe, fixed title of a code. */
export function titleOf(code: ErrorCode): string {
  return TITLES[code];
}

const STATUS: Partial<Record<ErrorCode, 400 | 403 | 429 | 503>> = {
  token_multiple: 400,
  insufficient_scope: 403,
  claim_check_failed: 403,
  consent_missing: 403,
  consent_withdrawn: 403,
  consent_expired: 403,
  data_subject_unresolved: 403,
  store_unavailable: 503,
  store_state_lost: 503,
  key_source_unavailable: 503,
  usage_limit_exceeded: 429,
  dpop_proof_limit_exceeded: 429,
  audit_unavailable: 503,
  store_capacity: 503,
  config_invalid: 503,
};

/**
 * Builds the denial for a code: status, RFC 6750 header and problem+json body. `extra` headers
 * (lower-case names) are added last and win: a DPoP challenge, `RateLimit`, `Retry-After`.
 * `detail`, which check failed, goes into the body (never into the challenge): it must name
 * claims and rules only, never a value from the request.
 */
export function deny(
  code: ErrorCode,
  realm: string,
  scope?: readonly string[],
  extra?: Readonly<Record<string, string>>,
  detail?: string,
): DenyDecision {
  const status = STATUS[code] ?? 401;
  const title = TITLES[code];
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
  };
  if (status === 401) {
    headers['www-authenticate'] =
      code === 'token_missing'
        ? bareChallenge(realm)
        : `Bearer realm="${realm}", error="invalid_token", error_description="${title}"`;
  } else if (status === 400) {
    headers['www-authenticate'] =
      `Bearer realm="${realm}", error="invalid_request", error_description="${title}"`;
  } else if (code === 'insufficient_scope') {
    headers['www-authenticate'] =
      `Bearer realm="${realm}", error="insufficient_scope", error_description="${title}", scope="${(scope ?? []).join(' ')}"`;
  } else if (status === 503) {
    headers['retry-after'] = '1';
  }
  if (extra) for (const name in extra) headers[name] = extra[name]!;
  const type = `urn:tokenwarden:error:${code}`;
  if (detail === undefined) {
    return {
      outcome: 'deny',
      status,
      code,
      message: title,
      headers,
      body: { type, title, status, code },
    };
  }
  return {
    outcome: 'deny',
    status,
    code,
    message: title,
    detail,
    headers,
    body: { type, title, status, code, detail },
  };
}

/**
 * The denial of a request that carries no Bearer credential but another scheme's (`Basic`, a
 * bare value): {@link deny} for `code`, with the challenge of a request without credentials, no
 * error code (RFC 6750 §3.1). The body and the audit event keep `code`.
 */
export function denyOtherScheme(code: ErrorCode, realm: string): DenyDecision {
  const decision = deny(code, realm);
  if (decision.status !== 401) return decision;
  return {
    ...decision,
    headers: { ...decision.headers, 'www-authenticate': bareChallenge(realm) },
  };
}

/** The Bearer challenge without error code, for a request that lacks a Bearer credential. */
function bareChallenge(realm: string): string {
  return `Bearer realm="${realm}"`;
}
