import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  StoreStateLostError,
  type InvalidationListener,
} from '@tokenwarden/core/internal';
import { RedisServer } from '@tokenwarden/testing';
import { RedisStore } from '../src';

/**
 * The epoch of the state on a throwaway redis-server (no persistence, flushed and restarted by the
 * tests): what a store does on an empty Redis in each `epoch` mode, how the feed of a store learns
 * of a loss that leaves every connection open (FLUSHALL), and of a restart without persistence.
 */
const HOUR = 3_600_000;
const query = { tokenId: 't1', subject: 's1', consent: { subject: 'ds', purpose: 'p' } };

let server: RedisServer;
const stores: RedisStore[] = [];
const open = (options: { epoch?: 'create' | 'require'; heartbeatMs?: number } = {}) => {
  const store = new RedisStore({ url: server.url, commandTimeoutMs: 1_000, ...options });
  stores.push(store);
  return store;
};

/** Polls `check` every 20 ms until it passes or `withinMs` has passed. */
async function eventually(check: () => void | Promise<void>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** What a listener of the feed was told, in order. */
function listen(store: RedisStore): { live: boolean[]; resets: number } {
  const seen = { live: [] as boolean[], resets: 0 };
  const listener: InvalidationListener = {
    invalidate: (change) => {
      if (change.kind === 'reset') seen.resets += 1;
    },
    live: (isLive) => void seen.live.push(isLive),
  };
  store.invalidations().subscribe(listener);
  return seen;
}

beforeAll(async () => {
  server = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await server.start();
  await server.command('FLUSHALL'); // a throwaway server, never the shared one
});

afterAll(async () => {
  await server.dispose();
});

describe('RedisStore epoch modes on an empty Redis', () => {
  it("'create' (the default): the first read starts the epoch of a new deployment", async () => {
    const store = open();
    expect(await store.readEpoch()).toEqual({ status: 'missing' });
    await expect(store.lookup(query)).resolves.toEqual({ tokenRevoked: false, notBefore: {} });
    expect(await store.readEpoch()).toMatchObject({ status: 'current', origin: 'created' });
    // Another node adopts it rather than writing its own.
    const epoch = await store.readEpoch();
    await open().lookup(query);
    expect(await store.readEpoch()).toEqual(epoch);
  });

  it("'require': reads refuse (reason missing) until initializeEpoch, which writes the first epoch once", async () => {
    const store = open({ epoch: 'require' });
    const refused = await store.lookup(query).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreStateLostError);
    expect(refused).toMatchObject({ code: 'store_state_lost', reason: 'missing' });
    await expect(store.getConsent('ds', 'p')).rejects.toBeInstanceOf(StoreStateLostError);
    // Nothing was written by the refused reads.
    expect(await server.command('DBSIZE')).toBe(0);

    const first = await store.initializeEpoch();
    expect(first).toMatchObject({
      written: true,
      epoch: { status: 'current', origin: 'initialized' },
    });
    await expect(store.lookup(query)).resolves.toEqual({ tokenRevoked: false, notBefore: {} });
    await expect(open({ epoch: 'require' }).lookup(query)).resolves.toBeDefined();
    expect(await open().initializeEpoch()).toEqual({ written: false, epoch: first.epoch });
  });

  it('refuses an epoch option other than create or require', () => {
    for (const epoch of ['auto', '', 'CREATE']) {
      expect(() => new RedisStore({ url: server.url, epoch: epoch as 'create' })).toThrow(
        ConfigError,
      );
      expect(() => new RedisStore({ url: server.url, epoch: epoch as 'create' })).toThrow(
        `'epoch'`,
      );
    }
  });
});

describe('RedisStore invalidation feed and the epoch', () => {
  it('a FLUSHALL takes the feed out of live within a few heartbeats; a new epoch brings it back', async () => {
    const store = open({ heartbeatMs: 50 });
    const seen = listen(store);
    await store.revokeToken('t1', Date.now() + HOUR);
    expect((await store.lookup(query)).tokenRevoked).toBe(true);
    await eventually(() => expect(store.invalidations().isLive).toBe(true), 2_000);
    const before = seen.live.length;

    await server.command('FLUSHALL');
    // No request needed: the heartbeat reads the epoch and records the loss for every node.
    await eventually(() => expect(store.invalidations().isLive).toBe(false), 2_000);
    expect(seen.live.slice(before)).toContain(false);
    expect(await store.readEpoch()).toMatchObject({ status: 'lost' });
    await expect(store.lookup(query)).rejects.toBeInstanceOf(StoreStateLostError);
    // Heartbeats keep coming back, yet the feed stays out of live while the state is lost.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(store.invalidations().isLive).toBe(false);

    // Another node rebuilds the state and starts a new epoch: this node's feed is live again.
    const restorer = open();
    await restorer.revokeToken('t1', Date.now() + HOUR);
    await restorer.renewEpoch('restored');
    await eventually(() => expect(store.invalidations().isLive).toBe(true), 2_000);
    expect(seen.resets).toBeGreaterThan(0);
    expect((await store.lookup(query)).tokenRevoked).toBe(true);
  });

  it('a restart without persistence is a loss: reads refuse once Redis answers again', async () => {
    const store = open({ heartbeatMs: 50 });
    listen(store);
    await store.revokeToken('t1', Date.now() + HOUR);
    expect((await store.lookup(query)).tokenRevoked).toBe(true);
    await server.kill();
    await server.start();
    await eventually(async () => {
      const error = await store.lookup(query).then(
        () => new Error('answered'),
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(StoreStateLostError);
    }, 10_000);
    expect(store.invalidations().isLive).toBe(false);
    // A node started after the restart finds the record of the loss and refuses as well.
    await expect(open().lookup(query)).rejects.toMatchObject({ code: 'store_state_lost' });
  });
});
