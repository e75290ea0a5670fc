import { API_KEY_TYPE, hashCredential, parseCredential } from '../internal/credential-format';
import { ApiKeyError } from '../issue/api-key-options';
import { ApiKeys } from '../issue/api-keys';
import type { AuditRecorder, TokenRevoker } from '../issue/lifecycle';
import { RefreshTokens } from '../issue/refresh';
import type { Clock } from '../internal/clock';
import type { ApiKeyRecord, CredentialStore, RefreshFamily } from '../store/credential-types';

/**
 * A stored credential a leaked secret turned out to be, found by the SHA-256 of the secret (the
 * only form stores keep): an API key's record, or the refresh-token family the token belongs to.
 */
export type StoredCredential =
  | { readonly kind: 'api_key'; readonly record: ApiKeyRecord }
  | { readonly kind: 'refresh_token'; readonly family: RefreshFamily };

/** The look-ups {@link findStoredCredential} makes. */
export type CredentialLookup = Pick<CredentialStore, 'findApiKey' | 'findRefreshFamily'>;

/**
 * Finds the API key (`twk_…`) or refresh-token family (`twr_…`) a secret belongs to, by its hash:
 * format and checksum first (a look-alike costs no round trip), then one look-up. Undefined for
 * anything else, or when the store holds no such credential (expired and removed, or another
 * deployment's). Rejects only when the store fails. The secret goes nowhere but the hash.
 */
export async function findStoredCredential(
  secret: string,
  store: CredentialLookup,
): Promise<StoredCredential | undefined> {
  const parsed = parseCredential(secret);
  if (!parsed.ok) return undefined;
  const hash = hashCredential(secret);
  if (parsed.value.type === API_KEY_TYPE) {
    const record = await store.findApiKey(hash);
    // A store answers by hash; the record's own hash is compared too, so a store that answers
    // loosely (a prefix index, a bug) never revokes someone else's key.
    return record !== undefined && record.hash === hash ? { kind: 'api_key', record } : undefined;
  }
  const family = await store.findRefreshFamily(hash);
  return family === undefined ? undefined : { kind: 'refresh_token', family };
}

/** True while a stored credential still works: not revoked and not expired at `now` (epoch ms). */
export function isStoredCredentialLive(found: StoredCredential, now: number): boolean {
  const record = found.kind === 'api_key' ? found.record : found.family;
  return record.revokedAt === undefined && record.expiresAt > now;
}

/** The public id of a stored credential (`ak_…`, `rf_…`): safe to log and audit. */
export function storedCredentialId(found: StoredCredential): string {
  return found.kind === 'api_key' ? found.record.keyId : found.family.familyId;
}

/** Who revokes a found credential, and where its audit events go. */
export interface StoredCredentialRevoker {
  /** The credential store the credential was found in. */
  readonly store: CredentialStore;
  /** Revokes the key's id, and the access tokens issued from a refresh family: a warden or admin. */
  readonly revoker: TokenRevoker;
  /** Where `apikey.revoked` and `token.revoked` go: a warden or admin. */
  readonly audit?: AuditRecorder;
  readonly clock?: Clock;
}

/**
 * Revokes a found credential at once, as `tokenwarden revoke` does: an API key (its record and
 * its id in the revocation list), or a refresh-token family with the access tokens issued from
 * it. Audited by the services that do it (`apikey.revoked`, `token.revoked`). Resolves false
 * when the credential was gone by the time of the revocation.
 */
export async function revokeStoredCredential(
  found: StoredCredential,
  parties: StoredCredentialRevoker,
  options: { readonly actor?: string; readonly reason?: string } = {},
): Promise<boolean> {
  const { store, revoker, audit, clock } = parties;
  const common = { store, revoker, ...(audit ? { audit } : {}), ...(clock ? { clock } : {}) };
  if (found.kind === 'refresh_token') {
    return new RefreshTokens(common).revokeFamily(found.family.familyId, options);
  }
  try {
    await new ApiKeys(common).revoke(found.record.keyId, options);
    return true;
  } catch (error) {
    // Removed between the look-up and the revocation: nothing is left to refuse.
    if (error instanceof ApiKeyError) return false;
    throw error;
  }
}
