import { ConfigError, TokenwardenError, type ErrorCode } from '../errors';
import type { Clock } from '../internal/clock';
import type { Logger } from '../internal/logger';
import type { WardenMetrics } from '../metrics/types';
import type { ApiKeyRecord, ApiKeyRotation, CredentialStore } from '../store/credential-types';
import type { AuditRecorder, TokenRevoker } from './lifecycle';

/** Per-client limits on API keys, e.g. from the policy file. */
export interface ApiKeyClientRules {
  /** Scopes keys of this client may carry. Absent: any scope. */
  readonly allowedScopes?: readonly string[];
  /** Longest a key of this client may live, in ms. Absent: the global maximum. */
  readonly maxAgeMs?: number;
}

/** Options of {@link ApiKeys}. */
export interface ApiKeysOptions {
  /** Where key records go (hashes only). */
  readonly store: CredentialStore;
  /** Lifecycle audit events (`apikey.created|rotated|revoked`). Default: none. */
  readonly audit?: AuditRecorder;
  /**
   * Also revokes a revoked key's id in the warden's revocation list (until the key's expiry), so
   * nodes that cache verified credentials refuse it as fast as any revoked token: the warden, or
   * `createAdmin` over the store the API nodes read. Default: none (the key record alone).
   */
  readonly revoker?: TokenRevoker;
  /** For the `tokenwarden_api_keys_expiring_soon` gauge. Default: none. */
  readonly metrics?: Pick<WardenMetrics, 'apiKeysExpiringSoon'>;
  /** Environment in new keys' prefix. Default: `'live'`. */
  readonly environment?: string;
  /** Longest any key may live, in ms; every key expires. Default: 90 days. */
  readonly maxAgeMs?: number;
  /** Lifetime of a new key when none is asked for, in ms. Default: `maxAgeMs`. */
  readonly defaultAgeMs?: number;
  /** How long the old key keeps working after a rotation, in ms. Default: 24 h. */
  readonly defaultOverlapMs?: number;
  /**
   * Per-client rules (allowed scopes, maximum age), e.g. from the policy file. Return
   * `undefined` for a client without rules; throw a ConfigError to refuse unknown clients.
   */
  readonly clientRules?: (client: string) => ApiKeyClientRules | undefined;
  /** Window of the expiring-soon count, in ms. Default: 7 days. */
  readonly expiringSoonMs?: number;
  /** How often {@link ApiKeys.start} recounts the expiring-soon gauge, in ms. Default: 1 hour. */
  readonly reportIntervalMs?: number;
  /** Warnings when a scheduled count fails. Default: stderr. */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** The parts of a loaded policy file (a `Policy`) that {@link apiKeyOptionsFromPolicy} reads. */
export interface ApiKeyPolicy {
  readonly limits: { readonly maxApiKeyAgeMs: number };
  readonly clients: Readonly<
    Record<string, { readonly scopes: readonly string[]; readonly apiKeyMaxAgeMs?: number }>
  >;
}

/**
 * The API-key settings a policy file drives: the global maximum age (`limits.maxApiKeyAge`), and
 * per client its allowed scopes and `apiKeyMaxAge`. A client missing from the policy is refused.
 *
 * @example
 * const apiKeys = new ApiKeys({ store, audit: warden, ...apiKeyOptionsFromPolicy(policy) });
 */
export function apiKeyOptionsFromPolicy(
  policy: ApiKeyPolicy,
): Required<Pick<ApiKeysOptions, 'maxAgeMs' | 'clientRules'>> {
  return {
    maxAgeMs: policy.limits.maxApiKeyAgeMs,
    clientRules: (client) => {
      const rules = Object.prototype.hasOwnProperty.call(policy.clients, client)
        ? policy.clients[client]
        : undefined;
      if (rules === undefined) {
        throw new ConfigError(
          `client '${client}' is not in the policy; add it under 'clients' (declared: ${Object.keys(policy.clients).join(', ') || 'none'})`,
        );
      }
      return { allowedScopes: rules.scopes, maxAgeMs: rules.apiKeyMaxAgeMs };
    },
  };
}

/** What to create. */
export interface CreateApiKeyInput {
  readonly client: string;
  /** Subject of the principal the key yields. Default: the client. */
  readonly subject?: string;
  readonly scopes: readonly string[];
  /** Lifetime in ms; capped by the maximum age. Default: the default age. */
  readonly expiresInMs?: number;
  /** A label for people. */
  readonly name?: string;
  /** Who created it, for the audit trail. */
  readonly actor?: string;
}

/** Options of {@link ApiKeys.rotate}. */
export interface RotateApiKeyOptions {
  /** How long the old key keeps working, in ms. Default: the configured overlap (24 h). */
  readonly overlapMs?: number;
  /** Lifetime of the new key in ms; capped by the maximum age. Default: the old key's lifetime. */
  readonly expiresInMs?: number;
  readonly actor?: string;
}

/** A new key: `key` is shown once and never stored; keep it now. */
export interface IssuedApiKey {
  /** The API key itself. Give it to the client; it cannot be recovered later. */
  readonly key: string;
  /** The stored record (hash only). */
  readonly record: ApiKeyRecord;
}

/** Why an API-key operation was refused. */
export type ApiKeyRefusal = Exclude<ApiKeyRotation['status'], 'rotated'>;

const REFUSAL_CODES = {
  not_found: 'api_key_unknown',
  revoked: 'api_key_revoked',
  expired: 'api_key_expired',
  replaced: 'api_key_replaced',
} as const satisfies Record<ApiKeyRefusal, ErrorCode>;

/**
 * An API-key operation refused for a reason the caller should show: `api_key_unknown`,
 * `api_key_revoked`, `api_key_expired` or `api_key_replaced`.
 */
export class ApiKeyError extends TokenwardenError {
  declare readonly code: (typeof REFUSAL_CODES)[ApiKeyRefusal];
  /** @deprecated Switch on {@link ApiKeyError.code}; `reason` is its older spelling. */
  readonly reason: ApiKeyRefusal;

  constructor(reason: ApiKeyRefusal, message: string) {
    super(REFUSAL_CODES[reason], message);
    this.reason = reason;
  }
}
