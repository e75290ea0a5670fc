import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { JsonLinesSink, MemorySink, type WardenOptions, type WardenStore } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
import { mintToken, RedisServer, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { nestExpressDriver } from '../conformance/drivers/nest';
import { closeAgent, portOf } from '../hostile/http';
import { guardedState, sleep, Traffic, waitForRecovery, type Probe, type Sample } from './rig';

/**
 * Redis loses the state under traffic: restarted without persistence (`--save '' --appendonly
 * no`), or flushed (`FLUSHALL`, every connection stays open). Three nodes of one deployment, on
 * Express, Koa and Nest, share the Redis; each writes its audit trail to a JSON-lines file of one
 * directory. The guarantees: from the fault on, no revoked token, revoked subject or withdrawn
 * consent is ever answered 200 on any node; once a node knows (at once for a read that reaches
 * Redis, within a heartbeat for a cached node after a FLUSHALL) every protected request gets 503
 * `store_state_lost`, a node started after the loss as well, with one log line, the metrics and
 * audit events; `tokenwarden state restore --from <the trail>` then brings every node back with
 * every revocation in force.
 */

const PREFIX = 'loss:';
const HOUR = 3_600_000;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);

interface Mode {
  readonly name: string;
  readonly cache: WardenOptions['cache'] | undefined;
}
const MODES: readonly Mode[] = [
  { name: 'no state cache', cache: { state: false } },
  { name: 'state cache (default)', cache: undefined },
];

interface Fault {
  readonly name: string;
  inject(server: RedisServer): Promise<void>;
}
const FAULTS: readonly Fault[] = [
  {
    name: 'restarted without persistence',
    inject: async (server) => {
      await server.kill();
      await server.start();
    },
  },
  { name: 'FLUSHALL', inject: async (server) => void (await server.command('FLUSHALL')) },
];

const DRIVERS: readonly AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver];

/** One node: an app on one framework, its store, audit sink and log. */
interface Node {
  readonly name: string;
  readonly app: RunningApp;
  readonly port: number;
  readonly sink: MemorySink;
  readonly errors: string[];
  readonly warnings: string[];
}

const cleanups: (() => Promise<unknown>)[] = [];
const summary: string[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  closeAgent();
  console.log(`Redis state loss (3 nodes: Express, Koa, Nest):\n${summary.join('\n')}`);
});

/** Starts a node on `driver` over its own RedisStore, auditing to `<dir>/<name>.jsonl`. */
async function startNode(
  driver: AdapterDriver,
  server: RedisServer,
  dir: string,
  mode: Mode,
  name = driver.name,
): Promise<Node> {
  const store: WardenStore = new RedisStore({ url: server.url, prefix: PREFIX, heartbeatMs: 100 });
  cleanups.push(() => store.close());
  const sink = new MemorySink(200_000);
  const errors: string[] = [];
  const warnings: string[] = [];
  const app = await driver.start({
    jwt: testJwtOptions(),
    store,
    ...(mode.cache === undefined ? {} : { cache: mode.cache }),
    purposes: ['marketing', 'billing'],
    audit: {
      sinks: [sink, new JsonLinesSink({ file: join(dir, `${name}.jsonl`) })],
      fingerprintKey: randomBytes(32),
    },
    logger: {
      warn: (message: string) => void warnings.push(message),
      error: (message: string) => void errors.push(message),
    },
  });
  cleanups.push(() => app.close());
  return { name, app, port: portOf(app.server), sink, errors, warnings };
}

/** A metric's value as the node serves it. */
async function metric(node: Node, series: string): Promise<number | undefined> {
  const text = await node.app.warden.metrics.render();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls until every probe on every node gets 503 store_state_lost. */
async function waitForRefusal(nodes: readonly Node[], probes: readonly Probe[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answers = (await Promise.all(nodes.map((n) => Traffic.once(n.port, probes)))).flat();
    if (answers.every((s) => s.status === 503 && s.code === 'store_state_lost')) return;
    if (Date.now() > deadline) {
      throw new Error(
        `not every request refused with store_state_lost: ${JSON.stringify(answers.map((s) => [s.probe, s.status, s.code]))}`,
      );
    }
    await sleep(25);
  }
}

/**
 * The guarantee from the fault on: a guarded probe is never 200; every answer is the healthy one,
 * or a 503 (store_unavailable while Redis restarts, store_state_lost once the loss is known).
 */
function expectNothingLeaked(samples: readonly Sample[], probes: readonly Probe[]): void {
  const byName = new Map(probes.map((p) => [p.name, p]));
  expect(samples.filter((s) => byName.get(s.probe)!.guarded && s.status === 200)).toEqual([]);
  const wrong = samples.filter((s) => {
    if (s.status === byName.get(s.probe)!.healthy) return false;
    return !(s.status === 503 && (s.code === 'store_unavailable' || s.code === 'store_state_lost'));
  });
  expect(wrong.slice(0, 5)).toEqual([]);
}

/** Runs the CLI in this process; resolves the exit code and both outputs. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // The run's chain key, as an operator's shell holds it; nothing else of this process.
  const env = { TOKENWARDEN_AUDIT_CHAIN_KEY: process.env.TOKENWARDEN_AUDIT_CHAIN_KEY };
  const code = await runCli(argv, { stdout, stderr, env });
  return { code, out, err };
}

describe.each(MODES)('Redis loses the state, $name', (mode) => {
  it.each(FAULTS)(
    '$name: nothing revoked or withdrawn is honoured on Express, Koa or Nest; state restore brings every revocation back',
    async (fault) => {
      const server = await RedisServer.start();
      cleanups.push(() => server.dispose());
      const dir = mkdtempSync(join(tmpdir(), 'tw-state-loss-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const nodes: Node[] = [];
      for (const driver of DRIVERS) nodes.push(await startNode(driver, server, dir, mode));
      const [express, koa, nest] = nodes as [Node, Node, Node];

      // The state, written through every node, so the trail has three producers.
      const probes = await guardedState(express.app.warden, 'x');
      const koaJti = 'revoked-on-koa';
      await koa.app.warden.revokeToken(koaJti, { expiresAt: Date.now() + HOUR });
      await nest.app.warden.grantConsent({ subject: 'c-nest', purpose: 'marketing' });
      await nest.app.warden.withdrawConsent({ subject: 'c-nest', purpose: 'marketing' });
      const marketing = mintToken({ claims: { scope: 'marketing:read', sub: 'agent-nest' } });
      probes.push(
        {
          name: 'revoked on koa',
          path: '/customers/c1',
          token: mintToken({ claims: { jti: koaJti } }),
          healthy: 401,
          guarded: true,
        },
        {
          name: 'consent withdrawn on nest',
          path: '/customers/c-nest/profile',
          token: marketing,
          healthy: 403,
          guarded: true,
        },
      );
      for (const node of nodes) await waitForRecovery(node.port, probes);
      await Promise.all(nodes.map((n) => n.app.warden.flushAudit()));

      // Steady traffic on every node through the fault.
      const traffic = nodes.map((n) => new Traffic(n.port, probes, 2));
      await sleep(300);
      const injectedAt = traffic.map((t) => t.now());
      await fault.inject(server);
      await waitForRefusal(nodes, probes);
      await sleep(300);
      const during = await Promise.all(traffic.map((t) => t.stop()));
      const firstLost: number[] = [];
      during.forEach((samples, i) => {
        const after = samples.filter((s) => s.at >= injectedAt[i]!);
        expect(after.length).toBeGreaterThan(0);
        expectNothingLeaked(after, probes);
        // Once a node refused with store_state_lost, every request sent later was refused so.
        const lost = after.filter((s) => s.code === 'store_state_lost');
        expect(lost.length).toBeGreaterThan(0);
        const known = Math.min(...lost.map((s) => s.at + s.ms));
        expect(after.filter((s) => s.at > known && s.code !== 'store_state_lost')).toEqual([]);
        firstLost.push(known - injectedAt[i]!);
      });
      const counts = new Map<string, number>();
      for (const s of during.flat()) {
        const key = s.code === undefined ? String(s.status) : `${s.status} ${s.code}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }

      // A node started after the loss does not take the empty Redis for a new deployment.
      const late = await startNode(expressDriver, server, dir, mode, 'express-late');
      await waitForRefusal([late], probes);

      for (const node of [...nodes, late]) {
        expect(await metric(node, 'tokenwarden_store_state_lost')).toBe(1);
        expect(await metric(node, 'tokenwarden_store_state_losses_total')).toBe(1);
        expect(
          await metric(
            node,
            'tokenwarden_decisions_total{outcome="deny",reason="store_state_lost"}',
          ),
        ).toBeGreaterThan(0);
        await node.app.warden.flushAudit();
        expect(
          node.sink.events.some(
            (e) => e.type === 'access.decision' && e.reason === 'store_state_lost',
          ),
        ).toBe(true);
        expect(node.errors.filter((m) => m.includes('store state lost'))).toHaveLength(1);
      }

      // The operator restores the state from the trail the nodes wrote.
      const restoreStarted = performance.now();
      const restored = await cli(
        '--redis-url',
        server.url,
        '--prefix',
        PREFIX,
        'state',
        'restore',
        '--from',
        dir,
        '--actor',
        'ops',
      );
      expect(restored).toMatchObject({ code: 0, err: '' });
      expect(restored.out).toMatch(/audit chain\s+verified \(4 producers\)/);
      expect(restored.out).toMatch(/revoked tokens\s+2\n/);

      // Every node serves again, with every revocation and withdrawal in force.
      const restoredMs = performance.now() - restoreStarted;
      const after = [...nodes, late].map((n) => new Traffic(n.port, probes, 2));
      for (const node of [...nodes, late]) await waitForRecovery(node.port, probes);
      const healthyMs = performance.now() - restoreStarted;
      await sleep(300);
      for (const samples of await Promise.all(after.map((t) => t.stop()))) {
        expectNothingLeaked(samples, probes);
      }
      for (const node of [...nodes, late]) {
        const answers = await Traffic.once(node.port, probes);
        for (const probe of probes) {
          const answer = answers.find((s) => s.probe === probe.name)!;
          expect([node.name, probe.name, answer.status]).toEqual([
            node.name,
            probe.name,
            probe.healthy,
          ]);
        }
        expect(answers.find((s) => s.probe === 'revoked token')?.code).toBe('token_revoked');
        expect(answers.find((s) => s.probe === 'revoked subject')?.code).toBe('token_revoked');
        expect(answers.find((s) => s.probe === 'consent withdrawn')?.code).toBe(
          'consent_withdrawn',
        );
        expect(await metric(node, 'tokenwarden_store_state_lost')).toBe(0);
        expect(node.warnings.filter((m) => m.includes('current again'))).toHaveLength(1);
      }
      expect(unhandled).toEqual([]);
      summary.push(
        `${fault.name}, ${mode.name}: ${during.flat().length} requests (${[...counts].map(([k, n]) => `${k} ×${n}`).join(', ')}); first store_state_lost ${Math.max(...firstLost).toFixed(0)} ms after the fault at the latest node; no guarded 200; state restore ${restoredMs.toFixed(0)} ms, every node healthy ${healthyMs.toFixed(0)} ms after it began`,
      );
    },
    90_000,
  );
});
