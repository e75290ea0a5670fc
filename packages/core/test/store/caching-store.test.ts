import { beforeEach, describe, expect, it } from '@jest/globals';
import {
  CachingStore,
  createWarden,
  MemoryStore,
  StoreStateLostError,
  type Invalidation,
  type InvalidationFeed,
  type InvalidationListener,
  type SharedStore,
  type StoreQuery,
  type StoreSnapshot,
} from '@tokenwarden/core/internal';
import { FakeClock, mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from '../support';

/** A feed the test drives: it decides when changes arrive and when the feed is live. */
class TestFeed implements InvalidationFeed {
  isLive = true;
  private readonly listeners = new Set<InvalidationListener>();
  subscribe(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  announce(change: Invalidation): void {
    for (const l of this.listeners) l.invalidate(change);
  }
  setLive(live: boolean): void {
    this.isLive = live;
    for (const l of this.listeners) l.live(live);
  }
}

/**
 * A MemoryStore that stands for a store shared with other nodes: writes made "elsewhere" go to
 * `remote` directly (no local invalidation), and announcements are left to the test.
 */
class SharedMemoryStore extends MemoryStore implements SharedStore {
  readonly feed = new TestFeed();
  lookups = 0;
  consentReads = 0;
  /** When set, the next lookup waits for it before reading. */
  gate: Promise<void> | undefined;
  /** When set, reads answer only once it resolves, with what they read before. */
  hold: Promise<void> | undefined;
  /** While set, reads reject as a store that lost its state does. */
  lost = false;
  invalidations(): InvalidationFeed {
    return this.feed;
  }
  override async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    this.lookups++;
    if (this.lost) throw new StoreStateLostError('epoch gone', { reason: 'lost' });
    if (this.gate) await this.gate;
    const snapshot = await super.lookup(query);
    if (this.hold) await this.hold;
    return snapshot;
  }
  override async getConsent(subject: string, purpose: string) {
    this.consentReads++;
    if (this.lost) throw new StoreStateLostError('epoch gone', { reason: 'lost' });
    if (this.gate) await this.gate;
    const record = await super.getConsent(subject, purpose);
    if (this.hold) await this.hold;
    return record;
  }
}

const query: StoreQuery = {
  tokenId: 'jti-1',
  subject: 'user-1',
  client: 'web-app',
  consent: { subject: 'user-1', purpose: 'marketing' },
};

describe('CachingStore', () => {
  let remote: SharedMemoryStore;
  let clock: FakeClock;
  let results: string[];
  let cache: CachingStore;

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 10, 28));
    remote = new SharedMemoryStore({ clock });
    results = [];
    cache = new CachingStore(remote, clock, { maxEntries: 100 }, (r) => results.push(r));
  });

  it('answers a repeated lookup without a round trip', async () => {
    const first = await cache.lookup(query);
    const second = await cache.lookup(query);
    expect(second).toEqual(first);
    expect(remote.lookups).toBe(1);
    expect(results).toEqual(['miss', 'hit']);
  });

  it('drops exactly the announced entries: a revocation elsewhere is seen on the next lookup', async () => {
    await cache.lookup(query);
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    // Not yet announced: the cache still answers from memory (the propagation bound).
    expect((await cache.lookup(query)).tokenRevoked).toBe(false);
    remote.feed.announce({ kind: 'token', id: 'jti-1' });
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    expect(remote.lookups).toBe(2);
  });

  it.each([
    [{ kind: 'subject', id: 'user-1' }, (s: StoreSnapshot) => s.notBefore.subject],
    [{ kind: 'client', id: 'web-app' }, (s: StoreSnapshot) => s.notBefore.client],
    [{ kind: 'all' }, (s: StoreSnapshot) => s.notBefore.all],
  ] as const)('sees a %o mark set elsewhere once announced', async (change, read) => {
    await cache.lookup(query);
    const at = clock.now();
    const scope = change.kind;
    await remote.setNotBefore(scope, 'id' in change ? change.id : '', at, at + 60_000);
    remote.feed.announce(change);
    expect(read(await cache.lookup(query))).toBe(at);
  });

  it('sees a consent withdrawal elsewhere once announced, for lookups and getConsent', async () => {
    await remote.grantConsent({ subject: 'user-1', purpose: 'marketing', grantedAt: 1 });
    await cache.lookup(query);
    expect(await cache.getConsent('user-1', 'marketing')).toBeDefined();
    expect(remote.consentReads).toBe(0);
    await remote.withdrawConsent({
      subject: 'user-1',
      purpose: 'marketing',
      withdrawnAt: 2,
      keepUntil: clock.now() + 60_000,
    });
    remote.feed.announce({ kind: 'consent', subject: 'user-1', purpose: 'marketing' });
    expect((await cache.lookup(query)).consent?.withdrawnAt).toBe(2);
    expect((await cache.getConsent('user-1', 'marketing'))?.withdrawnAt).toBe(2);
  });

  it("drops its own writes' entries at once, without waiting for the announcement", async () => {
    await cache.lookup(query);
    await cache.revokeToken('jti-1', clock.now() + 60_000);
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    await cache.withdrawConsent({
      subject: 'user-1',
      purpose: 'marketing',
      withdrawnAt: 5,
      keepUntil: clock.now() + 60_000,
    });
    expect((await cache.lookup(query)).consent?.withdrawnAt).toBe(5);
  });

  it('bypasses and empties itself while the feed is not live, and caches again once it is', async () => {
    await cache.lookup(query);
    remote.feed.setLive(false);
    expect(cache.size).toBe(0);
    // A change made while messages may be lost is never hidden by the cache.
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    expect(results.slice(-2)).toEqual(['bypass', 'bypass']);
    remote.feed.setLive(true);
    await cache.lookup(query);
    await cache.lookup(query);
    expect(results.slice(-2)).toEqual(['miss', 'hit']);
  });

  it('does not fill itself from a lookup that a change overtook', async () => {
    let open!: () => void;
    remote.gate = new Promise<void>((resolve) => (open = resolve));
    const pending = cache.lookup(query);
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    remote.feed.announce({ kind: 'token', id: 'jti-1' });
    remote.gate = undefined;
    open();
    await pending;
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
  });

  it('still keeps a lookup overtaken only by changes to other entries', async () => {
    let open!: () => void;
    remote.gate = new Promise<void>((resolve) => (open = resolve));
    const pending = cache.lookup(query);
    remote.feed.announce({ kind: 'token', id: 'another-jti' });
    remote.feed.announce({ kind: 'subject', id: 'another-user' });
    remote.gate = undefined;
    open();
    await pending;
    await cache.lookup(query);
    expect(remote.lookups).toBe(1);
  });

  it('makes one round trip for identical misses at the same time', async () => {
    await remote.grantConsent({ subject: 'user-1', purpose: 'marketing', grantedAt: 1 });
    let open!: () => void;
    remote.gate = new Promise<void>((resolve) => (open = resolve));
    const lookups = Array.from({ length: 50 }, () => cache.lookup(query));
    const consents = Array.from({ length: 50 }, () => cache.getConsent('user-2', 'marketing'));
    // Another token of the same subject reads other entries: a round trip of its own.
    const other = cache.lookup({ ...query, tokenId: 'jti-2' });
    remote.gate = undefined;
    open();
    const answers = await Promise.all(lookups);
    expect(new Set(answers.map((a) => a.consent?.grantedAt))).toEqual(new Set([1]));
    expect(await Promise.all(consents)).toEqual(Array(50).fill(undefined));
    await other;
    expect(remote.lookups).toBe(2);
    expect(remote.consentReads).toBe(1);
    // The shared answers filled the cache.
    await cache.lookup(query);
    expect(remote.lookups).toBe(2);
  });

  it('never joins a read in flight that a change to its entries overtook', async () => {
    let open!: () => void;
    remote.hold = new Promise<void>((resolve) => (open = resolve));
    const before = cache.lookup(query);
    const consentBefore = cache.getConsent('user-1', 'marketing');
    await new Promise((resolve) => setImmediate(resolve));
    remote.hold = undefined;
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    await remote.grantConsent({ subject: 'user-1', purpose: 'marketing', grantedAt: 3 });
    remote.feed.announce({ kind: 'token', id: 'jti-1' });
    remote.feed.announce({ kind: 'consent', subject: 'user-1', purpose: 'marketing' });
    const after = cache.lookup(query);
    const consentAfter = cache.getConsent('user-1', 'marketing');
    open();
    // The reads that started first answer what they read; the later ones, the change.
    expect((await before).tokenRevoked).toBe(false);
    expect(await consentBefore).toBeUndefined();
    expect((await after).tokenRevoked).toBe(true);
    expect((await consentAfter)?.grantedAt).toBe(3);
    expect(remote.lookups).toBe(2);
    expect(remote.consentReads).toBe(2);
  });

  it('joins a read in flight overtaken only by changes to other entries', async () => {
    let open!: () => void;
    remote.gate = new Promise<void>((resolve) => (open = resolve));
    const first = cache.lookup(query);
    remote.feed.announce({ kind: 'token', id: 'another-jti' });
    const second = cache.lookup(query);
    remote.gate = undefined;
    open();
    expect(await second).toEqual(await first);
    expect(remote.lookups).toBe(1);
  });

  it('gives every joined request the failure of the shared read, and reads again after it', async () => {
    let fail!: (error: Error) => void;
    remote.gate = new Promise<void>((_, reject) => (fail = reject));
    const both = [cache.lookup(query), cache.lookup(query)];
    remote.gate = undefined;
    fail(new Error('store down'));
    for (const call of both) await expect(call).rejects.toThrow('store down');
    await expect(cache.lookup(query)).resolves.toMatchObject({ tokenRevoked: false });
    expect(remote.lookups).toBe(2);
  });

  it('answers hits synchronously, and nothing (uncounted) for what it does not hold', async () => {
    await remote.grantConsent({ subject: 'user-1', purpose: 'marketing', grantedAt: 1 });
    expect(cache.cachedLookup(query)).toBeUndefined();
    expect(cache.cachedConsent('user-1', 'marketing')).toBeUndefined();
    expect(results).toEqual([]);
    const read = await cache.lookup(query);
    expect(cache.cachedLookup(query)).toEqual(read);
    expect(cache.cachedConsent('user-1', 'marketing')).toEqual(read.consent);
    expect(results).toEqual(['miss', 'hit', 'hit']);
    // Known to be absent: null, not a miss.
    await cache.getConsent('user-2', 'marketing');
    expect(cache.cachedConsent('user-2', 'marketing')).toBeNull();
    // Another entry of the query changed: no synchronous answer until it is read again.
    remote.feed.announce({ kind: 'subject', id: 'user-1' });
    expect(cache.cachedLookup(query)).toBeUndefined();
    remote.feed.announce({ kind: 'consent', subject: 'user-1', purpose: 'marketing' });
    expect(cache.cachedConsent('user-1', 'marketing')).toBeUndefined();
    await cache.lookup(query);
    remote.feed.setLive(false);
    expect(cache.cachedLookup(query)).toBeUndefined();
    expect(cache.cachedConsent('user-2', 'marketing')).toBeUndefined();
    expect(remote.lookups).toBe(2);
  });

  it('is bounded: the least recently used entries go first', async () => {
    for (let i = 0; i < 60; i++) await cache.lookup({ tokenId: `t${i}`, subject: `s${i}` });
    expect(cache.size).toBeLessThanOrEqual(100);
  });

  it('keeps entries in use while others come and go', async () => {
    await cache.lookup(query);
    for (let i = 0; i < 300; i++) {
      await cache.lookup({ tokenId: `other-${i}`, subject: `other-${i}` });
      if (i % 10 === 0) await cache.lookup(query);
    }
    expect(remote.lookups).toBe(301);
    expect(cache.size).toBeLessThanOrEqual(100);
  });

  it('answers nothing from memory once the store finds its state lost, and fills nothing from it', async () => {
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    await remote.grantConsent({ subject: 'user-1', purpose: 'marketing', grantedAt: 1 });
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    expect(cache.cachedLookup(query)).toBeDefined();
    // The store found its state lost: its feed stops being live (as RedisStore's does).
    remote.lost = true;
    remote.feed.setLive(false);
    expect(cache.size).toBe(0);
    expect(cache.cachedLookup(query)).toBeUndefined();
    expect(cache.cachedConsent('user-1', 'marketing')).toBeUndefined();
    await expect(cache.lookup(query)).rejects.toBeInstanceOf(StoreStateLostError);
    await expect(cache.getConsent('user-1', 'marketing')).rejects.toBeInstanceOf(
      StoreStateLostError,
    );
    expect(cache.size).toBe(0);
    // A new epoch: the feed is live again and the cache fills from the restored state.
    remote.lost = false;
    remote.feed.setLive(true);
    expect((await cache.lookup(query)).tokenRevoked).toBe(true);
    expect(cache.cachedLookup(query)?.tokenRevoked).toBe(true);
  });

  it('serves an entry at most maxAgeMs, even without an announcement', async () => {
    const short = new CachingStore(remote, clock, { maxAgeMs: 1_000 });
    await short.lookup(query);
    await remote.revokeToken('jti-1', clock.now() + 60_000);
    clock.advance(1_000);
    expect((await short.lookup(query)).tokenRevoked).toBe(true);
  });
});

describe('Warden with a shared store', () => {
  it('never allows a token revoked on this node, and one revoked elsewhere once announced', async () => {
    const clock = new FakeClock(Date.now());
    const remote = new SharedMemoryStore({ clock });
    const warden = createWarden({
      jwt: testJwtOptions(),
      store: remote,
      clock,
      metrics: {},
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const token = mintToken({ now: clock.now() - 2_000 });
    const other = mintToken({ now: clock.now() - 2_000, claims: { sub: 'user-2' } });
    for (let i = 0; i < 3; i++) expect((await warden.check(bearer(token))).outcome).toBe('allow');
    expect(remote.lookups).toBe(1);

    await warden.revokeSubject('user-1');
    expect((await warden.check(bearer(token))).outcome).toBe('deny');

    expect((await warden.check(bearer(other))).outcome).toBe('allow');
    await remote.setNotBefore('subject', 'user-2', clock.now(), clock.now() + 3_600_000);
    remote.feed.announce({ kind: 'subject', id: 'user-2' });
    expect((await warden.check(bearer(other))).outcome).toBe('deny');

    const text = await warden.metrics.render();
    expect(text).toMatch(/tokenwarden_cache_lookups_total\{cache="token",result="hit"\} [1-9]/);
    expect(text).toMatch(/tokenwarden_cache_lookups_total\{cache="state",result="hit"\} [1-9]/);
    await warden.close();
  });

  it('refuses a cached token once it has expired', async () => {
    const clock = new FakeClock(Date.now());
    const warden = createWarden({
      jwt: testJwtOptions(),
      clock,
      metrics: false,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const token = mintToken({ now: clock.now() - 2_000, lifetimeSeconds: 60 });
    expect((await warden.check(bearer(token))).outcome).toBe('allow');
    clock.advance(120_000);
    const late = await warden.check(bearer(token));
    expect(late.outcome === 'deny' && late.code).toBe('token_expired');
    await warden.close();
  });

  it('goes to the store on every request with cache: false', async () => {
    const remote = new SharedMemoryStore();
    const warden = createWarden({
      jwt: testJwtOptions(),
      store: remote,
      cache: false,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const token = mintToken({ now: Date.now() - 2_000 });
    for (let i = 0; i < 3; i++) await warden.check(bearer(token));
    expect(remote.lookups).toBe(3);
    await warden.close();
  });
});
