import type { CacheResult } from '../metrics/types';
import type {
  ConsentGrant,
  ConsentRecord,
  ConsentWithdrawal,
  Invalidation,
  InvalidationFeed,
  MarkScope,
  SharedStore,
  StoreQuery,
  StoreSnapshot,
  WardenStore,
} from './types';
import { ALL_KEY, ChangeLog, consentKey, markKey, tokenKey, type Flight } from './change-log';

/** Options of the local state cache. */
export interface StateCacheOptions {
  /**
   * Most entries kept (revoked-or-not per token id, marks, consent records); when full, the kind
   * with the most entries gives up its least recently used one. Default: 50 000.
   */
  readonly maxEntries?: number;
  /**
   * Longest an entry is served, in ms, even with a live feed: a safety net for changes written
   * by something that does not announce them. Default: 60 000.
   */
  readonly maxAgeMs?: number;
}

/** A cached value: `null` records "known absent". */
interface Entry {
  readonly value: boolean | number | ConsentRecord | null;
  readonly until: number;
  /** Insertion order; an entry read again is moved to the young end only once it has aged. */
  generation: number;
}

type Clock = { now(): number };

/** The marks of a lookup that found none (shared: snapshots are read, never changed). */
const NO_MARKS: StoreSnapshot['notBefore'] = Object.freeze({});

/**
 * A {@link WardenStore} in front of a shared store that keeps what lookups read (whether a token
 * id is revoked, the not-before marks, consent records) in a bounded local LRU.
 *
 * - A hit costs no round trip; a miss costs the store's one round trip and fills the cache.
 * - Every change announced on the store's feed drops the entries it affects, on every node; this
 *   node's own writes drop them before and after the write.
 * - While the feed is not live (connection lost, heartbeat missed, or the store found its state
 *   lost) the cache is empty and every call goes to the store, so a lost message can never let a
 *   stale entry through, and nothing is answered from memory once the state is lost: the store
 *   itself then refuses every lookup until the state is restored.
 * - A lookup that was in flight while a change arrived answers its own request but fills nothing.
 * - Identical misses at the same time share one round trip (many requests with one token, or
 *   after the cache was emptied): a request joins a read in flight only if none of its entries
 *   changed since that read started, so it never gets an answer older than the last change.
 */
export class CachingStore implements WardenStore {
  // One map per kind, keyed by the id itself: a cached token brings the same id strings on every
  // request, so their hashes are computed once and no key string is built per request.
  private readonly tokens: Shelf = new Map();
  private readonly subjects: Shelf = new Map();
  private readonly clients: Shelf = new Map();
  /** The mark for everyone: at most one entry, under ''. */
  private readonly everyone: Shelf = new Map();
  /** Consent records by purpose, then subject. */
  private readonly consentShelves = new Map<string, Shelf>();
  /** Per shelf, where evictions go on from (see `evictOldest`). */
  private readonly evictors = new Map<Shelf, Iterator<string>>();
  private generation = 0;
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  /** The latest changes, so reads in flight during one neither fill nor get joined. */
  private readonly changes = new ChangeLog();
  /** Reads in flight, by the entries they read. */
  private readonly lookups = new Map<string, Flight<StoreSnapshot>>();
  private readonly consents = new Map<string, Flight<ConsentRecord | undefined>>();
  private live: boolean;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: SharedStore,
    private readonly clock: Clock,
    options: StateCacheOptions = {},
    private readonly onLookup: (result: CacheResult) => void = () => {},
  ) {
    this.maxEntries = options.maxEntries ?? 50_000;
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    const feed: InvalidationFeed = store.invalidations();
    this.live = feed.isLive;
    this.unsubscribe = feed.subscribe({
      invalidate: (change) => this.invalidate(change),
      live: (isLive) => {
        this.changes.touched('*');
        this.clear();
        this.live = isLive;
      },
    });
  }

  /** Number of cached entries. */
  get size(): number {
    let size = this.tokens.size + this.subjects.size + this.clients.size + this.everyone.size;
    for (const shelf of this.consentShelves.values()) size += shelf.size;
    return size;
  }

  /**
   * The snapshot of `query` when every entry it needs is cached (a hit, counted as such), else
   * `undefined` without counting anything: then call {@link lookup}. Synchronous, so a caller on
   * the request path can skip a promise and an await on a hit.
   */
  cachedLookup(query: StoreQuery): StoreSnapshot | undefined {
    if (!this.live || this.maxEntries <= 0) return undefined;
    const now = this.clock.now();
    const revoked = this.read(this.tokens, query.tokenId, now);
    if (revoked === undefined) return undefined;
    const subject = this.read(this.subjects, query.subject, now);
    if (subject === undefined) return undefined;
    const client = query.client === undefined ? null : this.read(this.clients, query.client, now);
    if (client === undefined) return undefined;
    const all = this.read(this.everyone, '', now);
    if (all === undefined) return undefined;
    const consent =
      query.consent === undefined
        ? null
        : this.read(this.consentShelves.get(query.consent.purpose), query.consent.subject, now);
    if (consent === undefined) return undefined;
    this.onLookup('hit');
    const notBefore =
      subject === null && client === null && all === null
        ? NO_MARKS
        : {
            ...(typeof subject === 'number' ? { subject } : {}),
            ...(typeof client === 'number' ? { client } : {}),
            ...(typeof all === 'number' ? { all } : {}),
          };
    return consent === null
      ? { tokenRevoked: revoked === true, notBefore }
      : { tokenRevoked: revoked === true, notBefore, consent: consent as ConsentRecord };
  }

  /**
   * The consent record of `subject` and `purpose` when cached (a hit, counted; `null`: known to
   * be absent), else `undefined` without counting anything: then call {@link getConsent}.
   */
  cachedConsent(subject: string, purpose: string): ConsentRecord | null | undefined {
    if (!this.live || this.maxEntries <= 0) return undefined;
    const cached = this.read(this.consentShelves.get(purpose), subject, this.clock.now());
    if (cached === undefined) return undefined;
    this.onLookup('hit');
    return cached as ConsentRecord | null;
  }

  async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    if (!this.live || this.maxEntries <= 0) {
      this.onLookup('bypass');
      return this.store.lookup(query);
    }
    const hit = this.cachedLookup(query);
    if (hit !== undefined) return hit;
    this.onLookup('miss');
    const keys = [tokenKey(query.tokenId), markKey('subject', query.subject), ALL_KEY];
    if (query.client !== undefined) keys.push(markKey('client', query.client));
    if (query.consent !== undefined) {
      keys.push(consentKey(query.consent.subject, query.consent.purpose));
    }
    return this.changes.fly(this.lookups, keys, async (epoch) => {
      const snapshot = await this.store.lookup(query);
      if (this.live && this.changes.untouchedSince(epoch, keys)) {
        const until = this.clock.now() + this.maxAgeMs;
        this.write(this.tokens, query.tokenId, snapshot.tokenRevoked, until);
        this.write(this.subjects, query.subject, snapshot.notBefore.subject ?? null, until);
        if (query.client !== undefined) {
          this.write(this.clients, query.client, snapshot.notBefore.client ?? null, until);
        }
        this.write(this.everyone, '', snapshot.notBefore.all ?? null, until);
        if (query.consent !== undefined) {
          const { subject, purpose } = query.consent;
          this.write(this.consentShelf(purpose), subject, snapshot.consent ?? null, until);
        }
      }
      return snapshot;
    });
  }

  async getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    if (!this.live || this.maxEntries <= 0) {
      this.onLookup('bypass');
      return this.store.getConsent(subject, purpose);
    }
    const cached = this.cachedConsent(subject, purpose);
    if (cached !== undefined) return cached ?? undefined;
    const key = consentKey(subject, purpose);
    this.onLookup('miss');
    return this.changes.fly(this.consents, [key], async (epoch) => {
      const record = await this.store.getConsent(subject, purpose);
      if (this.live && this.changes.untouchedSince(epoch, [key])) {
        this.write(
          this.consentShelf(purpose),
          subject,
          record ?? null,
          this.clock.now() + this.maxAgeMs,
        );
      }
      return record;
    });
  }

  revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    return this.around({ kind: 'token', id: tokenId }, () =>
      this.store.revokeToken(tokenId, expiresAt),
    );
  }

  setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    const change: Invalidation = scope === 'all' ? { kind: 'all' } : { kind: scope, id };
    return this.around(change, () => this.store.setNotBefore(scope, id, at, keepUntil));
  }

  grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    const change: Invalidation = {
      kind: 'consent',
      subject: grant.subject,
      purpose: grant.purpose,
    };
    return this.around(change, () => this.store.grantConsent(grant));
  }

  withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    const change: Invalidation = {
      kind: 'consent',
      subject: withdrawal.subject,
      purpose: withdrawal.purpose,
    };
    return this.around(change, () => this.store.withdrawConsent(withdrawal));
  }

  /** Every consent record of a subject, from the store itself (an operator's read: not cached). */
  consentRecords(subject: string): Promise<readonly ConsentRecord[]> {
    return this.store.consentRecords(subject);
  }

  /** Erases a subject's consent records; this node's cached ones are dropped before and after. */
  async eraseConsent(subject: string): Promise<readonly string[]> {
    this.forgetConsentOf(subject);
    try {
      return await this.store.eraseConsent(subject);
    } finally {
      this.forgetConsentOf(subject);
    }
  }

  /**
   * Drops every cached consent record of `subject`, whatever the purpose; reads in flight fill
   * nothing (their purposes may have no shelf yet; an erasure is rare).
   */
  private forgetConsentOf(subject: string): void {
    this.changes.touched('*');
    for (const shelf of this.consentShelves.values()) shelf.delete(subject);
  }

  /** Asks the underlying store (its `ping`, when it has one); the cache plays no part. */
  ping(): Promise<void> {
    return this.store.ping?.() ?? Promise.resolve();
  }

  /** Stops listening; the underlying store is closed by whoever owns it. */
  async close(): Promise<void> {
    this.unsubscribe();
    this.clear();
    this.live = false;
  }

  /** This node's own write: drop the entry before and after, so no local read sees the old value. */
  private async around<T>(change: Invalidation, write: () => Promise<T>): Promise<T> {
    this.invalidate(change);
    try {
      return await write();
    } finally {
      this.invalidate(change);
    }
  }

  private invalidate(change: Invalidation): void {
    switch (change.kind) {
      case 'token':
        this.changes.touched(tokenKey(change.id));
        this.tokens.delete(change.id);
        return;
      case 'subject':
        this.changes.touched(markKey('subject', change.id));
        this.subjects.delete(change.id);
        return;
      case 'client':
        this.changes.touched(markKey('client', change.id));
        this.clients.delete(change.id);
        return;
      case 'all':
        this.changes.touched(ALL_KEY);
        this.everyone.clear();
        return;
      case 'consent':
        this.changes.touched(consentKey(change.subject, change.purpose));
        this.consentShelves.get(change.purpose)?.delete(change.subject);
        return;
      default:
        this.changes.touched('*');
        this.clear();
    }
  }

  private clear(): void {
    this.evictors.clear();
    this.tokens.clear();
    this.subjects.clear();
    this.clients.clear();
    this.everyone.clear();
    this.consentShelves.clear();
  }

  private consentShelf(purpose: string): Shelf {
    let shelf = this.consentShelves.get(purpose);
    if (shelf === undefined) this.consentShelves.set(purpose, (shelf = new Map()));
    return shelf;
  }

  /**
   * The cached value, `null` for known-absent, `undefined` on a miss. An entry read after it has
   * fallen into the older half is moved to the young end of its shelf (approximate LRU: most hits
   * cost one Map look-up, and an entry in use never reaches the eviction end).
   */
  private read(shelf: Shelf | undefined, id: string, now: number): Entry['value'] | undefined {
    const entry = shelf?.get(id);
    if (entry === undefined) return undefined;
    if (now >= entry.until) {
      shelf!.delete(id);
      return undefined;
    }
    if (this.generation - entry.generation > this.maxEntries >> 1) {
      shelf!.delete(id);
      entry.generation = ++this.generation;
      shelf!.set(id, entry);
    }
    return entry.value;
  }

  private write(shelf: Shelf, id: string, value: Entry['value'], until: number): void {
    shelf.delete(id);
    shelf.set(id, { value, until, generation: ++this.generation });
    if (this.size > this.maxEntries) this.evictOldest();
  }

  /**
   * Drops the least recently used entry of the largest shelf. Each shelf keeps the iterator its
   * evictions go on from: a new one would walk over every entry deleted at the front since the Map
   * last compacted, on every eviction.
   */
  private evictOldest(): void {
    let largest = this.tokens;
    for (const shelf of [this.subjects, this.clients, ...this.consentShelves.values()]) {
      if (shelf.size > largest.size) largest = shelf;
    }
    for (let pass = 0; pass < 2; pass++) {
      let evictor = this.evictors.get(largest);
      if (evictor === undefined) this.evictors.set(largest, (evictor = largest.keys()));
      const next = evictor.next();
      if (next.done !== true) {
        largest.delete(next.value);
        return;
      }
      this.evictors.delete(largest);
    }
  }
}

/** Entries of one kind, by id. */
type Shelf = Map<string, Entry>;
