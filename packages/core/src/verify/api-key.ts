import type { ErrorCode } from '../errors';
import { API_KEY_TYPE, hashCredential, parseCredential } from '../internal/credential-format';
import type { CredentialStore } from '../store/credential-types';
import type { VerifyDetail } from './details';
import type { VerifiedToken, VerifyResult } from './jwt';

/** The `issuer` of a principal that authenticated with an API key. */
export const API_KEY_ISSUER = 'urn:tokenwarden:api-key';

/** What API-key verification needs. */
export interface ApiKeyVerifyPolicy {
  /** Where key records are looked up by hash. */
  readonly store: Pick<CredentialStore, 'findApiKey'>;
  /**
   * Environments accepted in the key prefix, e.g. `['live']` in production so a `test` key is
   * refused before any look-up. Default: any.
   */
  readonly environments?: readonly string[];
  /** Notes each successful use, e.g. an `ApiKeyUsage` (batched last-used times). */
  readonly usage?: { record(keyId: string, at: number): void };
}

/**
 * True when a credential has the API-key prefix (`twk_`): the warden sends it to
 * {@link verifyApiKey} instead of JWT verification. A JWT never starts with it (its first
 * segment is base64url JSON, `eyJ…`).
 */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(`${API_KEY_TYPE}_`);
}

function fail(code: ErrorCode, detail: VerifyDetail): VerifyResult {
  return { ok: false, failure: { code, detail } };
}

/**
 * Verifies an API key and returns the same {@link VerifiedToken} a JWT yields, so scopes,
 * consent, revocation (by key id as token id, by subject, by client), metrics and audit apply
 * unchanged. The token id is the key id; `issuedAt` is the key's creation time (so a not-before
 * mark of its subject or client refuses keys created before the mark); `expiresAt` its expiry.
 *
 * Format and checksum are checked before any look-up (a typo costs nothing). Then one store
 * look-up by SHA-256 hash. Never throws: a store failure is `store_unavailable`.
 *
 * Failures: `token_malformed` (format, checksum, not an API key), `key_unknown` (no such key,
 * or an environment not accepted), `token_revoked`, `token_expired`, `store_unavailable`.
 */
export async function verifyApiKey(
  credential: string,
  policy: ApiKeyVerifyPolicy,
  nowMs: number,
): Promise<VerifyResult> {
  const parsed = parseCredential(credential);
  if (!parsed.ok) {
    return fail(
      'token_malformed',
      parsed.error === 'checksum' ? 'API key checksum mismatch' : 'not an API key',
    );
  }
  if (parsed.value.type !== API_KEY_TYPE) return fail('token_malformed', 'not an API key');
  const { environment } = parsed.value;
  if (policy.environments !== undefined && !policy.environments.includes(environment)) {
    return fail('key_unknown', 'API key environment not accepted');
  }
  const hash = hashCredential(credential);
  let record;
  try {
    record = await policy.store.findApiKey(hash);
  } catch {
    return fail('store_unavailable', 'API key look-up failed');
  }
  if (record === undefined || record.hash !== hash) return fail('key_unknown', 'no such API key');
  if (record.revokedAt !== undefined && record.revokedAt <= nowMs) {
    return fail('token_revoked', 'API key revoked');
  }
  if (record.expiresAt <= nowMs) return fail('token_expired', 'API key expired');
  policy.usage?.record(record.keyId, nowMs);
  const token: VerifiedToken = {
    tokenId: record.keyId,
    subject: record.subject,
    client: record.client,
    issuer: API_KEY_ISSUER,
    scopes: record.scopes,
    issuedAt: record.createdAt,
    expiresAt: record.expiresAt,
    kid: undefined,
    claims: {
      token_type: 'api_key',
      key_id: record.keyId,
      env: record.environment,
      ...(record.name === undefined ? {} : { name: record.name }),
    },
  };
  return { ok: true, token };
}
