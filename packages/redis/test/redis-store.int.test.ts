import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  ConfigError,
  StoreStateLostError,
  StoreUnavailableError,
  type WardenStore,
} from '@tokenwarden/core';
import { HOSTILE_IDS, RedisServer, freePort, storeContract } from '@tokenwarden/testing';
import { Cluster, Redis } from 'ioredis';
import { RedisStore } from '../src';
import { KeySpace } from '../src/keys';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-test:${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let shared: Redis;
let storeCount = 0;
const nextPrefix = () => `${FILE_PREFIX}${(storeCount += 1)}:`;

/** Deletes every key under `prefix` (SCAN, never KEYS or FLUSH on the shared server). */
async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix}*`; // test prefixes hold no glob characters
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Resolves with how long `promise` took to settle, and how it settled. */
async function timed(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await promise;
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

/** Retries `fn` until it resolves or `withinMs` has passed. */
async function eventually<T>(fn: () => Promise<T>, withinMs: number): Promise<T> {
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

const query = {
  tokenId: 't1',
  subject: 's1',
  client: 'c1',
  consent: { subject: 's1', purpose: 'p' },
};

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  await deleteKeys(shared, FILE_PREFIX);
  await shared.quit();
});

storeContract(
  'RedisStore with a client passed in',
  async (clock) => {
    const prefix = nextPrefix();
    const open = () => new RedisStore({ client: shared, prefix, clock, commandTimeoutMs: 2_000 });
    return {
      store: open(),
      cleanup: async () => void (await deleteKeys(shared, prefix)),
      // Every key of the prefix gone, as after a restart without persistence or a FLUSHALL.
      stateLoss: {
        loseState: async () => void (await deleteKeys(shared, prefix)),
        openAnother: open,
      },
    };
  },
  { stateLoss: true },
);

storeContract(
  'RedisStore opened from a URL',
  async (clock) => {
    const prefix = nextPrefix();
    const open = () => new RedisStore({ url: REDIS_URL, prefix, clock, commandTimeoutMs: 2_000 });
    return {
      store: open(),
      cleanup: async () => void (await deleteKeys(shared, prefix)),
      stateLoss: {
        loseState: async () => void (await deleteKeys(shared, prefix)),
        openAnother: open,
      },
    };
  },
  { stateLoss: true },
);

storeContract(
  "RedisStore with layout 'sharded'",
  async (clock) => {
    const prefix = nextPrefix();
    const open = () =>
      new RedisStore({ client: shared, prefix, clock, commandTimeoutMs: 2_000, layout: 'sharded' });
    return {
      store: open(),
      cleanup: async () => void (await deleteKeys(shared, prefix)),
      stateLoss: {
        loseState: async () => void (await deleteKeys(shared, prefix)),
        openAnother: open,
      },
    };
  },
  { stateLoss: true },
);

describe('RedisStore on a one-node Redis Cluster', () => {
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

  it('enforces CROSSSLOT, so the contract below proves the keys share one slot', async () => {
    await expect(cluster.eval('return 1', 2, 'a', 'b')).rejects.toThrow(/CROSSSLOT/);
  });

  // Every lookup, write and epoch check of the sharded layout is legal on a Cluster (one slot per
  // script), a consent record of another bucket included.
  storeContract("RedisStore with layout 'sharded' and a Cluster client", async (clock) => ({
    store: new RedisStore({
      client: cluster,
      prefix: nextPrefix(),
      clock,
      commandTimeoutMs: 2_000,
      layout: 'sharded',
    }),
  }));

  storeContract('RedisStore with a Cluster client', async (clock) => ({
    store: new RedisStore({
      client: cluster,
      prefix: nextPrefix(),
      clock,
      commandTimeoutMs: 2_000,
    }),
  }));
});

describe('RedisStore keys and expiry (shared server)', () => {
  let prefix: string;
  let store: RedisStore;
  let keys: KeySpace;

  beforeAll(() => {
    prefix = nextPrefix();
    keys = new KeySpace(prefix);
    store = new RedisStore({ client: shared, prefix, commandTimeoutMs: 2_000 });
  });

  afterAll(async () => {
    await store.close();
  });

  it('expires a revoked id at the token expiry (PEXPIREAT)', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.revokeToken('t-ttl', expiresAt);
    const key = keys.revoked('t-ttl');
    expect(await shared.call('PEXPIRETIME', key)).toBe(expiresAt);
    const ttl = await shared.pttl(key);
    expect(ttl).toBeGreaterThan(HOUR - 10_000);
    expect(ttl).toBeLessThanOrEqual(HOUR);
  });

  it('expires a mark at its latest keepUntil', async () => {
    const now = Date.now();
    await store.setNotBefore('subject', 's-ttl', now, now + MINUTE);
    await store.setNotBefore('subject', 's-ttl', now - 1, now + HOUR);
    await store.setNotBefore('subject', 's-ttl', now - 2, now + 2 * MINUTE);
    await store.setNotBefore('client', 'c-ttl', now, now + MINUTE);
    expect(await shared.call('PEXPIRETIME', keys.subjectMark('s-ttl'))).toBe(now + HOUR);
    expect(await shared.hgetall(keys.subjectMark('s-ttl'))).toEqual({
      at: String(now),
      until: String(now + HOUR),
    });
    expect(await shared.call('PEXPIRETIME', keys.clientMark('c-ttl'))).toBe(now + MINUTE);
  });

  it('keeps consent records without a TTL', async () => {
    await store.grantConsent({ subject: 's', purpose: 'p', grantedAt: 1, expiresAt: Date.now() });
    expect(await shared.pttl(keys.consent('s', 'p'))).toBe(-1);
  });

  it('lets Redis drop a revoked id in real time once the token has expired', async () => {
    await store.revokeToken('t-short', Date.now() + 150);
    expect((await store.lookup({ tokenId: 't-short', subject: 's' })).tokenRevoked).toBe(true);
    await eventually(async () => {
      expect(await shared.exists(keys.revoked('t-short'))).toBe(0);
    }, 3_000);
    expect((await store.lookup({ tokenId: 't-short', subject: 's' })).tokenRevoked).toBe(false);
  });

  it('writes no key for a revocation whose token has already expired', async () => {
    await store.revokeToken('t-past', Date.now() - 1_000);
    expect(await shared.exists(keys.revoked('t-past'))).toBe(0);
  });

  it('fails closed on a key of the wrong type instead of reporting "not revoked"', async () => {
    await shared.set(keys.revoked('t-corrupt'), 'not a hash');
    const { error } = await timed(store.lookup({ tokenId: 't-corrupt', subject: 's' }));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).message).toContain('WRONGTYPE');
  });

  it('fails closed on a surprising script reply', async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    await client.connect();
    try {
      const odd = new RedisStore({ client, prefix });
      client.defineCommand('tokenwardenLookup', { lua: 'return {1, 2}', numberOfKeys: 5 });
      const { error } = await timed(odd.lookup(query));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).message).toBe(
        'Redis gave an unexpected reply to lookup',
      );
      client.defineCommand('tokenwardenLookup', {
        lua: "return {'', 'soon', '', '', '', '', '', '0', ''}",
        numberOfKeys: 5,
      });
      await expect(odd.lookup(query)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await client.quit();
    }
  });

  it('rejects times that are not integer epoch milliseconds before sending anything', async () => {
    await expect(store.revokeToken('t', 1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(store.setNotBefore('all', '', Number.NaN, 1)).rejects.toBeInstanceOf(RangeError);
    await expect(
      store.grantConsent({ subject: 's', purpose: 'p', grantedAt: Infinity }),
    ).rejects.toBeInstanceOf(RangeError);
  });
});

describe('RedisStore against a throwaway redis-server', () => {
  let server: RedisServer;
  const stores: WardenStore[] = [];
  const clients: Redis[] = [];

  const urlStore = (options: { prefix?: string; commandTimeoutMs?: number } = {}) => {
    const store = new RedisStore({ url: server.url, ...options });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(clients.splice(0).map((client) => client.quit().catch(() => undefined)));
    server.thaw();
    await server.start();
    await server.command('FLUSHALL'); // a throwaway server, never the shared one
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('answers a lookup in one round trip (one EVALSHA)', async () => {
    const store = urlStore();
    await store.grantConsent({ subject: 's1', purpose: 'p', grantedAt: 1 });
    await store.lookup(query); // loads the script (EVALSHA, NOSCRIPT, EVAL) once
    await server.command('CONFIG', 'RESETSTAT');
    for (let i = 0; i < 20; i += 1) await store.lookup(query);
    const stats = await server.info('commandstats');
    const calls = (name: string) =>
      Number(/calls=(\d+)/.exec(stats[`cmdstat_${name}`] ?? '')?.[1] ?? 0);
    expect(calls('evalsha')).toBe(20);
    expect(calls('eval')).toBe(0);
    // Commands run inside the script (HMGET) are counted too; nothing else reached the server.
    const other = Object.keys(stats).filter(
      (name) =>
        !['cmdstat_evalsha', 'cmdstat_hmget', 'cmdstat_info'].includes(name) &&
        !name.startsWith('cmdstat_config'),
    );
    expect(other).toEqual([]);
  });

  it('keeps keys of hostile ids under the prefix, bounded and distinct', async () => {
    const store = urlStore({ prefix: 'hostile:' });
    const now = Date.now();
    for (const id of HOSTILE_IDS) {
      await store.revokeToken(id, now + HOUR);
      await store.setNotBefore('subject', id, now, now + HOUR);
      await store.setNotBefore('client', id, now, now + HOUR);
      await store.grantConsent({ subject: id, purpose: id, grantedAt: now });
    }
    await store.setNotBefore('all', '{evil}:*', now, now + HOUR);
    const all = (await server.command('KEYS', '*')) as string[];
    // Per id: revoked id, subject mark, client mark, consent record, the subject's consent index.
    expect(all).toHaveLength(5 * HOSTILE_IDS.length + 1);
    for (const key of all) {
      expect(key.startsWith('hostile:{tw}:')).toBe(true);
      expect(key.indexOf('{', 'hostile:{tw}:'.length)).toBe(-1);
      expect(key.indexOf('}', 'hostile:{tw}:'.length)).toBe(-1);
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(256);
    }
  });

  it('rejects with StoreUnavailableError within 1 s when Redis is stopped, then recovers', async () => {
    const store = urlStore();
    await store.revokeToken('t1', Date.now() + HOUR);
    expect((await store.lookup(query)).tokenRevoked).toBe(true);

    await server.kill();
    for (const call of [
      () => store.lookup(query),
      () => store.revokeToken('t2', Date.now() + HOUR),
      () => store.getConsent('s1', 'p'),
    ]) {
      const { ms, error } = await timed(call());
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ code: 'store_unavailable' });
      expect(ms).toBeLessThan(1_000);
    }

    await server.start();
    // The throwaway server keeps no data across a restart: Redis answers again, and the answer
    // is that the state this store read (the revocation of t1) is gone, never "not revoked".
    const lost = await eventually(async () => {
      const { error } = await timed(store.lookup(query));
      if (!(error instanceof StoreStateLostError)) throw error ?? new Error('answered');
      return error;
    }, 5_000);
    expect(lost).toMatchObject({ code: 'store_state_lost', reason: 'lost' });
    // Once the state is back (as `state restore` writes it) and a new epoch started, it serves.
    await store.revokeToken('t1', Date.now() + HOUR);
    await store.renewEpoch('restored');
    expect((await store.lookup(query)).tokenRevoked).toBe(true);
    await store.revokeToken('t3', Date.now() + HOUR);
    expect((await store.lookup({ ...query, tokenId: 't3' })).tokenRevoked).toBe(true);
  });

  it('bounds a call by commandTimeoutMs even on a client passed in without any timeout', async () => {
    const client = new Redis(server.url, { lazyConnect: true }); // ioredis defaults: queue, retries
    clients.push(client);
    await client.connect();
    const store = new RedisStore({ client, commandTimeoutMs: 200 });
    stores.push(store);
    await store.lookup(query);

    server.freeze();
    const frozen = await timed(store.lookup(query));
    expect(frozen.error).toBeInstanceOf(StoreUnavailableError);
    expect(frozen.ms).toBeLessThan(1_000);
    server.thaw();

    await server.kill();
    const stopped = await timed(store.lookup(query));
    expect(stopped.error).toBeInstanceOf(StoreUnavailableError);
    expect(stopped.ms).toBeLessThan(1_000);

    await server.start();
    // Redis answers again (the throwaway server came back empty: the state is reported lost).
    await eventually(async () => {
      const { error } = await timed(store.lookup(query));
      if (!(error instanceof StoreStateLostError)) throw error ?? new Error('answered');
    }, 10_000);
  });

  it('rejects within the bound while Redis is in CLIENT PAUSE, and works after it', async () => {
    const store = urlStore({ commandTimeoutMs: 200 });
    await store.lookup(query);
    await server.command('CLIENT', 'PAUSE', '1500', 'ALL');
    const paused = await timed(store.lookup(query));
    expect(paused.error).toBeInstanceOf(StoreUnavailableError);
    expect((paused.error as Error).message).toMatch(/timeout|within 200 ms/);
    expect(paused.ms).toBeGreaterThanOrEqual(150);
    expect(paused.ms).toBeLessThan(1_000);
    await eventually(() => store.lookup(query), 5_000);
  });

  it('survives SCRIPT FLUSH (NOSCRIPT falls back to EVAL once)', async () => {
    const store = urlStore();
    await store.revokeToken('t1', Date.now() + HOUR);
    await server.command('SCRIPT', 'FLUSH');
    expect((await store.lookup(query)).tokenRevoked).toBe(true);
    await store.revokeToken('t2', Date.now() + HOUR);
  });

  it('rejects writes on a read-only replica with StoreUnavailableError', async () => {
    // The primary's first reader starts the epoch of the state; the replica receives it with its
    // first sync (a replica that never received it has no state to trust: reads fail closed).
    await urlStore().lookup(query);
    const replica = await RedisServer.start({
      args: ['--replicaof', '127.0.0.1', String(server.port)],
    });
    try {
      await eventually(async () => {
        if ((await server.command('WAIT', '1', '500')) !== 1) throw new Error('not in sync');
      }, 15_000);
      const store = new RedisStore({ url: replica.url });
      stores.push(store);
      await eventually(() => store.lookup(query), 5_000);
      const now = Date.now();
      for (const write of [
        () => store.revokeToken('t1', now + HOUR),
        () => store.setNotBefore('subject', 's1', now, now + HOUR),
        () => store.grantConsent({ subject: 's1', purpose: 'p', grantedAt: now }),
        () => store.withdrawConsent({ subject: 's1', purpose: 'p', withdrawnAt: now }),
      ]) {
        const { ms, error } = await timed(write());
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(ms).toBeLessThan(1_000);
      }
      await store.close();
    } finally {
      await replica.dispose();
    }
  });

  it('rejects reads on a replica whose primary is down (MASTERDOWN)', async () => {
    const replica = await RedisServer.start({
      args: [
        '--replicaof',
        '127.0.0.1',
        String(await freePort()),
        '--replica-serve-stale-data',
        'no',
      ],
    });
    try {
      const store = new RedisStore({ url: replica.url });
      stores.push(store);
      const { ms, error } = await timed(store.lookup(query));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(1_000);
      await store.close();
    } finally {
      await replica.dispose();
    }
  });

  it('never shows the URL password, in errors, inspection or on the console', async () => {
    const secured = await RedisServer.start({ password: 'right-horse-battery' });
    const consoleError = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const consoleWarn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const good = new RedisStore({
        url: `redis://:right-horse-battery@127.0.0.1:${secured.port}`,
      });
      stores.push(good);
      await eventually(() => good.lookup(query), 5_000);
      expect(inspect(good, { depth: 10 })).not.toContain('right-horse-battery');

      const wrong = new RedisStore({ url: `redis://:wrong-staple-7731@127.0.0.1:${secured.port}` });
      stores.push(wrong);
      const dead = new RedisStore({
        url: `redis://:dead-staple-7731@127.0.0.1:${await freePort()}`,
      });
      stores.push(dead);
      for (const store of [wrong, dead]) {
        const { error } = await timed(store.lookup(query));
        expect(error).toBeInstanceOf(StoreUnavailableError);
        const shown = `${String(error)} ${inspect(error, { depth: 10 })} ${inspect(store, { depth: 10 })}`;
        expect(shown).not.toMatch(/staple-7731/);
      }
      await secured.kill();
      const { error } = await timed(good.lookup(query));
      expect(inspect(error, { depth: 10 })).not.toContain('right-horse-battery');

      const printed = [...consoleError.mock.calls, ...consoleWarn.mock.calls].map((args) =>
        inspect(args, { depth: 10 }),
      );
      expect(printed.join('\n')).not.toMatch(/staple-7731|right-horse-battery/);
    } finally {
      consoleError.mockRestore();
      consoleWarn.mockRestore();
      await secured.dispose();
    }
  });

  it('close() quits a client it opened and leaves a client passed in open', async () => {
    const named = async () =>
      String(await server.command('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes(' name=tokenwarden ')).length;

    const opened = urlStore();
    await opened.lookup(query);
    expect(await named()).toBe(1);
    await opened.close();
    await opened.close();
    await eventually(async () => expect(await named()).toBe(0), 2_000);

    const client = new Redis(server.url, { lazyConnect: true });
    clients.push(client);
    await client.connect();
    const borrowed = new RedisStore({ client });
    await borrowed.lookup(query);
    await borrowed.close();
    await borrowed.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');

    for (const store of [opened, borrowed]) {
      await expect(store.lookup(query)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.getConsent('s1', 'p')).rejects.toThrow('RedisStore is closed');
    }
  });

  it('answers the first call of a store opened a moment ago', async () => {
    const store = urlStore();
    await expect(store.lookup(query)).resolves.toEqual({ tokenRevoked: false, notBefore: {} });
  });
});

describe('RedisStore configuration', () => {
  it('needs exactly one of url and client', () => {
    expect(() => new RedisStore({})).toThrow(ConfigError);
    expect(() => new RedisStore({})).toThrow(`'url'`);
    expect(() => new RedisStore({ url: REDIS_URL, client: shared })).toThrow(
      `'url' and 'client' are mutually exclusive`,
    );
  });

  it('rejects a malformed URL without echoing it', () => {
    for (const url of ['http://user:hunter2-x@host', 'not a url hunter2-x', '']) {
      let caught: unknown;
      try {
        new RedisStore({ url });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect(String(caught)).toContain(`'url'`);
      expect(String(caught)).not.toContain('hunter2');
    }
  });

  it.each([
    ['commandTimeoutMs', { commandTimeoutMs: 0 }],
    ['commandTimeoutMs', { commandTimeoutMs: 1.5 }],
    ['prefix', { prefix: 'a{b' }],
    ['maxKeyLength', { maxKeyLength: 10 }],
    ['clock', { clock: {} as never }],
    ['client', { client: {} as never, url: undefined }],
  ])('rejects a bad %s', (option, options) => {
    const withTarget = 'client' in options ? options : { ...options, client: shared };
    expect(() => new RedisStore(withTarget)).toThrow(ConfigError);
    expect(() => new RedisStore(withTarget)).toThrow(`'${option}'`);
  });
});
