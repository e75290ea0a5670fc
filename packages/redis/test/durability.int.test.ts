import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { RedisStore, StoreNotReplicatedError } from '@tokenwarden/redis';
import { RedisServer } from '@tokenwarden/testing';

/**
 * `durability: { replicas, timeoutMs }`: a revocation or withdrawal is reported written only once
 * enough replicas acknowledged it (WAIT). Real processes: a primary and a replica started here
 * (`redis-server --replicaof`), a failover by promoting the replica (`REPLICAOF NO ONE`).
 */

const DURABLE = { replicas: 1, timeoutMs: 1_000 } as const;
const HOUR = 3_600_000;
let primary: RedisServer;
let replica: RedisServer;
const stores: RedisStore[] = [];

function open(server: RedisServer, durable = true): RedisStore {
  const store = new RedisStore({
    url: server.url,
    prefix: 'durable:',
    commandTimeoutMs: 500,
    ...(durable ? { durability: DURABLE } : {}),
  });
  stores.push(store);
  return store;
}

async function linkUp(server: RedisServer): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await server.info('replication'))['master_link_status'] !== 'up') {
    if (Date.now() > deadline) throw new Error(`replica never synced:\n${server.log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  primary = await RedisServer.start();
  replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  await linkUp(replica);
}, 60_000);

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await Promise.all([primary?.dispose(), replica?.dispose()]);
});

describe('RedisStore durability (WAIT)', () => {
  it('checks the option', () => {
    for (const durability of [
      { replicas: 0, timeoutMs: 100 },
      { replicas: 1.5, timeoutMs: 100 },
      { replicas: 1, timeoutMs: 0 },
      { replicas: 1, timeoutMs: 60_001 },
      { replicas: 1 },
      null,
    ]) {
      expect(
        () =>
          new RedisStore({
            url: primary.url,
            durability: durability as unknown as { replicas: number; timeoutMs: number },
          }),
      ).toThrow(ConfigError);
    }
  });

  it('acknowledged revocations and withdrawals survive a failover to the replica', async () => {
    const store = open(primary);
    const now = Date.now();
    // The first read starts the epoch, which the replica must hold too.
    await store.lookup({ tokenId: 'warm', subject: 'warm' });
    await store.revokeToken('jti-1', now + HOUR);
    await store.setNotBefore('subject', 'sub-1', now, now + HOUR);
    await store.setNotBefore('client', 'cli-1', now, now + HOUR);
    await store.grantConsent({ subject: 'ds-1', purpose: 'marketing', grantedAt: now - 10 });
    await store.withdrawConsent({ subject: 'ds-1', purpose: 'marketing', withdrawnAt: now });

    // The primary dies at once: nothing is written to disk (no persistence), nothing more is sent.
    await primary.kill();
    await replica.command('REPLICAOF', 'NO', 'ONE');
    const promoted = open(replica, false);
    const snapshot = await promoted.lookup({
      tokenId: 'jti-1',
      subject: 'sub-1',
      client: 'cli-1',
      consent: { subject: 'ds-1', purpose: 'marketing' },
    });
    expect(snapshot.tokenRevoked).toBe(true);
    expect(snapshot.notBefore).toEqual({ subject: now, client: now });
    expect(snapshot.consent).toMatchObject({ grantedAt: now - 10, withdrawnAt: now });

    // Back to a primary with its replica for the next test.
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await primary.start();
    await primary.command('REPLICAOF', 'NO', 'ONE');
    await replica.command('REPLICAOF', '127.0.0.1', String(primary.port));
    await linkUp(replica);
  }, 60_000);

  it('rejects a revocation and a withdrawal that no replica acknowledged', async () => {
    const store = open(primary);
    const lax = open(primary, false);
    const now = Date.now();
    await store.revokeToken('jti-ok', now + HOUR);
    await replica.stop();
    try {
      const started = Date.now();
      const revoked = store.revokeToken('jti-2', now + HOUR);
      await expect(revoked).rejects.toBeInstanceOf(StoreNotReplicatedError);
      await expect(revoked).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(revoked).rejects.toMatchObject({
        code: 'store_unavailable',
        acknowledged: 0,
        required: 1,
      });
      // Redis waited for the replica the whole timeout, not the 500 ms command deadline.
      expect(Date.now() - started).toBeGreaterThanOrEqual(DURABLE.timeoutMs - 50);
      await expect(
        store.withdrawConsent({ subject: 'ds-2', purpose: 'marketing', withdrawnAt: now }),
      ).rejects.toBeInstanceOf(StoreNotReplicatedError);
      await expect(store.setNotBefore('all', '', now, now + HOUR)).rejects.toBeInstanceOf(
        StoreNotReplicatedError,
      );
      // A grant is not waited for: losing one refuses, it never allows.
      await expect(
        store.grantConsent({ subject: 'ds-3', purpose: 'marketing', grantedAt: now }),
      ).resolves.toMatchObject({ grantedAt: now });
      // Without the option, a write is reported once the primary applied it.
      await expect(lax.revokeToken('jti-3', now + HOUR)).resolves.toBeUndefined();
      // What the primary applied is kept and in force: the caller only learns it is not replicated.
      const snapshot = await store.lookup({ tokenId: 'jti-2', subject: 's' });
      expect(snapshot.tokenRevoked).toBe(true);
    } finally {
      await replica.start();
      await linkUp(replica);
    }
    await expect(store.revokeToken('jti-4', now + HOUR)).resolves.toBeUndefined();
  }, 60_000);
});
