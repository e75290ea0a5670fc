import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { auditKeys, RedisStore, RedisStreamSink } from '@tokenwarden/redis';
import { mintToken, type RedisServer } from '@tokenwarden/testing';
import { startCluster, type TestCluster } from './cluster-rig';
import { closeAgent } from '../hostile/http';
import {
  expectFailClosed,
  guardedState,
  sleep,
  startApp,
  summarise,
  Traffic,
  waitForRecovery,
  type Probe,
} from './rig';

/**
 * A three-master Redis Cluster with one replica each, started by the test (`redis-server
 * --cluster-enabled yes` six times, then `redis-cli --cluster create`): every store operation and
 * the audit stream work through an ioredis Cluster client, and when the master holding
 * Tokenwarden's slot is killed under traffic, requests fail closed until its replica takes over,
 * nothing revoked or withdrawn is honoured, and service resumes without a restart.
 */

const PREFIX = 'cluster-test:';
const nodes: RedisServer[] = [];
let testCluster: TestCluster | undefined;
let cluster: Cluster;
let store: RedisStore;
let streamSink: RedisStreamSink;
let app: Awaited<ReturnType<typeof startApp>>;
let probes: Probe[];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);

/** The running node that is master of `slot` (from CLUSTER NODES on any live node). */
async function masterOf(slot: number): Promise<RedisServer> {
  const live = nodes.find((n) => n.isRunning)!;
  const text = String(await live.command('CLUSTER', 'NODES'));
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (!fields[2]?.includes('master') || fields[2].includes('fail')) continue;
    const port = Number(fields[1]!.split(':')[1]!.split('@')[0]);
    for (const range of fields.slice(8)) {
      const [from, to = from] = range.split('-').map(Number) as [number, number?];
      if (slot >= from && slot <= to!) return nodes.find((n) => n.port === port)!;
    }
  }
  throw new Error(`no master for slot ${slot}`);
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  // Every write on disk before it is acknowledged: a killed master's replica has it all.
  testCluster = await startCluster(3, 1, {
    commandTimeoutMs: 200,
    nodeArgs: ['--appendonly', 'yes', '--appendfsync', 'always'],
  });
  nodes.push(...testCluster.nodes);
  cluster = testCluster.client;
  store = new RedisStore({ client: cluster, prefix: PREFIX });
  streamSink = new RedisStreamSink({ client: cluster, prefix: PREFIX });
  // The documented fail-closed path: no local state cache in front of the cluster.
  app = await startApp(store, [streamSink], { state: false });
  probes = await guardedState(app.warden, 'cl');
  // The state must be on the replicas before any failover (replication is asynchronous).
  const owner = await masterOf(Number(await cluster.cluster('KEYSLOT', `${PREFIX}{tw}`)));
  const synced = Date.now() + 20_000;
  while ((await owner.command('WAIT', '1', '500')) !== 1) {
    if (Date.now() > synced) throw new Error('the replica of the slot never acknowledged');
  }
}, 120_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  closeAgent();
  await app?.close();
  await streamSink?.close();
  await store?.close();
  await testCluster?.stop();
});

describe('RedisStore and the audit stream on a three-master Redis Cluster', () => {
  it('keeps every key in one slot, owned by one master of three', async () => {
    const masters = String(await nodes[0]!.command('CLUSTER', 'NODES'))
      .split('\n')
      .filter((l) => l.includes('master'));
    expect(masters).toHaveLength(3);
    const keys = (await Promise.all(
      nodes.map((n) => n.command('KEYS', `${PREFIX}*`)),
    )) as string[][];
    const slots = new Set(await Promise.all(keys.flat().map((k) => cluster.cluster('KEYSLOT', k))));
    expect(keys.flat().length).toBeGreaterThan(0);
    expect(slots.size).toBe(1);
  });

  it('answers every probe as documented: allowed, revoked, subject revoked, consent granted and withdrawn', async () => {
    const samples = await Traffic.once(app.port, probes);
    for (const probe of probes) {
      expect(samples.find((s) => s.probe === probe.name)).toMatchObject({ status: probe.healthy });
    }
    // Client marks and a global mark go through the same slot.
    const client = mintToken({
      claims: { client_id: 'cluster-client', iat: Math.floor(Date.now() / 1000) - 2 },
    });
    await app.warden.revokeClient('cluster-client');
    const [revoked] = await Traffic.once(app.port, [
      { name: 'client', path: '/customers/c1', token: client, healthy: 401, guarded: true },
    ]);
    expect(revoked).toMatchObject({ status: 401, code: 'token_revoked' });
    await app.warden.grantConsent({ subject: 'c-regrant', purpose: 'marketing' });
    expect(await app.warden.getConsent('c-regrant', 'marketing')).toMatchObject({
      subject: 'c-regrant',
      purpose: 'marketing',
      grantedAt: expect.any(Number),
    });
  });

  it('writes every decision and lifecycle event to the audit stream', async () => {
    await app.warden.flushAudit();
    const events = app.sink.events.length;
    // An entry holds one event (field e) or several consecutive ones (fields lines and n).
    const entries = await cluster.xrange(auditKeys(PREFIX).stream, '-', '+');
    let stored = 0;
    for (const [, fields] of entries) {
      const n = fields.indexOf('n');
      stored += n >= 0 && n % 2 === 0 ? Number(fields[n + 1]) : 1;
    }
    expect(events).toBeGreaterThan(5);
    expect(stored).toBe(events);
  });

  it('fails closed while the master of the slot is killed, and serves again from the promoted replica', async () => {
    const slot = Number(await cluster.cluster('KEYSLOT', `${PREFIX}{tw}`));
    const owner = await masterOf(slot);
    const traffic = new Traffic(app.port, probes);
    await sleep(300);
    await owner.kill();
    const killedAt = traffic.now();
    const recoveryMs = await waitForRecovery(app.port, probes, 30_000);
    await sleep(300);
    const samples = await traffic.stop();
    expectFailClosed(samples, probes);
    const promoted = await masterOf(slot);
    expect(promoted.port).not.toBe(owner.port);
    expect(samples.filter((s) => s.at > killedAt && s.status === 503).length).toBeGreaterThan(0);
    console.log(
      `Redis Cluster: ${summarise('master of the slot killed (SIGKILL), replica promoted', samples, recoveryMs)}`,
    );

    // Writes go to the new master and are honoured at once.
    const token = mintToken({ claims: { jti: 'after-cluster-failover' } });
    await app.warden.revokeToken('after-cluster-failover', { expiresAt: Date.now() + 60_000 });
    const [after] = await Traffic.once(app.port, [
      { name: 'after', path: '/customers/c1', token, healthy: 401, guarded: true },
    ]);
    expect(after).toMatchObject({ status: 401, code: 'token_revoked' });
  }, 60_000);

  it('saw no unhandled rejection', () => {
    expect(unhandled).toEqual([]);
  });
});
