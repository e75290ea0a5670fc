import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisStore } from '@tokenwarden/redis';
import { freePort, mintToken, RedisServer, sendCommands } from '@tokenwarden/testing';
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
 * Redis Sentinel: a primary, its replica and one sentinel, started by the test. The store uses an
 * ioredis client that finds the primary through the sentinel; when the primary is killed under
 * traffic the sentinel promotes the replica, requests fail closed meanwhile, nothing revoked or
 * withdrawn is honoured, and service resumes on the new primary without a restart.
 */

const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'always'];
let primary: RedisServer;
let replica: RedisServer;
let sentinel: ChildProcess;
let sentinelPort: number;
let sentinelDir: string;
let client: Redis;
let store: RedisStore;
let app: Awaited<ReturnType<typeof startApp>>;
let probes: Probe[];

async function sentinelCommand(...args: string[]) {
  const [reply] = await sendCommands(sentinelPort, [args]);
  return reply;
}

async function waitUntil(what: string, ready: () => Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${ms} ms`);
    await sleep(100);
  }
}

beforeAll(async () => {
  primary = await RedisServer.start({ args: DURABLE });
  replica = await RedisServer.start({
    args: [...DURABLE, '--replicaof', '127.0.0.1', String(primary.port)],
  });
  sentinelPort = await freePort();
  sentinelDir = await mkdtemp(join(tmpdir(), 'tokenwarden-sentinel-'));
  const conf = join(sentinelDir, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${sentinelDir}`,
      `sentinel monitor tw 127.0.0.1 ${primary.port} 1`,
      'sentinel down-after-milliseconds tw 1000',
      'sentinel failover-timeout tw 5000',
      '',
    ].join('\n'),
  );
  sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  // Stopped by its pid even if the test process ends early.
  process.once('exit', () => sentinel.kill('SIGKILL'));
  await waitUntil('the sentinel sees the replica', async () => {
    const replicas = await sentinelCommand('SENTINEL', 'REPLICAS', 'tw');
    return Array.isArray(replicas) && replicas.length === 1;
  });
  client = new Redis({
    sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
    name: 'tw',
    enableOfflineQueue: false,
    commandTimeout: 200,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    sentinelRetryStrategy: (times) => Math.min(100 * times, 1_000),
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  });
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  store = new RedisStore({ client, prefix: 'sentinel-test:' });
  app = await startApp(store, [], { state: false });
  probes = await guardedState(app.warden, 'se');
  await waitUntil(
    'the replica acknowledges',
    async () => (await primary.command('WAIT', '1', '500')) === 1,
  );
}, 60_000);

afterAll(async () => {
  closeAgent();
  await app?.close();
  await store?.close();
  client?.disconnect();
  sentinel?.kill('SIGKILL');
  await Promise.all([primary?.dispose(), replica?.dispose()]);
  await rm(sentinelDir, { recursive: true, force: true });
});

describe('RedisStore behind Redis Sentinel', () => {
  it('answers every probe as documented through the sentinel-discovered primary', async () => {
    const samples = await Traffic.once(app.port, probes);
    for (const probe of probes) {
      expect(samples.find((s) => s.probe === probe.name)).toMatchObject({ status: probe.healthy });
    }
  });

  it('fails closed while the primary is down, then serves from the promoted replica', async () => {
    const traffic = new Traffic(app.port, probes);
    await sleep(300);
    await primary.kill();
    const killedAt = traffic.now();
    await waitUntil(
      'the sentinel promotes the replica',
      async () => {
        const addr = await sentinelCommand('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'tw');
        return Array.isArray(addr) && Number(addr[1]) === replica.port;
      },
      30_000,
    );
    const recoveryMs = await waitForRecovery(app.port, probes, 30_000);
    await sleep(300);
    const samples = await traffic.stop();
    expectFailClosed(samples, probes);
    expect(samples.filter((s) => s.at > killedAt && s.status === 503).length).toBeGreaterThan(0);
    console.log(
      `Redis Sentinel: ${summarise('primary killed (SIGKILL), replica promoted by the sentinel', samples, recoveryMs)}`,
    );

    const token = mintToken({ claims: { jti: 'after-sentinel-failover' } });
    await app.warden.revokeToken('after-sentinel-failover', { expiresAt: Date.now() + 60_000 });
    const [after] = await Traffic.once(app.port, [
      { name: 'after', path: '/customers/c1', token, healthy: 401, guarded: true },
    ]);
    expect(after).toMatchObject({ status: 401, code: 'token_revoked' });
  }, 60_000);
});
