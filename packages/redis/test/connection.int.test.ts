import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { RedisServer } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { connectionTarget, RedisConnection, type ConnectionPolicy } from '../src/connection';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const POLICY: ConnectionPolicy = { owner: 'TestStore', defaultTimeoutMs: 200 };

/** The error a promise rejects with, and how long it took to settle, in ms. */
async function settled(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  return { error, ms: performance.now() - started };
}

/** Resolves once `check()` is true, polling every 20 ms; rejects after `ms`. */
async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('connectionTarget', () => {
  it('refuses missing, ambiguous or out-of-range options, naming the class and the option', () => {
    const shared = { defineCommand: () => undefined } as never;
    expect(() => connectionTarget({}, POLICY)).toThrow(ConfigError);
    expect(() => connectionTarget({}, POLICY)).toThrow(/^TestStore needs exactly one of 'url'/);
    expect(() => connectionTarget({ url: REDIS_URL, client: shared }, POLICY)).toThrow(
      `TestStore options 'url' and 'client' are mutually exclusive`,
    );
    expect(() => connectionTarget(null as never, POLICY)).toThrow(ConfigError);
    expect(() => connectionTarget({ client: {} as never }, POLICY)).toThrow(
      `TestStore option 'client' must be an ioredis Redis or Cluster`,
    );
    for (const commandTimeoutMs of [0, 1.5, 60_001]) {
      expect(() => connectionTarget({ url: REDIS_URL, commandTimeoutMs }, POLICY)).toThrow(
        `TestStore option 'commandTimeoutMs' must be an integer from 1 to 60000`,
      );
    }
  });

  it('refuses a URL that is not redis:// or rediss:// without echoing it', () => {
    let message = '';
    try {
      connectionTarget({ url: 'http://user:hunter2-x@host' }, POLICY);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(`TestStore option 'url' must be a redis:// or rediss:// URL`);
  });

  it('applies the default timeout of the policy and opens nothing', () => {
    const target = connectionTarget({ url: REDIS_URL }, POLICY);
    expect(target.timeoutMs).toBe(200);
    expect(connectionTarget({ url: REDIS_URL, commandTimeoutMs: 50 }, POLICY).timeoutMs).toBe(50);
  });
});

describe('RedisConnection', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('quits a client it opened on close; later calls are refused without being sent', async () => {
    const connection = new RedisConnection(connectionTarget({ url: server.url }, POLICY));
    expect(connection.owned).toBe(true);
    expect(await connection.run('ping', (redis) => redis.ping())).toBe('PONG');
    await connection.close();
    await connection.close();
    expect(connection.closed).toBe(true);
    await until(() => connection.client.status === 'end', 2_000);
    const { error } = await settled(connection.run('ping', (redis) => redis.ping()));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toBe('TestStore is closed; ping was not sent');
  });

  it('never closes a client it was given, but refuses calls once closed', async () => {
    const client = new Redis(server.url);
    try {
      const connection = new RedisConnection(connectionTarget({ client }, POLICY));
      expect(connection.owned).toBe(false);
      expect(await connection.run('ping', (redis) => redis.ping())).toBe('PONG');
      await connection.close();
      expect(await client.ping()).toBe('PONG');
      await expect(connection.run('ping', (redis) => redis.ping())).rejects.toThrow(
        'TestStore is closed',
      );
    } finally {
      client.disconnect();
    }
  });

  it('maps every failure to StoreUnavailableError naming the operation, and parses replies', async () => {
    const client = new Redis(server.url);
    const key = `tw-connection-test:${randomBytes(6).toString('hex')}`;
    try {
      const connection = new RedisConnection(connectionTarget({ client }, POLICY));
      await client.set(key, 'a string');
      const { error } = await settled(connection.run('read', (redis) => redis.hgetall(key)));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toBe('Redis could not answer read (WRONGTYPE)');
      expect((error as Error).message).not.toContain(key);
      const parsed = await connection.run(
        'read',
        (redis) => redis.get(key),
        (reply) => reply?.length,
      );
      expect(parsed).toBe(8);
      const odd = await settled(
        connection.run(
          'read',
          (redis) => redis.get(key),
          () => {
            throw new TypeError('unexpected reply');
          },
        ),
      );
      expect(odd.error).toBeInstanceOf(StoreUnavailableError);
      // The cause is a sanitised copy: name, message and stack only.
      expect((odd.error as Error).cause).toMatchObject({
        name: 'TypeError',
        message: 'unexpected reply',
      });
    } finally {
      await client.del(key);
      client.disconnect();
    }
  });

  it('makes every call that arrives while connecting wait on one ready listener', async () => {
    const connection = new RedisConnection(
      connectionTarget({ url: server.url, commandTimeoutMs: 2_000 }, POLICY),
    );
    try {
      const before = connection.client.listenerCount('ready');
      const calls = Array.from({ length: 50 }, () => connection.run('ping', (r) => r.ping()));
      expect(connection.client.listenerCount('ready')).toBe(before + 1);
      expect(await Promise.all(calls)).toEqual(Array(50).fill('PONG'));
      expect(connection.client.listenerCount('ready')).toBe(before);
    } finally {
      await connection.close();
    }
  });

  it('connects a lazy client it was given on demand', async () => {
    const client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    try {
      const connection = new RedisConnection(connectionTarget({ client }, POLICY));
      expect(client.status).toBe('wait');
      expect(await connection.run('ping', (redis) => redis.ping())).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it("'any': a call made while reconnecting waits within its deadline, and never sends a write it gave up on", async () => {
    const watcher = new Redis(server.url);
    const connection = new RedisConnection(
      connectionTarget({ url: server.url, commandTimeoutMs: 300 }, POLICY),
    );
    const key = `tw-connection-test:${randomBytes(6).toString('hex')}`;
    try {
      await connection.run('ping', (redis) => redis.ping());
      await server.kill();
      await until(() => connection.client.status === 'reconnecting', 2_000);
      const late = await settled(connection.run('set', (redis) => redis.set(key, '1')));
      expect(late.error).toBeInstanceOf(StoreUnavailableError);
      expect((late.error as Error).message).toMatch(/did not answer set within 300 ms/);
      expect(late.ms).toBeGreaterThanOrEqual(290);
      await server.start();
      await until(() => connection.client.status === 'ready', 5_000);
      await until(() => watcher.status === 'ready', 5_000);
      // The write the caller was told had failed was not sent once the connection came back.
      expect(await watcher.exists(key)).toBe(0);
      expect(await connection.run('ping', (redis) => redis.ping())).toBe('PONG');
    } finally {
      await connection.close();
      watcher.disconnect();
    }
  });

  it("'first': a call made while reconnecting fails at once instead of waiting", async () => {
    await server.start();
    const connection = new RedisConnection(
      connectionTarget(
        { url: server.url, commandTimeoutMs: 2_000 },
        { ...POLICY, waitFor: 'first' },
      ),
    );
    try {
      await connection.run('ping', (redis) => redis.ping());
      await server.kill();
      await until(() => connection.client.status === 'reconnecting', 2_000);
      const { error, ms } = await settled(connection.run('ping', (redis) => redis.ping()));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(500);
    } finally {
      await connection.close();
      await server.start();
    }
  });

  it("'connect': the deadline of a call is the time a connection may take", async () => {
    await server.start();
    // A client without its own command timeout: only the connection's deadline bounds the call.
    const client = new Redis(server.url);
    const connection = new RedisConnection(
      connectionTarget({ client, commandTimeoutMs: 100 }, { ...POLICY, deadline: 'connect' }),
    );
    try {
      await connection.run('ping', (redis) => redis.ping());
      server.freeze();
      const { error, ms } = await settled(connection.run('ping', (redis) => redis.ping()));
      expect((error as Error).message).toBe('Redis did not answer ping within 1000 ms');
      expect(ms).toBeGreaterThanOrEqual(990);
    } finally {
      server.thaw();
      client.disconnect();
    }
  });

  it('opens a subscriber of its own, closed with it, from the URL or as a duplicate', async () => {
    const given = new Redis(server.url);
    try {
      for (const options of [{ url: server.url }, { client: given }]) {
        const connection = new RedisConnection(connectionTarget(options, POLICY));
        const subscriber = connection.subscriber<Redis>('tokenwarden-test-subscriber');
        expect(subscriber.owned).toBe(true);
        expect(subscriber.client).not.toBe(connection.client);
        await subscriber.run('subscribe', (redis) => redis.subscribe('tw-connection-test'));
        await subscriber.close();
        await until(() => subscriber.client.status === 'end', 2_000);
        await connection.close();
      }
      expect(await given.ping()).toBe('PONG');
    } finally {
      given.disconnect();
    }
  });
});
