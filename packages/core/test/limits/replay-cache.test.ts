import { describe, expect, test } from '@jest/globals';
import { ConfigError, MemoryReplayCache, StoreCapacityError } from '@tokenwarden/core';
import { FakeClock, HOSTILE_IDS } from '@tokenwarden/testing';

describe('MemoryReplayCache', () => {
  test('true on first use, false on every replay until the id expires', async () => {
    const clock = new FakeClock();
    const cache = new MemoryReplayCache({ clock });
    const until = clock.now() + 60_000;
    expect(await cache.markUsed('jti-1', until)).toBe(true);
    expect(await cache.markUsed('jti-1', until)).toBe(false);
    expect(await cache.markUsed('jti-1', until + 60_000)).toBe(false);
    clock.set(until + 1);
    expect(await cache.markUsed('jti-1', until + 60_000)).toBe(true);
    await cache.close();
  });

  test('hostile ids are told apart', async () => {
    const clock = new FakeClock();
    const cache = new MemoryReplayCache({ clock });
    const ids = HOSTILE_IDS.filter((id) => id !== '');
    for (const id of ids) expect(await cache.markUsed(id, clock.now() + 1000)).toBe(true);
    for (const id of ids) expect(await cache.markUsed(id, clock.now() + 1000)).toBe(false);
    await cache.close();
  });

  test('refuses new ids when full of live ones, never forgetting one', async () => {
    const clock = new FakeClock();
    const cache = new MemoryReplayCache({ clock, maxEntries: 2 });
    await cache.markUsed('a', clock.now() + 1000);
    await cache.markUsed('b', clock.now() + 1000);
    await expect(cache.markUsed('c', clock.now() + 1000)).rejects.toBeInstanceOf(
      StoreCapacityError,
    );
    expect(await cache.markUsed('a', clock.now() + 1000)).toBe(false);
    clock.advance(1001);
    expect(await cache.markUsed('c', clock.now() + 1000)).toBe(true);
    await cache.close();
  });

  test('rejects an empty id and a bad maxEntries', async () => {
    const cache = new MemoryReplayCache();
    await expect(cache.markUsed('', Date.now() + 1000)).rejects.toThrow(TypeError);
    await cache.close();
    expect(() => new MemoryReplayCache({ maxEntries: 0 })).toThrow(ConfigError);
  });
});
