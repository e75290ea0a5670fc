/** Metric names (without prefix), help texts and label names. Labels only take bounded values. */
export const METRICS = {
  decisions: {
    name: 'decisions_total',
    help: 'Access decisions by outcome (allow, deny) and reason (an error code or allow reason).',
    labels: ['outcome', 'reason'] as const,
  },
  decisionDuration: {
    name: 'decision_duration_seconds',
    help: 'Time to reach an access decision, including store calls.',
    labels: ['outcome'] as const,
  },
  tokenAge: {
    name: 'token_age_seconds',
    help: 'Age of tokens (now - iat) when used.',
    labels: [] as const,
  },
  scopeChecks: {
    name: 'scope_checks_total',
    help: 'Scope checks by outcome (pass, fail).',
    labels: ['outcome'] as const,
  },
  consentChecks: {
    name: 'consent_checks_total',
    help: 'Consent checks by purpose, outcome (pass, fail) and reason.',
    labels: ['purpose', 'outcome', 'reason'] as const,
  },
  storeDuration: {
    name: 'store_operation_duration_seconds',
    help: 'Duration of store calls by operation.',
    labels: ['operation'] as const,
  },
  storeErrors: {
    name: 'store_errors_total',
    help: 'Failed store calls by operation.',
    labels: ['operation'] as const,
  },
  storeStateLost: {
    name: 'store_state_lost',
    help: 'Whether this process finds the store state lost (1: requests are refused with store_state_lost until the state is restored) or current (0).',
    labels: [] as const,
  },
  storeStateLosses: {
    name: 'store_state_losses_total',
    help: 'Times this process found the store state lost (its epoch gone or replaced).',
    labels: [] as const,
  },
  revocations: {
    name: 'revocations_total',
    help: 'Revocations by kind (token, subject, client, all).',
    labels: ['kind'] as const,
  },
  auditEvents: {
    name: 'audit_events_total',
    help: 'Audit events by result: written to a sink, failed, spooled to local disk, replayed from the spool, dropped.',
    labels: ['result'] as const,
  },
  auditQueueDepth: {
    name: 'audit_queue_depth',
    help: 'Audit events waiting for delivery to the sinks.',
    labels: [] as const,
  },
  auditSinkDuration: {
    name: 'audit_sink_write_duration_seconds',
    help: 'Duration of audit sink writes (one batch each), by outcome (ok, error).',
    labels: ['outcome'] as const,
  },
  cacheLookups: {
    name: 'cache_lookups_total',
    help: 'Local cache look-ups by cache (token, state) and result (hit, miss, bypass).',
    labels: ['cache', 'result'] as const,
  },
  tokensIssued: {
    name: 'tokens_issued_total',
    help: 'Tokens issued, by client (clients of the policy only, else other).',
    labels: ['client'] as const,
  },
  signingKeyRotations: {
    name: 'signing_key_rotations_total',
    help: 'Signing key rotations: a new key became the active one.',
    labels: [] as const,
  },
  signingKeyAge: {
    name: 'signing_key_age_seconds',
    help: 'Age of the active signing key.',
    labels: [] as const,
  },
  apiKeysExpiringSoon: {
    name: 'api_keys_expiring_soon',
    help: 'API keys that expire within the warning window.',
    labels: [] as const,
  },
  refreshReuseDetected: {
    name: 'refresh_reuse_detected_total',
    help: 'Already-used refresh tokens presented again (their family was revoked).',
    labels: [] as const,
  },
  tokenLifetime: {
    name: 'token_lifetime_seconds',
    help: 'Lifetime (exp - iat) of tokens used.',
    labels: [] as const,
  },
  dpopChecks: {
    name: 'dpop_checks_total',
    help: 'DPoP checks by result: dpop (a proof bound the token), bearer (no proof, allowed), fail.',
    labels: ['result'] as const,
  },
  usageLimitChecks: {
    name: 'usage_limit_checks_total',
    help: 'Usage-limit checks by rule and outcome (allow, limited, unavailable).',
    labels: ['rule', 'outcome'] as const,
  },
  credentialExposed: {
    name: 'credential_exposed_total',
    help: 'Credentials seen in a refused place (query: the URL query string), by place.',
    labels: ['place'] as const,
  },
  keySourceFetches: {
    name: 'key_source_fetches_total',
    help: 'Fetches of identity-provider discovery documents and JWKS by source (discovery, jwks) and outcome (ok, error).',
    labels: ['source', 'outcome'] as const,
  },
} as const;
