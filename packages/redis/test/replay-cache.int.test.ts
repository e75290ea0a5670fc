import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { FakeClock, HOSTILE_IDS, RedisServer } from '@tokenwarden/testing';
import { Cluster, Redis } from 'ioredis';
import { RedisReplayCache } from '../src';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-test:${randomBytes(6).toString('hex')}:`;
let shared: Redis;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  await deleteKeys(shared, FILE_PREFIX);
  await shared.quit();
});

describe('RedisReplayCache', () => {
  it('accepts an id once; a replay to another node is refused too', async () => {
    const prefix = nextPrefix();
    const nodeA = new RedisReplayCache({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const nodeB = new RedisReplayCache({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const until = Date.now() + 60_000;
    expect(await nodeA.markUsed('proof-1', until)).toBe(true);
    expect(await nodeB.markUsed('proof-1', until)).toBe(false);
    expect(await nodeA.markUsed('proof-1', until)).toBe(false);
    expect(await nodeB.markUsed('proof-2', until)).toBe(true);
    await nodeA.close();
    await nodeB.close();
  });

  it('exactly one of many concurrent uses of one id wins', async () => {
    const cache = new RedisReplayCache({ client: shared, prefix: nextPrefix() });
    const until = Date.now() + 60_000;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.markUsed('race', until)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('the key expires at expiresAt (PXAT) and lives under the prefix and hash tag', async () => {
    const prefix = nextPrefix();
    const cache = new RedisReplayCache({ client: shared, prefix });
    const until = Date.now() + 90_000;
    await cache.markUsed('jti:{a}', until);
    const key = `${prefix}{tw}:replay:jti%3A%7Ba%7D`;
    expect(await shared.call('PEXPIRETIME', key)).toBe(until);
  });

  it('hostile ids never collide', async () => {
    const cache = new RedisReplayCache({ client: shared, prefix: nextPrefix() });
    const until = Date.now() + 60_000;
    const ids = HOSTILE_IDS.filter((id) => id !== '');
    for (const id of ids)
      expect([id.length, await cache.markUsed(id, until)]).toEqual([id.length, true]);
    for (const id of ids)
      expect([id.length, await cache.markUsed(id, until)]).toEqual([id.length, false]);
  });

  it('with a clock, an id already past its window is not stored', async () => {
    const prefix = nextPrefix();
    const clock = new FakeClock();
    const cache = new RedisReplayCache({ client: shared, prefix, clock });
    expect(await cache.markUsed('old', clock.now() - 1)).toBe(true);
    expect(await shared.exists(`${prefix}{tw}:replay:old`)).toBe(0);
  });

  it('refuses bad input and bad options', async () => {
    const cache = new RedisReplayCache({ client: shared, prefix: nextPrefix() });
    await expect(cache.markUsed('', Date.now() + 1000)).rejects.toThrow(TypeError);
    await expect(cache.markUsed('a', 1.5)).rejects.toThrow(RangeError);
    expect(() => new RedisReplayCache({})).toThrow(ConfigError);
  });
});

describe('RedisReplayCache when Redis is down', () => {
  it('rejects with StoreUnavailableError within the deadline, and recovers', async () => {
    const server = await RedisServer.start();
    const cache = new RedisReplayCache({ url: server.url, commandTimeoutMs: 300 });
    try {
      expect(await cache.markUsed('a', Date.now() + 60_000)).toBe(true);
      await server.kill();
      await expect(cache.markUsed('b', Date.now() + 60_000)).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await server.start();
      let result: boolean | undefined;
      for (let i = 0; i < 50 && result === undefined; i += 1) {
        result = await cache.markUsed('b', Date.now() + 60_000).catch(() => undefined);
        if (result === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(result).toBe(true);
    } finally {
      await cache.close();
      await server.dispose();
    }
  });
});

describe('RedisReplayCache on a one-node Redis Cluster', () => {
  it('works through a Cluster client', async () => {
    const server = await RedisServer.start({ cluster: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], { lazyConnect: true });
    try {
      await cluster.connect();
      const cache = new RedisReplayCache({ client: cluster, commandTimeoutMs: 2_000 });
      expect(await cache.markUsed('p', Date.now() + 60_000)).toBe(true);
      expect(await cache.markUsed('p', Date.now() + 60_000)).toBe(false);
    } finally {
      await cluster.quit();
      await server.dispose();
    }
  });
});
