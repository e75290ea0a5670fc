import { randomUUID } from 'node:crypto';
import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  DEFAULT_CONSENT_RETENTION_MS,
  type ConsentGrant,
  type ConsentRecord,
  type ConsentWithdrawal,
  type EpochStore,
  type MarkScope,
  type StoreEpoch,
  type StoreQuery,
  type StoreSnapshot,
} from './types';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most revocation entries (revoked ids plus not-before marks) held at once. When full, expired
   * entries are swept; if still full, the write is refused with `StoreCapacityError` rather than
   * forgetting a revocation. Default: 100000.
   */
  maxRevocations?: number;
  /**
   * Most consent records held. When full, the oldest record is evicted: a missing record means
   * "no consent", so eviction can only refuse, never allow. Default: 100000.
   */
  maxConsentRecords?: number;
  /**
   * How long a withdrawn consent record is kept before it is deleted, in ms, when the withdrawal
   * names no `keepUntil`. Default: {@link DEFAULT_CONSENT_RETENTION_MS} (3 years).
   */
  consentRetentionMs?: number;
  /** How often expired entries are swept, in ms; the timer is unref'd. Default: 60000. */
  sweepIntervalMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

interface Expiring {
  /** Epoch ms: a revoked id's token expiry, or a not-before mark time. */
  value: number;
  /** Epoch ms after which the entry may be forgotten. */
  keepUntil: number;
}

/**
 * The embedded store: single process, for development, tests and the demo. Bounded, with lazy
 * expiry on read and one unref'd sweeper instead of per-key timers. Its state lives and dies with
 * the process, so its epoch never changes by itself: it cannot lose state and still be asked.
 *
 * @example
 * const warden = createWarden({ jwt, store: new MemoryStore({ maxRevocations: 10_000 }) });
 */
export class MemoryStore implements EpochStore {
  private readonly revoked = new Map<string, Expiring>();
  /** Consent records as stored: only {@link sealConsent} puts them in, {@link openConsent} out. */
  private readonly consent = new Map<string, StoredConsent>();
  private readonly clock: Clock;
  private readonly maxRevocations: number;
  private readonly maxConsentRecords: number;
  private readonly consentRetentionMs: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private epoch: StoreEpoch;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.epoch = {
      status: 'current',
      id: randomUUID(),
      origin: 'created',
      since: this.clock.now(),
    };
    this.maxRevocations = positiveInt(options.maxRevocations ?? 100_000, 'maxRevocations');
    this.maxConsentRecords = positiveInt(options.maxConsentRecords ?? 100_000, 'maxConsentRecords');
    this.consentRetentionMs = nonNegativeInt(
      options.consentRetentionMs ?? DEFAULT_CONSENT_RETENTION_MS,
      'consentRetentionMs',
    );
    const every = positiveInt(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    return this.snapshot(query);
  }

  /**
   * Everything is in memory: the answer of {@link lookup} without a promise. A subclass that
   * overrides `lookup` gets `undefined` here, so the warden calls its `lookup`.
   */
  cachedLookup(query: StoreQuery): StoreSnapshot | undefined {
    return this.lookup === MemoryStore.prototype.lookup ? this.snapshot(query) : undefined;
  }

  private snapshot(query: StoreQuery): StoreSnapshot {
    const tokenRevoked = this.live(`jti\0${query.tokenId}`) !== undefined;
    const subject = this.live(`sub\0${query.subject}`);
    const client = query.client === undefined ? undefined : this.live(`cli\0${query.client}`);
    const all = this.live('all');
    // Without marks (the usual case) every snapshot shares one empty object.
    const notBefore: StoreSnapshot['notBefore'] =
      subject === undefined && client === undefined && all === undefined
        ? NO_MARKS
        : {
            ...(subject !== undefined ? { subject } : {}),
            ...(client !== undefined ? { client } : {}),
            ...(all !== undefined ? { all } : {}),
          };
    const consent = query.consent
      ? this.readConsent(consentKey(query.consent.subject, query.consent.purpose))
      : undefined;
    return consent === undefined
      ? { tokenRevoked, notBefore }
      : { tokenRevoked, notBefore, consent };
  }

  async revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    this.putRevocation(`jti\0${tokenId}`, expiresAt, expiresAt);
  }

  async setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    this.putRevocation(markKey(scope, id), at, keepUntil);
  }

  async grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    const key = consentKey(grant.subject, grant.purpose);
    const previous = this.readConsent(key);
    const record: ConsentRecord = dropUndefined({
      subject: grant.subject,
      purpose: grant.purpose,
      grantedAt: grant.grantedAt,
      expiresAt: grant.expiresAt,
      withdrawnAt: previous?.withdrawnAt,
      source: grant.source,
      notice: grant.notice,
      evidence: grant.evidence,
    });
    this.putConsent(key, record);
    return record;
  }

  async withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    const key = consentKey(withdrawal.subject, withdrawal.purpose);
    const previous = this.readConsent(key);
    const keepUntil = withdrawal.keepUntil ?? withdrawal.withdrawnAt + this.consentRetentionMs;
    const record: ConsentRecord = dropUndefined({
      subject: withdrawal.subject,
      purpose: withdrawal.purpose,
      grantedAt: previous?.grantedAt ?? 0,
      expiresAt: previous?.expiresAt,
      withdrawnAt: Math.max(previous?.withdrawnAt ?? 0, withdrawal.withdrawnAt),
      source: withdrawal.source ?? previous?.source,
      notice: previous?.notice,
      evidence: previous?.evidence,
      keepUntil: Math.max(previous?.keepUntil ?? 0, keepUntil),
    });
    this.putConsent(key, record);
    return record;
  }

  async getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.readConsent(consentKey(subject, purpose));
  }

  async consentRecords(subject: string): Promise<readonly ConsentRecord[]> {
    const records: ConsentRecord[] = [];
    for (const key of this.consentKeysOf(subject)) {
      const record = this.readConsent(key);
      if (record !== undefined) records.push(record);
    }
    return records.sort((a, b) => (a.purpose < b.purpose ? -1 : a.purpose > b.purpose ? 1 : 0));
  }

  async eraseConsent(subject: string): Promise<readonly string[]> {
    const purposes: string[] = [];
    for (const key of this.consentKeysOf(subject)) {
      const record = this.readConsent(key);
      this.consent.delete(key);
      if (record !== undefined) purposes.push(record.purpose);
    }
    return purposes.sort();
  }

  /**
   * The consent record, or `null` when there is none, without a promise (`undefined` when a
   * subclass overrides `getConsent`, so the warden calls it).
   */
  cachedConsent(subject: string, purpose: string): ConsentRecord | null | undefined {
    if (this.getConsent !== MemoryStore.prototype.getConsent) return undefined;
    return this.readConsent(consentKey(subject, purpose)) ?? null;
  }

  /** The epoch this store began with, or the last one {@link renewEpoch} started. */
  async readEpoch(): Promise<StoreEpoch> {
    return this.epoch;
  }

  /** A memory store has its epoch from the start: nothing to write. */
  async initializeEpoch(): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    return { written: false, epoch: this.epoch };
  }

  /** Starts a new epoch; the records are kept. */
  async renewEpoch(origin: 'restored' | 'accepted'): Promise<StoreEpoch> {
    if (origin !== 'restored' && origin !== 'accepted') {
      throw new TypeError(`MemoryStore: origin must be 'restored' or 'accepted'`);
    }
    this.epoch = { status: 'current', id: randomUUID(), origin, since: this.clock.now() };
    return this.epoch;
  }

  /** Everything is in memory: resolves at once. */
  ping(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.revoked.clear();
    this.consent.clear();
  }

  /** Forgets entries whose `keepUntil` has passed. Runs on the sweeper and when full. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.revoked) if (entry.keepUntil <= now) this.revoked.delete(key);
    for (const [key, stored] of this.consent) {
      if (stored.keepUntil !== undefined && stored.keepUntil <= now) this.consent.delete(key);
    }
  }

  /** The live consent record under `key`; one past its retention is deleted here. */
  private readConsent(key: string): ConsentRecord | undefined {
    const stored = this.consent.get(key);
    if (stored === undefined) return undefined;
    if (stored.keepUntil !== undefined && stored.keepUntil <= this.clock.now()) {
      this.consent.delete(key);
      return undefined;
    }
    return openConsent(stored);
  }

  /** The keys of every consent record of `subject` (a scan: a memory store is small). */
  private consentKeysOf(subject: string): string[] {
    const prefix = `${subject.length}:${subject}`;
    const keys: string[] = [];
    for (const [key, stored] of this.consent) {
      if (key.startsWith(prefix) && openConsent(stored).subject === subject) keys.push(key);
    }
    return keys;
  }

  private live(key: string): number | undefined {
    const entry = this.revoked.get(key);
    if (entry === undefined) return undefined;
    if (entry.keepUntil <= this.clock.now()) {
      this.revoked.delete(key);
      return undefined;
    }
    return entry.value;
  }

  private putRevocation(key: string, value: number, keepUntil: number): void {
    const previous = this.revoked.get(key);
    if (previous === undefined && this.revoked.size >= this.maxRevocations) {
      this.sweep();
      if (this.revoked.size >= this.maxRevocations) {
        throw new StoreCapacityError(
          `MemoryStore holds ${this.maxRevocations} revocation entries; raise 'maxRevocations' or use RedisStore`,
        );
      }
    }
    // Marks only move forward: a late, older write must not shorten a revocation.
    this.revoked.set(key, {
      value: Math.max(value, previous?.value ?? value),
      keepUntil: Math.max(keepUntil, previous?.keepUntil ?? keepUntil),
    });
  }

  private putConsent(key: string, record: ConsentRecord): void {
    this.consent.delete(key);
    if (this.consent.size >= this.maxConsentRecords) {
      const oldest = this.consent.keys().next();
      if (!oldest.done) this.consent.delete(oldest.value);
    }
    this.consent.set(key, sealConsent(record));
  }
}

/** A consent record as a `MemoryStore` holds it. */
interface StoredConsent {
  /** Deletion time, outside the record so expiry needs no decoding. */
  readonly keepUntil: number | undefined;
  readonly record: ConsentRecord;
}

/**
 * The one place a `MemoryStore` turns a consent record into what it holds (with
 * {@link openConsent}, the way back): an encryption of records at rest wraps these two.
 */
function sealConsent(record: ConsentRecord): StoredConsent {
  return { keepUntil: record.keepUntil, record: Object.freeze(record) };
}

/** The record held in `stored` (see {@link sealConsent}). */
function openConsent(stored: StoredConsent): ConsentRecord {
  return stored.record;
}

function markKey(scope: MarkScope, id: string): string {
  if (scope === 'all') return 'all';
  return `${scope === 'subject' ? 'sub' : 'cli'}\0${id}`;
}

/** The marks of a lookup that found none (shared: snapshots are read, never changed). */
const NO_MARKS: StoreSnapshot['notBefore'] = Object.freeze({});

function consentKey(subject: string, purpose: string): string {
  // Length-prefixed, so no subject can end where another pair's purpose begins.
  return `${subject.length}:${subject}${purpose}`;
}

function nonNegativeInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`MemoryStore option '${name}' must be a whole number of ms (0 or more)`);
  }
  return value;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`MemoryStore option '${name}' must be a positive integer`);
  }
  return value;
}

/** Removes keys whose value is undefined, so records compare equal across stores. */
export function dropUndefined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
