import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tokenwarden/core';
import type { Invalidation } from '@tokenwarden/core/internal';
import { Redis } from 'ioredis';
import { RedisStore } from '../src';
import { encodeId, KeySpace } from '../src/keys';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-consent:${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let shared: Redis;
let count = 0;
const stores: RedisStore[] = [];

function open(options: { consentRetentionMs?: number } = {}): {
  store: RedisStore;
  keys: KeySpace;
  prefix: string;
} {
  const prefix = `${FILE_PREFIX}${(count += 1)}:`;
  const store = new RedisStore({ client: shared, prefix, commandTimeoutMs: 2_000, ...options });
  stores.push(store);
  return { store, keys: new KeySpace(prefix), prefix };
}

/** Every key under `prefix` (SCAN, never KEYS on the shared server). */
async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await shared.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Retries `fn` until it resolves or `withinMs` has passed. */
async function eventually(fn: () => Promise<void>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  const keys = await keysUnder(FILE_PREFIX);
  if (keys.length > 0) await shared.unlink(...keys);
  await shared.quit();
});

describe('RedisStore consent records in Redis', () => {
  it('sets the TTL of a record at withdrawal, and of the subject index with its last record', async () => {
    const { store, keys } = open();
    const now = Date.now();
    await store.grantConsent({ subject: 's', purpose: 'a', grantedAt: now });
    await store.grantConsent({ subject: 's', purpose: 'b', grantedAt: now });
    const index = keys.key('cidx:', 's');
    expect(await shared.pttl(keys.consent('s', 'a'))).toBe(-1);
    expect(await shared.pttl(index)).toBe(-1);

    await store.withdrawConsent({
      subject: 's',
      purpose: 'a',
      withdrawnAt: now,
      keepUntil: now + HOUR,
    });
    expect(await shared.call('PEXPIRETIME', keys.consent('s', 'a'))).toBe(now + HOUR);
    // 'b' is still granted: the index stays.
    expect(await shared.pttl(index)).toBe(-1);

    await store.withdrawConsent({
      subject: 's',
      purpose: 'b',
      withdrawnAt: now,
      keepUntil: now + MINUTE,
    });
    expect(await shared.call('PEXPIRETIME', keys.consent('s', 'b'))).toBe(now + MINUTE);
    expect(await shared.call('PEXPIRETIME', index)).toBe(now + HOUR);

    // A re-grant ends the countdown of its record and of the index.
    await store.grantConsent({ subject: 's', purpose: 'a', grantedAt: now + 1 });
    expect(await shared.pttl(keys.consent('s', 'a'))).toBe(-1);
    expect(await shared.pttl(index)).toBe(-1);
  });

  it("uses the store's consentRetentionMs when the withdrawal names no keepUntil", async () => {
    const { store, keys } = open({ consentRetentionMs: 2 * HOUR });
    const now = Date.now();
    const record = await store.withdrawConsent({ subject: 's', purpose: 'p', withdrawnAt: now });
    expect(record.keepUntil).toBe(now + 2 * HOUR);
    expect(await shared.call('PEXPIRETIME', keys.consent('s', 'p'))).toBe(now + 2 * HOUR);
  });

  it('rejects a consentRetentionMs that is not a whole number of ms', () => {
    expect(() => new RedisStore({ client: shared, consentRetentionMs: -1 })).toThrow(ConfigError);
    expect(() => new RedisStore({ client: shared, consentRetentionMs: 1.5 })).toThrow(
      /consentRetentionMs/,
    );
  });

  it('lets Redis delete a withdrawn record, and the index, at the end of its retention', async () => {
    const { store, prefix } = open();
    const now = Date.now();
    await store.grantConsent({ subject: 'short', purpose: 'p', grantedAt: now });
    await store.withdrawConsent({
      subject: 'short',
      purpose: 'p',
      withdrawnAt: now,
      keepUntil: now + 150,
    });
    await eventually(async () => {
      expect(await keysUnder(prefix)).toEqual([]);
    }, 3_000);
    expect(await store.getConsent('short', 'p')).toBeUndefined();
  });

  it('keeps the notice, source and evidence in one opaque field per grant and withdrawal', async () => {
    const { store, keys } = open();
    const now = Date.now();
    await store.grantConsent({
      subject: 's',
      purpose: 'p',
      grantedAt: now,
      notice: 'privacy-notice@3',
      source: 'privacy-portal',
      evidence: 'receipt-1',
    });
    await store.withdrawConsent({ subject: 's', purpose: 'p', withdrawnAt: now, source: 'cli' });
    const hash = await shared.hgetall(keys.consent('s', 'p'));
    expect(Object.keys(hash).sort()).toEqual(
      ['gdoc', 'granted', 'purpose', 'until', 'wdoc', 'withdrawn'].sort(),
    );
    expect(JSON.parse(hash['gdoc']!)).toEqual({
      notice: 'privacy-notice@3',
      source: 'privacy-portal',
      evidence: 'receipt-1',
    });
    expect(JSON.parse(hash['wdoc']!)).toEqual({ source: 'cli' });
  });

  it('reads a record written before gdoc and wdoc existed, and indexes it on withdrawal', async () => {
    const { store, keys } = open();
    const now = Date.now();
    await shared.hset(keys.consent('old', 'p'), 'granted', String(now), 'source', 'paper-form');
    expect(await store.getConsent('old', 'p')).toStrictEqual({
      subject: 'old',
      purpose: 'p',
      grantedAt: now,
      source: 'paper-form',
    });
    const withdrawn = await store.withdrawConsent({
      subject: 'old',
      purpose: 'p',
      withdrawnAt: now + 1,
      keepUntil: now + HOUR,
    });
    expect(withdrawn.source).toBe('paper-form');
    expect((await store.consentRecords('old')).map((r) => r.purpose)).toEqual(['p']);
  });

  it('lists and erases records written before the index existed', async () => {
    const { store, keys, prefix } = open();
    const now = Date.now();
    await shared.hset(keys.consent('legacy', 'a:b'), 'granted', String(now), 'source', 'x');
    await shared.hset(keys.consent('legacy2', 'p'), 'granted', String(now));
    expect((await store.consentRecords('legacy')).map((r) => [r.purpose, r.source])).toEqual([
      ['a:b', 'x'],
    ]);
    expect(await store.eraseConsent('legacy')).toEqual(['a:b']);
    const left = await keysUnder(prefix);
    expect(left.filter((key) => key.includes('legacy:') || key.endsWith(':legacy'))).toEqual([]);
    expect(left).toContain(keys.consent('legacy2', 'p'));
  });

  it('erases every key of the subject and announces each purpose to every node', async () => {
    const { store, prefix } = open();
    const now = Date.now();
    const subject = 'jane.doe@example.com';
    for (const purpose of ['marketing', 'research']) {
      await store.grantConsent({ subject, purpose, grantedAt: now, source: 'api' });
    }
    await store.withdrawConsent({ subject, purpose: 'analytics', withdrawnAt: now });
    await store.grantConsent({ subject: 'someone-else', purpose: 'marketing', grantedAt: now });

    // Another node on the same prefix hears every change through its feed.
    const watcher = new RedisStore({ url: REDIS_URL, prefix, heartbeatMs: 50 });
    stores.push(watcher);
    const heard: Invalidation[] = [];
    const feed = watcher.invalidations();
    feed.subscribe({ invalidate: (change) => heard.push(change), live: () => undefined });
    await eventually(async () => expect(feed.isLive).toBe(true), 3_000);

    expect(await store.eraseConsent(subject)).toEqual(['analytics', 'marketing', 'research']);
    await eventually(async () => {
      expect(heard.filter((c) => c.kind === 'consent')).toHaveLength(3);
    }, 3_000);
    expect(heard).toEqual(
      expect.arrayContaining(
        ['analytics', 'marketing', 'research'].map((purpose) => ({
          kind: 'consent',
          subject,
          purpose,
        })),
      ),
    );
    const left = await keysUnder(prefix);
    expect(left.some((key) => key.includes(encodeId(subject)))).toBe(false);
    expect(left.length).toBeGreaterThan(0);
    expect(await store.consentRecords(subject)).toEqual([]);
    expect(await store.consentRecords('someone-else')).toHaveLength(1);
  });
});
