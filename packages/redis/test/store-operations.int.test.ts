import { afterEach, describe, expect, it } from '@jest/globals';
import { createWarden, StoreUnavailableError } from '@tokenwarden/core';
import { freePort, RedisServer } from '@tokenwarden/testing';
import { RedisStore } from '../src';

/**
 * What operators see of a RedisStore: the cause of a lost connection in its log (once per change
 * of state) and in its errors, `ping()` for readiness probes, and a first write that waits for a
 * connection still being made.
 */

const JWT = {
  algorithms: ['HS256' as const],
  keys: [{ kid: 'ops-1', alg: 'HS256' as const, key: Buffer.alloc(32, 7) }],
  issuer: 'https://idp.example/',
  audience: 'ops-api',
};

/** Resolves once `check()` is true, polling every 20 ms; rejects after `ms`. */
async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function recordingLogger() {
  const lines: { level: 'warn' | 'error'; message: string }[] = [];
  return {
    lines,
    errors: () => lines.filter((line) => line.level === 'error').map((line) => line.message),
    warns: () => lines.filter((line) => line.level === 'warn').map((line) => line.message),
    logger: {
      warn: (message: string) => void lines.push({ level: 'warn', message }),
      error: (message: string) => void lines.push({ level: 'error', message }),
    },
  };
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

describe('RedisStore operations', () => {
  it('names the cause of a refused connection in its errors and logs it once, with ping() and warden.ready() rejecting', async () => {
    const port = await freePort();
    const log = recordingLogger();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, logger: log.logger });
    cleanup.push(() => store.close());
    const warden = createWarden({ jwt: JWT, store, logger: { warn() {}, error() {} } });
    cleanup.push(() => warden.close());
    await until(() => log.errors().length > 0, 2_000);
    const lookup = store.lookup({ tokenId: 't-1', subject: 's-1' });
    await expect(lookup).rejects.toThrow(StoreUnavailableError);
    // The error names the cause by its code; the address is in the log line only.
    await expect(lookup).rejects.toThrow(/within 200 ms: no connection \(ECONNREFUSED\)$/);
    await expect(store.ping()).rejects.toThrow('no connection (ECONNREFUSED)');
    await expect(warden.ready()).rejects.toThrow(StoreUnavailableError);
    // Many failed reconnections, one line.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(log.errors()).toEqual([
      `RedisStore: Redis is unreachable (ECONNREFUSED 127.0.0.1:${port}); calls fail with store_unavailable until it answers`,
    ]);
  });

  it('logs each change of state once: down, up, down', async () => {
    const server = await RedisServer.start();
    cleanup.push(() => server.dispose());
    const log = recordingLogger();
    const store = new RedisStore({ url: server.url, logger: log.logger });
    cleanup.push(() => store.close());
    await store.ping();
    expect(log.lines).toEqual([]);
    await server.kill();
    await until(() => log.errors().length === 1, 3_000);
    await server.start();
    await until(() => log.warns().length === 1, 5_000);
    await store.ping();
    expect(log.warns()).toEqual(['RedisStore: Redis answers again']);
    await server.kill();
    await until(() => log.errors().length === 2, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(log.lines.map((line) => line.level)).toEqual(['error', 'warn', 'error']);
    expect(log.errors()[1]).toContain(`ECONNREFUSED 127.0.0.1:${server.port}`);
  });

  it('waits for the first connection before its first write: a revocation right after start succeeds', async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, logger: false });
    cleanup.push(() => store.close());
    const warden = createWarden({ jwt: JWT, store, logger: { warn() {}, error() {} } });
    cleanup.push(() => warden.close());
    // Redis starts listening about 500 ms after the store was created, past the 200 ms deadline.
    const starting = new Promise<RedisServer>((resolve, reject) => {
      setTimeout(() => void RedisServer.start({ port }).then(resolve, reject), 500);
    });
    cleanup.push(async () => (await starting).dispose());
    const started = Date.now();
    await warden.revokeToken('first-revocation', { expiresAt: Date.now() + 60_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    const snapshot = await store.lookup({ tokenId: 'first-revocation', subject: 's-1' });
    expect(snapshot.tokenRevoked).toBe(true);
  });

  it('does not wait for a connection on lookups, nor with connectTimeoutMs: 0', async () => {
    const port = await freePort();
    const store = new RedisStore({
      url: `redis://127.0.0.1:${port}`,
      logger: false,
      connectTimeoutMs: 0,
    });
    cleanup.push(() => store.close());
    const started = Date.now();
    await expect(store.revokeToken('t-1', Date.now() + 60_000)).rejects.toThrow(
      StoreUnavailableError,
    );
    await expect(store.lookup({ tokenId: 't-1', subject: 's-1' })).rejects.toThrow(
      StoreUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(() => new RedisStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: -1 })).toThrow(
      "RedisStore option 'connectTimeoutMs' must be an integer from 0 to 60000",
    );
  });

  it('ping() answers while Redis is up', async () => {
    const store = new RedisStore({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' });
    cleanup.push(() => store.close());
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
