import { describe, expect, test } from '@jest/globals';
import {
  ConfigError,
  MemoryUsageLimiter,
  StoreCapacityError,
  type LimitCheck,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { usageLimiterContract } from './limiter-contract';

usageLimiterContract('MemoryUsageLimiter', async (clock) => ({
  limiter: new MemoryUsageLimiter({ clock }),
}));

const check = (id: string): LimitCheck => ({
  rule: 'r',
  kind: 'token',
  id,
  limit: 1,
  windowMs: 1_000,
  algorithm: 'sliding-window',
});

describe('MemoryUsageLimiter', () => {
  test('refuses a new counter when full of live ones instead of forgetting one', async () => {
    const clock = new FakeClock();
    const limiter = new MemoryUsageLimiter({ clock, maxCounters: 2 });
    await limiter.consume([check('a')], 1);
    await limiter.consume([check('b')], 1);
    await expect(limiter.consume([check('c')], 1)).rejects.toBeInstanceOf(StoreCapacityError);
    // 'a' is still counted: its budget was not handed back by an eviction.
    expect((await limiter.consume([check('a')], 1))[0]!.allowed).toBe(false);
    // Once the counters expire they are swept and room is made.
    clock.advance(2_000);
    expect((await limiter.consume([check('c')], 1))[0]!.allowed).toBe(true);
    await limiter.close();
  });

  test('refused calls do not create counters', async () => {
    const limiter = new MemoryUsageLimiter({ clock: new FakeClock() });
    await limiter.consume([check('a')], 1);
    await limiter.consume([check('a'), check('x')], 1);
    await limiter.consume([check('a'), check('y')], 1);
    expect(limiter.size).toBe(1);
    await limiter.close();
  });

  test('close() forgets every counter', async () => {
    const limiter = new MemoryUsageLimiter();
    await limiter.consume([check('a')], 1);
    await limiter.close();
    expect(limiter.size).toBe(0);
  });

  test.each([0, -1, 1.5, Number.NaN])('rejects maxCounters %p', (maxCounters) => {
    expect(() => new MemoryUsageLimiter({ maxCounters })).toThrow(ConfigError);
  });
});
