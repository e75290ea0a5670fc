import type { Registry } from 'prom-client';

/** Prometheus settings. */
export interface MetricsOptions {
  /** Registry to register into. Default: a fresh registry owned by the warden (never the global one). */
  readonly registry?: Registry;
  /** Metric name prefix. Default: `'tokenwarden_'`. */
  readonly prefix?: string;
}

/** Outcome of a scope or consent check. */
export type CheckOutcome = 'pass' | 'fail';

/** What became of audit events. */
export type AuditResult = 'written' | 'failed' | 'spooled' | 'replayed' | 'dropped';

/** The local caches: verified tokens, and revocation/consent state. */
export type CacheName = 'token' | 'state';

/** A cache look-up's result; `bypass` when the cache may not be trusted (invalidations lost). */
export type CacheResult = 'hit' | 'miss' | 'bypass';

/**
 * Where a refused credential was seen (the `place` label of
 * `tokenwarden_credential_exposed_total`, a closed list): `query`, a URL's query string.
 */
export type ExposurePlace = 'query';

/** The metrics the pipeline records. Implemented on prom-client, or as a no-op. */
export interface WardenMetrics {
  /** One decision: its outcome, reason and the time it took. */
  decision(outcome: 'allow' | 'deny', reason: string, seconds: number): void;
  /** Age of a token when it was used. */
  tokenAge(seconds: number): void;
  scopeCheck(outcome: CheckOutcome): void;
  consentCheck(purpose: string, outcome: CheckOutcome, reason: string): void;
  /** One store call: its duration and whether it failed. */
  storeCall(operation: string, seconds: number, failed: boolean): void;
  /** The store's state was found lost (`true`), or is current again (`false`). */
  storeStateLost(lost: boolean): void;
  revocation(kind: 'token' | 'subject' | 'client' | 'all'): void;
  /** Audit events delivered, failed, spooled, replayed from the spool, or dropped. */
  auditEvents(result: AuditResult, count: number): void;
  /** Events waiting in the audit queue. */
  auditQueueDepth(depth: number): void;
  /** One audit sink write: its duration and whether it failed. */
  auditSinkWrite(seconds: number, failed: boolean): void;
  /** One local cache look-up. */
  cacheLookup(cache: CacheName, result: CacheResult): void;
  /** One token issued to a client; pass a client of the policy, or `'other'`. */
  tokenIssued(client: string): void;
  /** A new signing key became the active one. */
  signingKeyRotation(): void;
  /** Age of the active signing key, in seconds. */
  signingKeyAge(seconds: number): void;
  /** API keys that expire within the warning window. */
  apiKeysExpiringSoon(count: number): void;
  /** An already-used refresh token was presented again. */
  refreshReuseDetected(): void;
  /** Lifetime (`exp - iat`) of a token used, in seconds. */
  tokenLifetime(seconds: number): void;
  /** One DPoP check: a proof bound the token, a Bearer token was allowed, or it failed. */
  dpopCheck(result: 'dpop' | 'bearer' | 'fail'): void;
  /** One usage-limit rule checked (`rule` is a configured rule name, or `'any'`). */
  usageLimit(rule: string, outcome: 'allow' | 'limited' | 'unavailable'): void;
  /** One fetch of an identity provider's discovery document or JWKS. */
  keySourceFetch(source: 'discovery' | 'jwks', outcome: 'ok' | 'error'): void;
  /**
   * A credential seen in a refused place (see {@link ExposurePlace}). Optional, so metrics
   * written before it still fit; the warden's own always count it.
   */
  credentialExposed?(place: ExposurePlace): void;
  /** Prometheus text exposition of the registry. */
  render(): Promise<string>;
  /** Content type of {@link WardenMetrics.render}. */
  readonly contentType: string;
}
