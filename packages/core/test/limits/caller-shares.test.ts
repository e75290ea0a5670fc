import { describe, expect, test } from '@jest/globals';
import {
  CallerShareFullError,
  callerKey,
  ConfigError,
  MemoryReplayCache,
  MemoryUsageLimiter,
  StoreCapacityError,
  UsageLimits,
  type LimitCheck,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';

const START = Date.UTC(2030, 0, 1);
const FLOODER = callerKey('flood-client', 'flood-client');
const OTHER = callerKey('web-app', 'alice');

describe('MemoryReplayCache: one share per caller', () => {
  test('a caller past its share is refused alone, with the time its first id expires', async () => {
    const clock = new FakeClock(START);
    const cache = new MemoryReplayCache({ clock, maxEntries: 10, maxEntriesPerCaller: 3 });
    for (let i = 0; i < 3; i++) {
      expect(await cache.markUsed(`f-${i}`, START + 60_000 + i * 1000, FLOODER)).toBe(true);
    }
    const refused = cache.markUsed('f-3', START + 90_000, FLOODER);
    await expect(refused).rejects.toBeInstanceOf(CallerShareFullError);
    await expect(refused).rejects.toBeInstanceOf(StoreCapacityError);
    await expect(refused).rejects.toMatchObject({ retryAfterMs: 60_000, code: 'store_capacity' });
    // Nothing of the flooder was forgotten: its ids are still replays.
    for (let i = 0; i < 3; i++)
      expect(await cache.markUsed(`f-${i}`, START + 1, FLOODER)).toBe(false);
    // Another caller still has its whole share.
    for (let i = 0; i < 3; i++)
      expect(await cache.markUsed(`o-${i}`, START + 60_000, OTHER)).toBe(true);
    expect(cache.sizeOf(FLOODER)).toBe(3);
    expect(cache.sizeOf(OTHER)).toBe(3);
    // Once the flooder's first id expires, it has room for one more.
    clock.set(START + 60_000);
    expect(await cache.markUsed('f-3', START + 90_000, FLOODER)).toBe(true);
    await expect(cache.markUsed('f-4', START + 90_000, FLOODER)).rejects.toMatchObject({
      retryAfterMs: 1_000,
    });
    await cache.close();
  });

  test('a replay is answered as one even while the caller is refused new ids', async () => {
    const clock = new FakeClock(START);
    const cache = new MemoryReplayCache({ clock, maxEntries: 4, maxEntriesPerCaller: 1 });
    expect(await cache.markUsed('a', START + 1000, FLOODER)).toBe(true);
    expect(await cache.markUsed('a', START + 1000, FLOODER)).toBe(false);
    await cache.close();
  });

  test('many callers still fill the whole cache, which is then refused as before', async () => {
    const clock = new FakeClock(START);
    const cache = new MemoryReplayCache({ clock, maxEntries: 4, maxEntriesPerCaller: 2 });
    await cache.markUsed('a1', START + 1000, 'a');
    await cache.markUsed('a2', START + 1000, 'a');
    await cache.markUsed('b1', START + 1000, 'b');
    await cache.markUsed('b2', START + 1000, 'b');
    const refused = cache.markUsed('c1', START + 1000, 'c');
    await expect(refused).rejects.toBeInstanceOf(StoreCapacityError);
    await expect(refused).rejects.not.toBeInstanceOf(CallerShareFullError);
    clock.advance(1001);
    expect(await cache.markUsed('c1', START + 5000, 'c')).toBe(true);
    expect(cache.size).toBe(1);
    await cache.close();
  });

  test('ids without a caller count against the whole cache only; long callers are bounded', async () => {
    const clock = new FakeClock(START);
    const cache = new MemoryReplayCache({ clock, maxEntries: 4, maxEntriesPerCaller: 1 });
    expect(await cache.markUsed('x', START + 1000)).toBe(true);
    expect(await cache.markUsed('y', START + 1000)).toBe(true);
    const long = 'c'.repeat(5000);
    expect(await cache.markUsed('z', START + 1000, long)).toBe(true);
    expect(cache.sizeOf(long)).toBe(1);
    await cache.close();
  });

  test('a flood past the share costs no sweep of the cache per call', async () => {
    const clock = new FakeClock(START);
    const cache = new MemoryReplayCache({ clock, maxEntries: 50_000, maxEntriesPerCaller: 10_000 });
    for (let i = 0; i < 10_000; i++) await cache.markUsed(`f-${i}`, START + 300_000 + i, FLOODER);
    for (let i = 0; i < 30_000; i++) await cache.markUsed(`o-${i}`, START + 900_000, `c-${i % 10}`);
    const started = performance.now();
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      // Time moves past the flooder's first expiries: each may make room, at most once a second.
      clock.set(START + 300_000 + i);
      await cache.markUsed(`g-${i}`, START + 600_000, FLOODER).catch(() => (refused += 1));
    }
    const perCallUs = ((performance.now() - started) * 1000) / 20_000;
    // Its ids expire one a millisecond over the first 10 s: about half the calls find room.
    expect(refused).toBeGreaterThan(9_000);
    expect(cache.sizeOf(FLOODER)).toBeLessThanOrEqual(10_000);
    expect(cache.sizeOf('c-0')).toBe(3_000);
    // A sweep of the 40,000 ids per call would cost hundreds of µs.
    expect(perCallUs).toBeLessThan(50);
    await cache.close();
  });

  test('refuses a share larger than the cache, or not a positive integer', () => {
    expect(() => new MemoryReplayCache({ maxEntries: 10, maxEntriesPerCaller: 11 })).toThrow(
      ConfigError,
    );
    expect(() => new MemoryReplayCache({ maxEntriesPerCaller: 0 })).toThrow(ConfigError);
  });
});

const check = (id: string, rule = 'per-token'): LimitCheck => ({
  rule,
  kind: 'token',
  id,
  limit: 1,
  windowMs: 10_000,
  algorithm: 'sliding-window',
});

describe('MemoryUsageLimiter: one share per caller', () => {
  test('new counters past the share are refused for that caller alone, counting nothing', async () => {
    const clock = new FakeClock(START);
    const limiter = new MemoryUsageLimiter({ clock, maxCounters: 10, maxCountersPerCaller: 2 });
    expect((await limiter.consume([check('t1')], 1, FLOODER))[0]!.allowed).toBe(true);
    clock.advance(5_000);
    expect((await limiter.consume([check('t2')], 1, FLOODER))[0]!.allowed).toBe(true);
    // A third token of the flooder needs a third counter: refused until its first expires
    // (a sliding-window counter lives two windows).
    const [refused] = await limiter.consume([check('t3')], 1, FLOODER);
    expect(refused).toEqual({
      allowed: false,
      remaining: 0,
      resetMs: 15_000,
      retryAfterMs: 15_000,
    });
    expect(limiter.sizeOf(FLOODER)).toBe(2);
    // Another caller is untouched.
    expect((await limiter.consume([check('u1')], 1, OTHER))[0]!.allowed).toBe(true);
    expect((await limiter.consume([check('u2')], 1, OTHER))[0]!.allowed).toBe(true);
    clock.set(START + 20_000);
    expect((await limiter.consume([check('t3')], 1, FLOODER))[0]!.allowed).toBe(true);
    await limiter.close();
  });

  test('a refused call consumes nothing from the counters it already has', async () => {
    const clock = new FakeClock(START);
    const limiter = new MemoryUsageLimiter({ clock, maxCounters: 10, maxCountersPerCaller: 1 });
    const roomy = { ...check('t1', 'roomy'), limit: 5 };
    expect((await limiter.consume([roomy], 1, FLOODER))[0]!.remaining).toBe(4);
    const states = await limiter.consume([roomy, check('t9')], 1, FLOODER);
    expect(states.map((s) => s.allowed)).toEqual([true, false]);
    // The roomy counter is told what it has left, not charged.
    expect(states[0]!.remaining).toBe(4);
    expect((await limiter.consume([roomy], 1, FLOODER))[0]!.remaining).toBe(3);
    await limiter.close();
  });

  test('existing counters of a full caller keep counting', async () => {
    const clock = new FakeClock(START);
    const limiter = new MemoryUsageLimiter({ clock, maxCounters: 10, maxCountersPerCaller: 1 });
    const c = { ...check('t1'), limit: 3 };
    for (let i = 0; i < 3; i++)
      expect((await limiter.consume([c], 1, FLOODER))[0]!.allowed).toBe(true);
    expect((await limiter.consume([c], 1, FLOODER))[0]!.allowed).toBe(false);
    await limiter.close();
  });

  test('refuses a share larger than the limiter', () => {
    expect(() => new MemoryUsageLimiter({ maxCounters: 10, maxCountersPerCaller: 11 })).toThrow(
      ConfigError,
    );
  });
});

describe('UsageLimits: the caller is the client and subject', () => {
  test('one caller minting tokens is limited (429 with Retry-After); others are not', async () => {
    const clock = new FakeClock(START);
    const limiter = new MemoryUsageLimiter({ clock, maxCounters: 100, maxCountersPerCaller: 3 });
    const limits = new UsageLimits({
      rules: [{ name: 'token-minute', by: 'token', limit: 10, windowMs: 60_000 }],
      limiter,
    });
    for (let i = 0; i < 3; i++) {
      expect(
        (await limits.check({ tokenId: `t${i}`, client: 'svc', subject: 'svc' })).outcome,
      ).toBe('allow');
    }
    const limited = await limits.check({ tokenId: 't3', client: 'svc', subject: 'svc' });
    expect(limited).toMatchObject({
      outcome: 'limited',
      rule: 'token-minute',
      retryAfterSeconds: 120,
    });
    // The same client's other users, and other clients, have their own shares.
    expect((await limits.check({ tokenId: 'a1', client: 'svc', subject: 'alice' })).outcome).toBe(
      'allow',
    );
    expect((await limits.check({ tokenId: 'b1', client: 'web', subject: 'svc' })).outcome).toBe(
      'allow',
    );
    expect(limiter.sizeOf(callerKey('svc', 'svc'))).toBe(3);
    await limits.close();
    await limiter.close();
  });
});
