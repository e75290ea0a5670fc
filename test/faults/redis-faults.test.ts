import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { StoreUnavailableError, type WardenOptions } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
import { mintToken, RedisServer, TcpProxy } from '@tokenwarden/testing';
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
 * Redis faults under steady traffic, each on redis-server processes the test starts and stops by
 * pid. The documented behaviour is fail closed: while Redis cannot answer within
 * `commandTimeoutMs` (200 ms), every protected request gets 503 `store_unavailable`; a revoked
 * token, a revoked subject or a withdrawn consent is never honoured; and service comes back by
 * itself when Redis does. Redis persists (AOF, fsync always), as it must in production for a
 * revocation to outlive a restart. Latencies are printed, never asserted.
 *
 * Every fault runs in two modes. Without the local state cache every request needs Redis, so
 * every answer well inside the fault is a 503. With the state cache (the default for a store that
 * announces its changes) answers may still come from the cache while its invalidation feed is
 * trusted; the guarantees are the same, and the figures show how many were served. A further
 * mode (a cached mode with its own staleness bound) is one more entry in MODES.
 */

const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'always'];
const FAULT_MS = 1_200;
const summary: string[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);

interface Mode {
  readonly name: string;
  readonly cache: WardenOptions['cache'] | undefined;
  /** True when every request inside a fault must be refused (nothing served locally). */
  readonly strict: boolean;
}
const MODES: readonly Mode[] = [
  { name: 'no state cache', cache: { state: false }, strict: true },
  { name: 'state cache (default)', cache: undefined, strict: false },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  closeAgent();
  console.log(`Redis faults (fail closed, commandTimeoutMs 200):\n${summary.join('\n')}`);
});

/** A durable redis-server, a store (optionally through a proxy) and the app, all cleaned up. */
async function rig(mode: Mode, options: { proxy?: boolean; args?: string[] } = {}) {
  const server = await RedisServer.start({ args: options.args ?? DURABLE });
  cleanups.push(() => server.dispose());
  const proxy = options.proxy ? await TcpProxy.start({ targetPort: server.port }) : undefined;
  if (proxy) cleanups.push(() => proxy.close());
  const store = new RedisStore({ url: proxy?.url ?? server.url, prefix: 'faults:' });
  cleanups.push(() => store.close());
  const app = await startApp(store, [], mode.cache);
  cleanups.push(() => app.close());
  const probes = await guardedState(app.warden, 'f');
  return { server, proxy, store, app, probes };
}

/** Polls `ready` every 50 ms for up to 10 s. */
async function waitUntil(ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached in 10 s');
    await sleep(50);
  }
}

/** Traffic before, during and after a fault; checks the guarantees and records the figures. */
async function underTraffic(
  name: string,
  port: number,
  probes: readonly Probe[],
  inject: () => Promise<void> | void,
  heal: () => Promise<void> | void,
  faultMs = FAULT_MS,
) {
  const traffic = new Traffic(port, probes);
  await sleep(300);
  await inject();
  const injectedAt = traffic.now();
  await sleep(faultMs);
  const healedAt = traffic.now();
  await heal();
  const recoveryMs = await waitForRecovery(port, probes);
  await sleep(200);
  const samples = await traffic.stop();
  expectFailClosed(samples, probes);
  // Well inside the fault: a request sent just before the heal may be answered after it.
  const during = samples.filter((s) => s.at >= injectedAt + 250 && s.at < healedAt - 250);
  summary.push(summarise(name, samples, recoveryMs));
  return { samples, during, recoveryMs };
}

describe.each(MODES)('Redis faults under traffic: $name', (mode) => {
  /** Every answer inside the fault refused, when nothing may be served locally. */
  const expectRefused = (during: readonly { status: number }[]) => {
    if (mode.strict) expect(during.every((s) => s.status === 503)).toBe(true);
  };

  it('refused connection: a store opened while nothing listens answers 503, then serves once Redis starts', async () => {
    const { server, app, probes } = await rig(mode);
    const port = app.port;
    await server.kill();
    // A new store and app on the dead address: the client never connected.
    const store = new RedisStore({ url: server.url, prefix: 'faults:' });
    cleanups.push(() => store.close());
    const cold = await startApp(store, [], mode.cache);
    cleanups.push(() => cold.close());
    expect(port).not.toBe(cold.port);
    const { during } = await underTraffic(
      `refused connection (cold start), ${mode.name}`,
      cold.port,
      probes,
      () => undefined,
      () => server.start(),
    );
    expect(during.length).toBeGreaterThan(0);
    expectRefused(during);
  });

  it('server killed mid-traffic (SIGKILL), restarted on the same port', async () => {
    const { server, app, probes } = await rig(mode);
    const { during } = await underTraffic(
      `killed mid-traffic (SIGKILL), ${mode.name}`,
      app.port,
      probes,
      () => server.kill(),
      () => server.start(),
    );
    expectRefused(during);
  });

  it('server frozen (SIGSTOP), then resumed', async () => {
    const { server, app, probes } = await rig(mode);
    const { during } = await underTraffic(
      `frozen (SIGSTOP), ${mode.name}`,
      app.port,
      probes,
      () => server.freeze(),
      () => server.thaw(),
    );
    expect(during.length).toBeGreaterThan(0);
    expectRefused(during);
  });

  it('network path paused (proxy holds every byte), then resumed', async () => {
    const { proxy, app, probes } = await rig(mode, { proxy: true });
    const { during } = await underTraffic(
      `network paused (TCP proxy), ${mode.name}`,
      app.port,
      probes,
      () => proxy!.pause(),
      () => proxy!.resume(),
    );
    expect(during.length).toBeGreaterThan(0);
    expectRefused(during);
  });

  it('slow server beyond the deadline (400 ms per reply through a proxy), then fast again', async () => {
    const { proxy, app, probes } = await rig(mode, { proxy: true });
    const { during } = await underTraffic(
      `slow, 400 ms per chunk (TCP proxy), ${mode.name}`,
      app.port,
      probes,
      () => void (proxy!.latencyMs = 400),
      () => void (proxy!.latencyMs = 0),
    );
    expect(during.length).toBeGreaterThan(0);
    expectRefused(during);
  });

  it('slow server within the deadline (40 ms per reply) keeps serving with the same answers', async () => {
    const { proxy, app, probes } = await rig(mode, { proxy: true });
    const { during } = await underTraffic(
      `slow, 40 ms per chunk (TCP proxy), ${mode.name}`,
      app.port,
      probes,
      () => void (proxy!.latencyMs = 40),
      () => void (proxy!.latencyMs = 0),
    );
    // Slower, not refused: the healthy answers keep coming (503s, if the machine stalls, are
    // still allowed by the fail-closed check above).
    expect(during.filter((s) => s.status !== 503).length).toBeGreaterThan(0);
  });

  it('LOADING after a restart: 503 until the dataset is loaded, and the revocations are back', async () => {
    const { server, app, probes } = await rig(mode, {
      args: [
        '--enable-debug-command',
        'yes',
        '--key-load-delay',
        '200',
        '--loading-process-events-interval-bytes',
        '1024',
      ],
    });
    await server.command('DEBUG', 'POPULATE', '2000', 'filler');
    await server.command('SAVE');
    const traffic = new Traffic(app.port, probes);
    await sleep(200);
    await server.restart();
    const loading = (await server.info('persistence'))['loading'];
    const restartedAt = traffic.now();
    const recoveryMs = await waitForRecovery(app.port, probes);
    await sleep(200);
    const samples = await traffic.stop();
    expectFailClosed(samples, probes);
    expect(loading).toBe('1');
    const refused = samples.filter((s) => s.at >= restartedAt && s.status === 503);
    if (mode.strict) expect(refused.length).toBeGreaterThan(0);
    expect(await server.command('DBSIZE')).toBeGreaterThan(2_000);
    summary.push(
      summarise(
        `LOADING after restart (RDB, 2k keys, 200 µs each), ${mode.name}`,
        samples,
        recoveryMs,
      ),
    );
  });

  it('failover to a replica: READONLY on the old primary refuses writes, reads stay closed, the new primary serves', async () => {
    const primary = await RedisServer.start({ args: DURABLE });
    cleanups.push(() => primary.dispose());
    const replica = await RedisServer.start({
      args: [...DURABLE, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    cleanups.push(() => replica.dispose());
    // The store reaches "the primary" through an address that moves, like a virtual IP.
    const proxy = await TcpProxy.start({ targetPort: primary.port });
    cleanups.push(() => proxy.close());
    const store = new RedisStore({ url: proxy.url, prefix: 'faults:' });
    cleanups.push(() => store.close());
    const app = await startApp(store, [], mode.cache);
    cleanups.push(() => app.close());
    const probes = await guardedState(app.warden, 'fo');
    // The state must be on the replica before the failover (replication is asynchronous).
    await waitUntil(async () => (await primary.command('WAIT', '1', '500')) === 1);

    let refusedWrite: unknown;
    const { samples } = await underTraffic(
      `failover to a replica (READONLY, then moved address), ${mode.name}`,
      app.port,
      probes,
      async () => {
        await replica.command('REPLICAOF', 'NO', 'ONE');
        await primary.command('REPLICAOF', '127.0.0.1', String(replica.port));
        refusedWrite = await app.warden
          .revokeToken('during-failover', { expiresAt: Date.now() + 60_000 })
          .then(
            () => 'written',
            (error: unknown) => error,
          );
      },
      () => {
        proxy.retarget(replica.port);
        proxy.cut();
      },
    );
    expect(refusedWrite).toBeInstanceOf(StoreUnavailableError);
    expect(String((refusedWrite as Error).message)).toMatch(/READONLY|not connected|closed/);
    expect(samples.length).toBeGreaterThan(0);

    // On the new primary a new revocation is written and honoured at once.
    const jti = 'after-failover';
    const token = mintToken({ claims: { jti } });
    await app.warden.revokeToken(jti, { expiresAt: Date.now() + 60_000 });
    const [after] = await Traffic.once(app.port, [
      { name: 'revoked after failover', path: '/customers/c1', token, healthy: 401, guarded: true },
    ]);
    expect(after).toMatchObject({ status: 401, code: 'token_revoked' });
  });

  it('partition of one node: a revocation written through another node is never honoured (no cache) or only until the feed is declared lost (cache)', async () => {
    const server = await RedisServer.start({ args: DURABLE });
    cleanups.push(() => server.dispose());
    const proxy = await TcpProxy.start({ targetPort: server.port });
    cleanups.push(() => proxy.close());
    const cut = new RedisStore({ url: proxy.url, prefix: 'faults:' });
    const writer = new RedisStore({ url: server.url, prefix: 'faults:' });
    cleanups.push(
      () => cut.close(),
      () => writer.close(),
    );
    const a = await startApp(cut, [], mode.cache);
    const b = await startApp(writer, [], mode.cache);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await guardedState(a.warden, 'p');
    const jti = 'partitioned';
    const probe: Probe = {
      name: 'revoked during the partition',
      path: '/customers/c1',
      token: mintToken({ claims: { jti } }),
      healthy: 401,
      guarded: true,
    };
    // Seen once by node A, so a cache would hold "not revoked".
    expect((await Traffic.once(a.port, [probe]))[0]!.status).toBe(200);
    proxy.pause();
    await b.warden.revokeToken(jti, { expiresAt: Date.now() + 60_000 });
    const revokedAt = performance.now();
    const seen: { ms: number; status: number }[] = [];
    while (performance.now() - revokedAt < 4_500) {
      const [sample] = await Traffic.once(a.port, [probe]);
      seen.push({ ms: performance.now() - revokedAt, status: sample!.status });
    }
    proxy.resume();
    await waitForRecovery(a.port, [probe]);
    const honoured = seen.filter((s) => s.status === 200);
    const lastHonouredMs = honoured.length === 0 ? 0 : Math.max(...honoured.map((s) => s.ms));
    summary.push(
      `partition of one node, revocation through another, ${mode.name}: ${seen.length} requests on the cut node, ${honoured.length} still allowed (last ${lastHonouredMs.toFixed(0)} ms after the revocation), the rest ${[...new Set(seen.filter((s) => s.status !== 200).map((s) => s.status))].join('/')}`,
    );
    expect(seen.every((s) => s.status === 200 || s.status === 503 || s.status === 401)).toBe(true);
    if (mode.strict) expect(honoured).toEqual([]);
  });

  it('saw no unhandled rejection during any fault', () => {
    expect(unhandled).toEqual([]);
  });
});
