/**
 * Stable, machine-readable codes, each with a section in docs/error-codes.md. Denials carry one in
 * their problem+json body and audit event; configuration mistakes throw a {@link ConfigError}
 * with `config_invalid`; errors of operations outside a request (issuance, API-key management,
 * stored secrets, the audit spool, reports, the CLI) carry the codes after it.
 */
export type ErrorCode =
  | 'token_missing'
  | 'token_malformed'
  | 'token_too_large'
  | 'token_multiple'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_lifetime_exceeded'
  | 'token_revoked'
  | 'token_claims_invalid'
  | 'invalid_signature'
  | 'key_unknown'
  | 'algorithm_not_allowed'
  | 'issuer_invalid'
  | 'audience_invalid'
  | 'key_source_unavailable'
  | 'dpop_proof_invalid'
  | 'dpop_proof_replayed'
  | 'dpop_nonce_required'
  | 'dpop_required'
  | 'dpop_binding_mismatch'
  | 'dpop_proof_limit_exceeded'
  | 'insufficient_scope'
  | 'claim_check_failed'
  | 'consent_missing'
  | 'consent_withdrawn'
  | 'consent_expired'
  | 'data_subject_unresolved'
  | 'store_unavailable'
  | 'store_state_lost'
  | 'store_capacity'
  | 'usage_limit_exceeded'
  | 'audit_unavailable'
  | 'config_invalid'
  | 'issue_refused'
  | 'api_key_unknown'
  | 'api_key_revoked'
  | 'api_key_expired'
  | 'api_key_replaced'
  | 'secret_unreadable'
  | 'signing_key_invalid'
  | 'audit_spool_full'
  | 'audit_source_invalid'
  | 'cli_usage'
  | 'cli_failed';

/**
 * Base class of every error Tokenwarden throws on purpose. Messages never contain a token or
 * secret.
 *
 * @example
 * try { await apiKeys.rotate(keyId); }
 * catch (error) { if (error instanceof TokenwardenError && error.code === 'api_key_revoked') ... }
 */
export class TokenwardenError extends Error {
  /** Stable machine code; switch on it, not on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A configuration mistake found at start-up. The message says which option and what to change. */
export class ConfigError extends TokenwardenError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/** The store could not answer (down, slow, refusing writes). */
export class StoreUnavailableError extends TokenwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options);
  }
}

/**
 * The store's state was lost: the epoch (generation id) of its state is gone or was replaced, as
 * when Redis restarts empty, is flushed, or fails over to a replica that never received the
 * writes. Requests are refused with 503 `store_state_lost` until `tokenwarden state restore`
 * rebuilds the state from the audit trail or `tokenwarden state accept-loss` accepts the loss.
 */
export class StoreStateLostError extends TokenwardenError {
  /**
   * `'lost'`: the epoch the store knew (or a recorded loss) is there instead of the state;
   * `'missing'`: the store has no epoch and may not create one (`epoch: 'require'`).
   */
  readonly reason: 'lost' | 'missing';
  /** When the loss was first noticed (epoch ms), when the store knows. */
  readonly since: number | undefined;

  constructor(message: string, options: { reason: 'lost' | 'missing'; since?: number }) {
    super('store_state_lost', message);
    this.reason = options.reason;
    this.since = options.since;
  }
}

/** The store refused a write because it is full; nothing was dropped to make room. */
export class StoreCapacityError extends TokenwardenError {
  constructor(message: string) {
    super('store_capacity', message);
  }
}
