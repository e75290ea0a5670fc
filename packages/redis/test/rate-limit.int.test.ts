import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  MemoryUsageLimiter,
  StoreUnavailableError,
  UsageLimits,
  type LimitCheck,
  type LimitState,
} from '@tokenwarden/core/internal';
import { FakeClock, RedisServer } from '@tokenwarden/testing';
import { Cluster, Redis } from 'ioredis';
import { usageLimiterContract } from '../../core/test/limits/limiter-contract';
import { RedisReplayCache, RedisUsageLimiter } from '../src';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-test:${randomBytes(6).toString('hex')}:`;
let shared: Redis;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

/** Deletes every key under `prefix` (SCAN, never KEYS or FLUSH on the shared server). */
async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

const check = (overrides: Partial<LimitCheck> = {}): LimitCheck => ({
  rule: 'r',
  kind: 'token',
  id: 't1',
  limit: 3,
  windowMs: 3_600_000,
  algorithm: 'token-bucket',
  ...overrides,
});

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  await deleteKeys(shared, FILE_PREFIX);
  await shared.quit();
});

usageLimiterContract('RedisUsageLimiter (shared server, injected clock)', async (clock) => {
  const prefix = nextPrefix();
  return {
    limiter: new RedisUsageLimiter({ client: shared, prefix, clock, commandTimeoutMs: 2_000 }),
    cleanup: () => deleteKeys(shared, prefix),
  };
});

describe('RedisUsageLimiter on the shared server', () => {
  it('gives the same answers as the memory limiter for the same uses (Lua and TypeScript agree)', async () => {
    const clock = new FakeClock(Date.UTC(2030, 0, 1, 0, 0, 7));
    const prefix = nextPrefix();
    const redis = new RedisUsageLimiter({ client: shared, prefix, clock, commandTimeoutMs: 2_000 });
    const memory = new MemoryUsageLimiter({ clock });
    const checks = [
      check({ rule: 'slide', algorithm: 'sliding-window', limit: 7, windowMs: 10_000 }),
      check({ rule: 'bucket', algorithm: 'token-bucket', limit: 5, windowMs: 3_000 }),
      check({
        rule: 'sub',
        kind: 'subject',
        algorithm: 'sliding-window',
        limit: 12,
        windowMs: 7_000,
      }),
    ];
    // A fixed pseudo-random walk: steps of 0 to 1.9 s, costs 1 to 3, one to three rules a call.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const got: LimitState[][] = [];
    const want: LimitState[][] = [];
    for (let i = 0; i < 300; i += 1) {
      clock.advance(Math.floor(next() * 1_900));
      const cost = 1 + Math.floor(next() * 3);
      const subset = checks.slice(0, 1 + Math.floor(next() * 3));
      got.push([...(await redis.consume(subset, cost))]);
      want.push([...(await memory.consume(subset, cost))]);
    }
    expect(got).toEqual(want);
    expect(got.flat().some((s) => !s.allowed)).toBe(true);
    expect(got.flat().some((s) => s.allowed)).toBe(true);
    await memory.close();
    await deleteKeys(shared, prefix);
  });

  it("counts on the server's clock when no clock is given", async () => {
    const prefix = nextPrefix();
    const limiter = new RedisUsageLimiter({ client: shared, prefix, commandTimeoutMs: 2_000 });
    const c = check();
    const states = [];
    for (let i = 0; i < 4; i += 1) states.push((await limiter.consume([c], 1))[0]!);
    expect(states.map((s) => s.allowed)).toEqual([true, true, true, false]);
    expect(states[3]!.retryAfterMs).toBeGreaterThan(1_000_000);
    await deleteKeys(shared, prefix);
  });

  it('lets exactly `limit` uses through when two nodes race on one credential', async () => {
    const prefix = nextPrefix();
    const nodeA = new RedisUsageLimiter({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const nodeB = new RedisUsageLimiter({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const c = check({ limit: 40, algorithm: 'sliding-window' });
    const calls = Array.from({ length: 120 }, (_, i) =>
      (i % 2 === 0 ? nodeA : nodeB).consume([c], 1),
    );
    const states = await Promise.all(calls);
    expect(states.filter((s) => s[0]!.allowed)).toHaveLength(40);
    await nodeA.close();
    await nodeB.close();
    await deleteKeys(shared, prefix);
  });

  it('keys live under the prefix and hash tag, expire by themselves, and stay bounded for huge ids', async () => {
    const prefix = nextPrefix();
    const limiter = new RedisUsageLimiter({ client: shared, prefix, commandTimeoutMs: 2_000 });
    await limiter.consume(
      [
        check({ rule: 'a', algorithm: 'sliding-window', windowMs: 60_000, id: 'jti:{x}' }),
        check({ rule: 'b', kind: 'subject', windowMs: 60_000, id: 'y'.repeat(50_000) }),
      ],
      1,
    );
    const keys = (await keysUnder(shared, prefix)).sort();
    expect(keys).toEqual([
      `${prefix}{tw}:lim:a:s:t:jti%3A%7Bx%7D`,
      expect.stringMatching(
        new RegExp(`^${prefix.replace(/[{}]/g, '\\$&')}\\{tw\\}:lim:b:b:s:#[0-9a-f]{64}$`),
      ),
    ]);
    for (const key of keys) {
      const ttl = await shared.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120_000);
    }
    await deleteKeys(shared, prefix);
  });

  it('a refused call writes nothing', async () => {
    const prefix = nextPrefix();
    const limiter = new RedisUsageLimiter({ client: shared, prefix, commandTimeoutMs: 2_000 });
    const full = check({ limit: 1, id: 'full' });
    await limiter.consume([full], 1);
    const states = await limiter.consume([check({ id: 'fresh' }), full], 1);
    expect(states.map((s) => s.allowed)).toEqual([true, false]);
    expect(await keysUnder(shared, prefix)).toHaveLength(1);
    await deleteKeys(shared, prefix);
  });

  it('never closes a client it was given; closes one it opened', async () => {
    const given = new RedisUsageLimiter({ client: shared, prefix: nextPrefix() });
    await given.close();
    expect(await shared.ping()).toBe('PONG');
    const opened = new RedisUsageLimiter({ url: REDIS_URL, prefix: nextPrefix() });
    await opened.consume([check()], 1);
    await opened.close();
    await expect(opened.consume([check()], 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it.each<[string, object]>([
    ['no options', {}],
    ['both url and client', { url: REDIS_URL, client: {} }],
    ['a non-redis url', { url: 'http://localhost' }],
    ['a client that is not ioredis', { client: {} }],
    ['a zero timeout', { url: REDIS_URL, commandTimeoutMs: 0 }],
    ['a prefix with a stray brace', { url: REDIS_URL, prefix: 'a{b' }],
  ])('refuses %s at start-up', (_what, options) => {
    expect(() => new RedisUsageLimiter(options)).toThrow(ConfigError);
  });

  it('refuses malformed calls as programming errors', async () => {
    const limiter = new RedisUsageLimiter({ client: shared, prefix: nextPrefix() });
    await expect(limiter.consume([], 1)).rejects.toThrow(TypeError);
    await expect(limiter.consume([check()], 0)).rejects.toThrow(TypeError);
    await expect(limiter.consume([check({ rule: 'a:b' })], 1)).rejects.toThrow(TypeError);
    await expect(limiter.consume([check({ limit: 0 })], 1)).rejects.toThrow(TypeError);
  });
});

describe('RedisUsageLimiter when Redis is down', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('rejects with StoreUnavailableError, which the fail mode turns into refuse or allow', async () => {
    const limiter = new RedisUsageLimiter({ url: server.url, commandTimeoutMs: 300 });
    const rules = [{ name: 'per-token', by: 'token' as const, limit: 5, windowMs: 60_000 }];
    const closed = new UsageLimits({ rules, limiter });
    const open = new UsageLimits({ rules, limiter, failMode: 'open' });
    expect((await closed.check({ tokenId: 'j' })).outcome).toBe('allow');

    await server.kill();
    await expect(limiter.consume([check()], 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    const refused = await closed.check({ tokenId: 'j' });
    expect(refused).toMatchObject({ outcome: 'unavailable', allow: false });
    if (refused.outcome === 'unavailable') {
      expect(refused.error).toBeInstanceOf(StoreUnavailableError);
      expect(String((refused.error as Error).message)).not.toContain('j');
    }
    expect(await open.check({ tokenId: 'j' })).toMatchObject({
      outcome: 'unavailable',
      allow: true,
    });

    await server.start();
    let back = await closed.check({ tokenId: 'j' });
    for (let i = 0; i < 50 && back.outcome === 'unavailable'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = await closed.check({ tokenId: 'j' });
    }
    expect(back.outcome).toBe('allow');
    await limiter.close();
  });

  it('a frozen server costs at most the deadline, then StoreUnavailableError', async () => {
    await server.start();
    const limiter = new RedisUsageLimiter({ url: server.url, commandTimeoutMs: 300 });
    await limiter.consume([check()], 1);
    server.freeze();
    try {
      await expect(limiter.consume([check()], 1)).rejects.toThrow(/within 300 ms/);
    } finally {
      server.thaw();
      await limiter.close();
    }
  });
});

describe('RedisUsageLimiter on a one-node Redis Cluster', () => {
  let server: RedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    server = await RedisServer.start({ cluster: true });
    cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], { lazyConnect: true });
    await cluster.connect();
  });

  afterAll(async () => {
    await cluster.quit();
    await server.dispose();
  });

  it('enforces CROSSSLOT, so a passing multi-rule call proves its keys share one slot', async () => {
    await expect(cluster.eval('return 1', 2, 'a', 'b')).rejects.toThrow(/CROSSSLOT/);
  });

  it('counts token, subject, client and api-key rules in one script on a Cluster client', async () => {
    const limiter = new RedisUsageLimiter({
      client: cluster,
      prefix: 'app:',
      commandTimeoutMs: 2_000,
    });
    const checks = (['token', 'subject', 'client', 'api-key'] as const).map((kind) =>
      check({ rule: `per-${kind}`, kind, id: `${kind}-{1}`, limit: 2 }),
    );
    expect((await limiter.consume(checks, 1)).map((s) => s.allowed)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect((await limiter.consume(checks, 1)).map((s) => s.remaining)).toEqual([0, 0, 0, 0]);
    expect((await limiter.consume(checks, 1)).every((s) => !s.allowed)).toBe(true);
    const keys = await cluster.keys('app:*');
    expect(keys).toHaveLength(4);
    const slots = await Promise.all(keys.map((k) => cluster.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
  });
});

describe('RedisUsageLimiter and RedisReplayCache on a three-master Redis Cluster', () => {
  const servers: RedisServer[] = [];
  let cluster: Cluster;

  /** The node (index in `servers`) that owns a slot. */
  const ownerOf = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);

  beforeAll(async () => {
    const args = [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-announce-ip',
      '127.0.0.1',
    ];
    for (let i = 0; i < 3; i += 1) servers.push(await RedisServer.start({ args }));
    const ranges = [
      ['0', '5460'],
      ['5461', '10922'],
      ['10923', '16383'],
    ];
    for (const [i, server] of servers.entries()) {
      await server.command('CLUSTER', 'ADDSLOTSRANGE', ...(ranges[i] as [string, string]));
    }
    for (const server of servers.slice(1)) {
      await servers[0]!.command('CLUSTER', 'MEET', '127.0.0.1', String(server.port));
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(
        servers.map(async (s) => String(await s.command('CLUSTER', 'INFO'))),
      );
      if (
        states.every(
          (text) => text.includes('cluster_state:ok') && text.includes('cluster_known_nodes:3'),
        )
      ) {
        break;
      }
      if (Date.now() > deadline) throw new Error('the three-node cluster did not converge');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    cluster = new Cluster([{ host: '127.0.0.1', port: servers[0]!.port }], { lazyConnect: true });
    await cluster.connect();
  }, 60_000);

  afterAll(async () => {
    await cluster?.quit();
    for (const server of servers) await server.dispose();
  });

  it('each prefix hash tag lives on one master; tags spread over masters; counts stay exact', async () => {
    // Find three tags owned by three different masters.
    const tags: string[] = [];
    const owners = new Set<number>();
    for (let i = 0; tags.length < 3 && i < 1000; i += 1) {
      const slot = Number(await cluster.cluster('KEYSLOT', `{t${i}}`));
      if (!owners.has(ownerOf(slot))) {
        owners.add(ownerOf(slot));
        tags.push(`t${i}`);
      }
    }
    expect(owners.size).toBe(3);
    for (const tag of tags) {
      const limiter = new RedisUsageLimiter({
        client: cluster,
        prefix: `app:{${tag}}:`,
        commandTimeoutMs: 2_000,
      });
      const checks = (['token', 'subject', 'client'] as const).map((kind) =>
        check({
          rule: `per-${kind}`,
          kind,
          id: `${kind}-1`,
          limit: 25,
          algorithm: 'sliding-window',
        }),
      );
      const states = await Promise.all(
        Array.from({ length: 60 }, () => limiter.consume(checks, 1)),
      );
      expect(states.filter((s) => s.every((x) => x.allowed))).toHaveLength(25);
      // Every key of this prefix is on the one master that owns its tag.
      const slot = Number(await cluster.cluster('KEYSLOT', `{${tag}}`));
      const owner = servers[ownerOf(slot)]!;
      const keys = await owner.command('KEYS', `app:{${tag}}:*`);
      expect(Array.isArray(keys) && keys.length).toBe(3);
    }
  });

  it('the replay cache works through the three-master cluster', async () => {
    const cache = new RedisReplayCache({ client: cluster, commandTimeoutMs: 2_000 });
    for (let i = 0; i < 20; i += 1) {
      expect(await cache.markUsed(`proof-${i}`, Date.now() + 60_000)).toBe(true);
      expect(await cache.markUsed(`proof-${i}`, Date.now() + 60_000)).toBe(false);
    }
  });
});
