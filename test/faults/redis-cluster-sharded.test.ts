import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { RedisStore } from '@tokenwarden/redis';
import type { RedisServer } from '@tokenwarden/testing';
import { startCluster, type TestCluster } from './cluster-rig';
import { sleep } from './rig';

/**
 * The `'sharded'` layout on a three-master Redis Cluster with one replica each, started here: the
 * keys of 10,000 data subjects spread over all three masters, every lookup answers from one
 * slot, and killing a master loses no revocation or withdrawal that `durability` acknowledged.
 */

const PREFIX = 'sharded:';
const HOUR = 3_600_000;
const SUBJECTS = 10_000;
const nodes: RedisServer[] = [];
let cluster: Cluster;
let store: RedisStore;

/** Each running master's port, from CLUSTER NODES. */
async function masters(): Promise<RedisServer[]> {
  const live = nodes.find((n) => n.isRunning)!;
  const text = String(await live.command('CLUSTER', 'NODES'));
  const ports = text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[2]?.includes('master') && !f[2].includes('fail') && f.length > 8)
    .map((f) => Number(f[1]!.split(':')[1]!.split('@')[0]));
  return nodes.filter((n) => ports.includes(n.port) && n.isRunning);
}

async function keysOn(node: RedisServer, pattern: string): Promise<string[]> {
  return (await node.command('KEYS', pattern)) as string[];
}

let testCluster: TestCluster | undefined;

beforeAll(async () => {
  // A durable write waits up to durability.timeoutMs on top of the store's deadline.
  testCluster = await startCluster(3, 1, { commandTimeoutMs: 1_500 });
  nodes.push(...testCluster.nodes);
  cluster = testCluster.client;
  store = new RedisStore({
    client: cluster,
    prefix: PREFIX,
    layout: 'sharded',
    commandTimeoutMs: 500,
    durability: { replicas: 1, timeoutMs: 1_000 },
  });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await testCluster?.stop();
});

describe("RedisStore layout 'sharded' on a three-master Redis Cluster", () => {
  it('spreads the keys of 10,000 subjects over all three masters, none holding half', async () => {
    const now = Date.now();
    const started = Date.now();
    // 100 durable writes at a time: a burst of 500 could outwait the command timeout on a busy
    // machine, which says nothing about where the keys land.
    for (let i = 0; i < SUBJECTS; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.setNotBefore('subject', `subject-${i + j}`, now, now + HOUR),
        ),
      );
    }
    const writeMs = Date.now() - started;
    const perMaster = await Promise.all(
      (await masters()).map(async (m) => (await keysOn(m, `${PREFIX}*nbf:sub:subject-*`)).length),
    );
    console.log(
      `sharded layout: ${SUBJECTS} subject marks (durable) written in ${writeMs} ms; keys per master: ${perMaster.join(', ')}`,
    );
    expect(perMaster).toHaveLength(3);
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(SUBJECTS);
    for (const count of perMaster) {
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThanOrEqual(SUBJECTS / 2);
    }
    // Every lookup reads its subject's bucket: each of them sees its mark.
    for (const i of [0, 1, 4_999, 9_999]) {
      const snapshot = await store.lookup({ tokenId: `t-${i}`, subject: `subject-${i}` });
      expect(snapshot.notBefore).toEqual({ subject: now });
    }
  }, 120_000);

  it('answers revocations, client and deployment marks and consent of another data subject from any bucket', async () => {
    const now = Date.now();
    await store.revokeToken('jti-anywhere', now + HOUR);
    await store.setNotBefore('client', 'client-1', now, now + HOUR);
    await store.grantConsent({ subject: 'customer-7', purpose: 'marketing', grantedAt: now });
    await store.withdrawConsent({ subject: 'customer-8', purpose: 'marketing', withdrawnAt: now });
    for (const subject of ['alice', 'bob', 'carol', 'customer-7', 'subject-42']) {
      const snapshot = await store.lookup({
        tokenId: 'jti-anywhere',
        subject,
        client: 'client-1',
        consent: { subject: 'customer-7', purpose: 'marketing' },
      });
      expect(snapshot).toMatchObject({
        tokenRevoked: true,
        notBefore: { client: now },
        consent: { subject: 'customer-7', grantedAt: now },
      });
      const withdrawn = await store.lookup({
        tokenId: 'other',
        subject,
        consent: { subject: 'customer-8', purpose: 'marketing' },
      });
      expect(withdrawn).toMatchObject({ tokenRevoked: false, consent: { withdrawnAt: now } });
    }
    await store.setNotBefore('all', '', now, now + HOUR);
    expect((await store.lookup({ tokenId: 'x', subject: 'dave' })).notBefore).toMatchObject({
      all: now,
    });
  });

  it('a master failover loses no acknowledged revocation or withdrawal', async () => {
    const now = Date.now();
    const subject = 'failover-subject';
    await store.revokeToken('jti-failover', now + HOUR);
    await store.setNotBefore('subject', subject, now, now + HOUR);
    await store.withdrawConsent({ subject, purpose: 'billing', withdrawnAt: now });
    // The master holding the subject's bucket dies at once after the acknowledged writes.
    const owners = await masters();
    let owner: RedisServer | undefined;
    for (const m of owners) {
      if ((await keysOn(m, `${PREFIX}*nbf:sub:${subject}`)).length > 0) owner = m;
    }
    expect(owner).toBeDefined();
    await owner!.kill();
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const snapshot = await store.lookup({
          tokenId: 'jti-failover',
          subject,
          consent: { subject, purpose: 'billing' },
        });
        expect(snapshot).toMatchObject({
          tokenRevoked: true,
          notBefore: { subject: now },
          consent: { withdrawnAt: now },
        });
        break;
      } catch (error) {
        // Unavailable while the replica takes over; never a lost state, never an allow.
        expect((error as { code?: string }).code).toBe('store_unavailable');
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
    const promoted = await masters();
    expect(promoted.map((m) => m.port)).not.toContain(owner!.port);
    expect(promoted).toHaveLength(3);
  }, 60_000);
});
