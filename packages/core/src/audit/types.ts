import type { ErrorCode } from '../errors';
import type { LawfulBasis } from '../policy/requirement';

/** What happened. */
export type AuditEventType =
  | 'access.decision'
  | 'token.revoked'
  | 'subject.revoked'
  | 'client.revoked'
  | 'all.revoked'
  | 'consent.granted'
  | 'consent.withdrawn'
  | 'consent.expired'
  | 'token.issued'
  | 'token.refreshed'
  | 'refresh.reuse_detected'
  | 'apikey.created'
  | 'apikey.rotated'
  | 'apikey.revoked'
  | 'signing_key.created'
  | 'signing_key.rotated'
  | 'signing_key.retired';

/** Outcome of an event: access decisions allow or deny; lifecycle changes succeed or fail. */
export type AuditOutcome = 'allow' | 'deny' | 'success' | 'failure';

/** Version of the {@link AuditEvent} shape; bumped on any incompatible change. */
export const AUDIT_SCHEMA_VERSION = 1;

/**
 * One audit record: plain, serialisable, free of raw tokens and secrets. Fields that do not apply
 * are absent, never `null`.
 */
export interface AuditEvent {
  /** Shape version ({@link AUDIT_SCHEMA_VERSION}). */
  readonly schemaVersion: number;
  /** Unique event id (UUID). */
  readonly id: string;
  /** When it happened, ISO 8601 UTC. */
  readonly time: string;
  readonly type: AuditEventType;
  readonly outcome: AuditOutcome;
  /** Why: an error code for denials, `'public_route'`, `'lawful_basis'`, … for allows. */
  readonly reason?: ErrorCode | string;
  /** The token's `jti`. */
  readonly tokenId?: string;
  /** Keyed HMAC of the token: finds a leaked token's uses without storing the token. */
  readonly tokenFingerprint?: string;
  readonly subject?: string;
  readonly client?: string;
  readonly scopes?: readonly string[];
  /** Route template, else the path. */
  readonly route?: string;
  readonly method?: string;
  /** HTTP status sent, when known. */
  readonly status?: number;
  /** Whose personal data the request touches, for consent routes. */
  readonly dataSubject?: string;
  readonly purpose?: string;
  readonly lawfulBasis?: LawfulBasis | 'consent';
  /** The request's `x-request-id`, when sent. */
  readonly requestId?: string;
  /** Pseudonymised client address (truncated or keyed hash). */
  readonly clientAddress?: string;
  /** Who made a lifecycle change (operator, service), as the caller states it. */
  readonly actor?: string;
  /** Lifecycle details: the time a mark applies from, an expiry, a source. */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Receives audit events. Implement it to ship events to a SIEM. `write` may batch; a rejection is
 * counted and logged by the warden, never thrown into a request.
 */
export interface AuditSink {
  /** Stores the events, in order. */
  write(events: readonly AuditEvent[]): Promise<void>;
  /** Flushes and releases resources. */
  close?(): Promise<void>;
}
