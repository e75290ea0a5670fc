import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { LimitCheck, UsageLimiter } from '@tokenwarden/core/internal';
import { FakeClock, HOSTILE_IDS } from '@tokenwarden/testing';

/** A fresh limiter per test, on the given clock. */
export type MakeLimiter = (
  clock: FakeClock,
) => Promise<{ limiter: UsageLimiter; cleanup?: () => Promise<void> }>;

const SECOND = 1_000;
/** A time on a 10-second boundary, so fixed windows start where the tests expect. */
const START = Date.UTC(2030, 0, 1);

function check(overrides: Partial<LimitCheck> = {}): LimitCheck {
  return {
    rule: 'r',
    kind: 'token',
    id: 't1',
    limit: 3,
    windowMs: 10 * SECOND,
    algorithm: 'sliding-window',
    ...overrides,
  };
}

/**
 * The behaviour every {@link UsageLimiter} must have: counting, refusals with a usable retry time,
 * the sliding window's weighting, the bucket's refill, all-or-nothing calls, isolation of
 * counters, hostile ids, expiry and atomicity under concurrent calls.
 */
export function usageLimiterContract(name: string, make: MakeLimiter): void {
  describe(`UsageLimiter contract: ${name}`, () => {
    let clock: FakeClock;
    let limiter: UsageLimiter;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      clock = new FakeClock(START);
      ({ limiter, cleanup } = await make(clock));
    });

    afterEach(async () => {
      await cleanup?.();
      await limiter.close?.();
    });

    const one = async (c: LimitCheck, cost = 1) => {
      const states = await limiter.consume([c], cost);
      expect(states).toHaveLength(1);
      return states[0]!;
    };

    test('a sliding window allows `limit` uses, then refuses with a retry time', async () => {
      const c = check();
      expect((await one(c)).remaining).toBe(2);
      expect((await one(c)).remaining).toBe(1);
      const third = await one(c);
      expect(third).toEqual({ allowed: true, remaining: 0, resetMs: 10 * SECOND, retryAfterMs: 0 });
      const refused = await one(c);
      expect(refused.allowed).toBe(false);
      expect(refused.remaining).toBe(0);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
    });

    test('a sliding window weights the previous window by its overlap', async () => {
      const c = check({ limit: 10 });
      for (let i = 0; i < 10; i += 1) expect((await one(c)).allowed).toBe(true);
      expect((await one(c)).allowed).toBe(false);
      // Half-way into the next window the previous 10 count as 5: five more uses fit.
      clock.set(START + 15 * SECOND);
      for (let i = 0; i < 5; i += 1) expect((await one(c)).allowed).toBe(true);
      const refused = await one(c);
      expect(refused.allowed).toBe(false);
      // Two windows later nothing is left of either count.
      clock.set(START + 30 * SECOND);
      expect(await one(c)).toEqual({
        allowed: true,
        remaining: 9,
        resetMs: 10 * SECOND,
        retryAfterMs: 0,
      });
    });

    test.each([
      ['sliding-window', 10],
      ['token-bucket', 10],
    ] as const)('%s: the retry time is exact enough to act on', async (algorithm, limit) => {
      const c = check({ algorithm, limit });
      clock.set(START + 2_500);
      for (let i = 0; i < limit; i += 1) expect((await one(c)).allowed).toBe(true);
      clock.advance(4_000);
      let refused = await one(c);
      while (refused.allowed) refused = await one(c);
      const wait = refused.retryAfterMs;
      expect(wait).toBeGreaterThan(2);
      const at = clock.now();
      clock.set(at + wait - 2);
      expect((await one(c)).allowed).toBe(false);
      clock.set(at + wait);
      expect((await one(c)).allowed).toBe(true);
    });

    test('a token bucket allows a burst of `limit`, then refills at limit per window', async () => {
      const c = check({ algorithm: 'token-bucket', limit: 5, windowMs: 5 * SECOND });
      for (let i = 4; i >= 0; i -= 1) expect((await one(c)).remaining).toBe(i);
      const refused = await one(c);
      expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: SECOND });
      clock.advance(SECOND);
      expect(await one(c)).toMatchObject({ allowed: true, remaining: 0 });
      expect((await one(c)).allowed).toBe(false);
      // Refill never goes above the burst size.
      clock.advance(60 * SECOND);
      expect(await one(c)).toEqual({
        allowed: true,
        remaining: 4,
        resetMs: SECOND,
        retryAfterMs: 0,
      });
    });

    test('a cost above 1 takes that many uses; a cost above the limit is always refused', async () => {
      const c = check({ limit: 5 });
      expect((await one(c, 3)).remaining).toBe(2);
      expect((await one(c, 3)).allowed).toBe(false);
      expect((await one(c, 2)).remaining).toBe(0);
      const bucket = check({ algorithm: 'token-bucket', id: 'b', limit: 5 });
      expect((await one(bucket, 6)).allowed).toBe(false);
      expect((await one(bucket, 5)).allowed).toBe(true);
    });

    test('a call is all or nothing: an exhausted counter keeps the others from counting', async () => {
      const wide = check({ rule: 'wide', limit: 10 });
      const narrow = check({ rule: 'narrow', kind: 'subject', id: 's1', limit: 1 });
      const first = await limiter.consume([wide, narrow], 1);
      expect(first.map((s) => s.allowed)).toEqual([true, true]);
      const second = await limiter.consume([wide, narrow], 1);
      expect(second.map((s) => s.allowed)).toEqual([true, false]);
      // The refused call did not take from 'wide': 9 left before this use, 8 after.
      expect(second[0]!.remaining).toBe(9);
      expect((await one(wide)).remaining).toBe(8);
    });

    test('counters are separate by rule, algorithm, kind and id', async () => {
      const base = check({ limit: 1 });
      expect((await one(base)).allowed).toBe(true);
      expect((await one(base)).allowed).toBe(false);
      for (const other of [
        check({ limit: 1, rule: 'r2' }),
        check({ limit: 1, kind: 'subject' }),
        check({ limit: 1, kind: 'client' }),
        check({ limit: 1, kind: 'api-key' }),
        check({ limit: 1, id: 't2' }),
        check({ limit: 1, algorithm: 'token-bucket' }),
      ]) {
        expect((await one(other)).allowed).toBe(true);
      }
    });

    test('hostile ids never share a counter', async () => {
      for (const id of HOSTILE_IDS) {
        expect([id.length, (await one(check({ limit: 1, id }))).allowed]).toEqual([
          id.length,
          true,
        ]);
      }
      for (const id of HOSTILE_IDS) {
        expect([id.length, (await one(check({ limit: 1, id }))).allowed]).toEqual([
          id.length,
          false,
        ]);
      }
    });

    test('a counter left alone for two windows is back to its full limit', async () => {
      const c = check({ limit: 2 });
      await one(c);
      await one(c);
      expect((await one(c)).allowed).toBe(false);
      clock.advance(20 * SECOND);
      expect((await one(c)).remaining).toBe(1);
    });

    test('concurrent calls never let more than `limit` uses through', async () => {
      for (const algorithm of ['sliding-window', 'token-bucket'] as const) {
        const c = check({ algorithm, id: `race-${algorithm}`, limit: 25 });
        const states = await Promise.all(Array.from({ length: 60 }, () => limiter.consume([c], 1)));
        expect(states.filter((s) => s[0]!.allowed)).toHaveLength(25);
      }
    });
  });
}
