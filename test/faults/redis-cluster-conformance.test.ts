import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink, type Warden } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
import { testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { API_KEY_STORE, SCENARIOS } from '../conformance/scenarios';
import { SwitchableStore } from '../conformance/switchable-store';
import { startCluster, type TestCluster } from './cluster-rig';

/**
 * The adapter conformance scenarios (test/conformance/scenarios.ts) on a `RedisStore` of layout
 * `'sharded'` over a three-master Redis Cluster started here: each request reads its subject's
 * bucket on whichever master serves it, and every answer, audit event and metric is the one the
 * in-memory and single-node stores give.
 */

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver];
const RUN = randomBytes(3).toString('hex');
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

async function decisions(warden: Warden, outcome: string, reason: string): Promise<number> {
  const text = await warden.metrics.render();
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith(`tokenwarden_decisions_total{outcome="${outcome}",reason="${reason}"}`),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe.each(DRIVERS)(
  "conformance on a three-master Cluster, layout 'sharded': $name",
  (driver) => {
    let app: RunningApp;
    let store: SwitchableStore;
    let redisStore: RedisStore;
    let sink: MemorySink;

    beforeAll(async () => {
      redisStore = new RedisStore({
        client: cluster.client,
        prefix: `conf-${driver.name}:`,
        layout: 'sharded',
        commandTimeoutMs: 1_000,
      });
      store = new SwitchableStore(redisStore);
      sink = new MemorySink();
      app = await driver.start({
        jwt: testJwtOptions(),
        store,
        purposes: ['marketing', 'billing'],
        apiKeys: { store: API_KEY_STORE },
        audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
        logger: { warn() {}, error() {} },
      });
    });
    afterAll(async () => {
      await app?.close();
      await redisStore?.close();
    });

    it.each(SCENARIOS.map((s, i) => [s.name, s, i] as const))('%s', async (_name, scenario, i) => {
      const ctx = {
        warden: app.warden,
        store,
        id: `${RUN}-${driver.name}-cluster-${i}`,
      } as Parameters<NonNullable<typeof scenario.setup>>[0];
      await scenario.setup?.(ctx);
      const want = scenario.expect;
      const outcome = want.status < 400 ? 'allow' : 'deny';
      const before = await decisions(app.warden, outcome, want.reason);
      const requestId = `conf-cluster-${ctx.id}`;
      const agent = request(app.server);
      let call =
        scenario.method === 'PUT' ? agent.put(scenario.path(ctx)) : agent.get(scenario.path(ctx));
      call = call.set('x-request-id', requestId);
      for (const [name, value] of Object.entries(scenario.headers?.(ctx) ?? {})) {
        call = call.set(name, value as string);
      }
      let res;
      try {
        res = await call;
      } finally {
        await scenario.teardown?.(ctx);
      }

      expect(res.status).toBe(want.status);
      const challenge = res.headers['www-authenticate'];
      if (want.wwwAuthenticate === null) expect(challenge).toBeUndefined();
      else if (typeof want.wwwAuthenticate === 'string')
        expect(challenge).toBe(want.wwwAuthenticate);
      else expect(challenge).toMatch(want.wwwAuthenticate);
      if (outcome === 'deny') {
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: want.status, code: want.code });
        if (ctx.token) expect(res.text).not.toContain(ctx.token);
      } else {
        expect(res.body).toMatchObject({ ok: true });
      }

      await app.warden.flushAudit();
      const events = sink.events.filter((e) => e.requestId === requestId);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'access.decision',
        outcome,
        reason: want.reason,
        status: want.status,
        ...want.audit?.(ctx),
      });
      expect(await decisions(app.warden, outcome, want.reason)).toBe(before + 1);
    });
  },
);
