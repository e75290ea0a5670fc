import type { ErrorCode } from '../errors';
import type { LawfulBasis } from '../internal/gdpr';
import type { StampedField } from './fields';

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
  | 'consent.erased'
  | 'token.issued'
  | 'token.refreshed'
  | 'refresh.reuse_detected'
  | 'apikey.created'
  | 'apikey.rotated'
  | 'apikey.revoked'
  | 'signing_key.created'
  | 'signing_key.rotated'
  | 'signing_key.retired'
  | 'signing_key.rewrapped'
  | 'signing_key.refused'
  | 'state.initialized'
  | 'state.restored'
  | 'state.loss_accepted'
  | 'credential.leaked'
  | 'credential.exposed'
  | 'subject.erased';

/** Outcome of an event: access decisions allow or deny; lifecycle changes succeed or fail. */
export type AuditOutcome = 'allow' | 'deny' | 'success' | 'failure';

/**
 * Version of the {@link AuditEvent} shape; bumped on any incompatible change.
 * - 1: UUID ids, no chain.
 * - 2: ids `<producer>/<seq>`, and the chain fields `producer`, `seq`, `prevHash`, `hash`.
 */
export const AUDIT_SCHEMA_VERSION = 2;

/**
 * One audit record: plain, serialisable, free of raw tokens and secrets. Fields that do not apply
 * are absent, never `null`.
 */
export interface AuditEvent {
  /** Shape version ({@link AUDIT_SCHEMA_VERSION}). */
  readonly schemaVersion: number;
  /**
   * Stable event id, `<producer>/<seq>`: the same event keeps it through spooling and replay, so a
   * sink can refuse a second copy.
   */
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
  /** The request's user agent as the audit trail may keep it (`audit.userAgent`). */
  readonly userAgent?: string;
  /** Who made a lifecycle change (operator, service), as the caller states it. */
  readonly actor?: string;
  /** Lifecycle details: the time a mark applies from, an expiry, a source. */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Present when the personal fields (`subject`, `dataSubject`) hold keyed pseudonyms
   * (`audit.subjectKeys`): for each such field, its identifier encrypted (AES-256-GCM) under the
   * data subject's own key, base64url; `''` when no copy could be stored. Destroying the key
   * (`tokenwarden erase`) leaves the pseudonym and an unreadable copy, and the chain intact.
   */
  readonly sealed?: Readonly<Partial<Record<'subject' | 'dataSubject', string>>>;
  /** The audit trail (process) that wrote the event; each producer's events form one chain. */
  readonly producer?: string;
  /** Position in the producer's chain, from 1, without gaps. */
  readonly seq?: number;
  /** `hash` of the producer's previous event; absent on seq 1. */
  readonly prevHash?: string;
  /**
   * `sha256:` or `hmac-sha256:` (keyed chain) and the base64url digest of the canonical
   * serialisation of every other field (see `canonicalJson`).
   */
  readonly hash?: string;
}

/** An event as the pipeline reports it; the trail adds version, id, time and the chain fields. */
export type AuditEventInput = Omit<AuditEvent, StampedField>;

/**
 * Receives audit events. Implement it to ship events to a SIEM: see docs/audit.md. The trail calls
 * `write` with one batch at a time, never concurrently, in chain order per producer. A rejection
 * (or no answer within `audit.writeTimeoutMs`) sends the batch to the spool, to be written again
 * later: a sink should therefore skip an event whose `seq` is not above the last one it stored for
 * that `producer` (see `SeqFilter`), so a replay never stores a duplicate.
 */
export interface AuditSink {
  /**
   * Stable name of this sink, used for its spool file (`<spoolDir>/<name>.spool`), so a restart
   * replays the right spool into the right sink. `[A-Za-z0-9._-]`. Default: `sink-<index>`.
   */
  readonly name?: string;
  /** Stores the events, in order; resolves once they are stored. */
  write(events: readonly AuditEvent[]): Promise<void>;
  /** Flushes and releases resources. */
  close?(): Promise<void>;
}
