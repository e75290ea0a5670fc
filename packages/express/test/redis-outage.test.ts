import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express, { type Express } from 'express';
import request from 'supertest';
import { RedisStore } from '@tokenwarden/redis';
import { tokenwarden, type TokenwardenMiddleware } from '@tokenwarden/express';
import { mintToken, RedisServer, testJwtOptions } from '@tokenwarden/testing';

/** Redis stops mid-traffic: every protected request fails closed, fast, and service comes back. */
describe('Express adapter while Redis is down', () => {
  let server: RedisServer;
  let store: RedisStore;
  let tw: TokenwardenMiddleware;
  let app: Express;
  let handled = 0;

  beforeAll(async () => {
    // Persistent, as Redis must be in production: an outage, not a loss of the state (that one
    // is refused with store_state_lost until the state is restored: test/faults/state-loss).
    server = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    store = new RedisStore({ url: server.url, prefix: 'outage:' });
    tw = tokenwarden({
      jwt: testJwtOptions(),
      store,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    app = express();
    app.use(tw);
    app.get('/data', (_req, res) => {
      handled += 1;
      res.json({ ok: true });
    });
  });
  afterAll(async () => {
    await tw.warden.close();
    await store.close();
    await server.dispose();
  });

  it('answers 503 store_unavailable within a second, allows nothing, and recovers by itself', async () => {
    const token = mintToken();
    expect((await request(app).get('/data').set('authorization', `Bearer ${token}`)).status).toBe(
      200,
    );
    await server.kill();
    handled = 0;
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const res = await request(app).get('/data').set('authorization', `Bearer ${token}`);
      const elapsed = performance.now() - started;
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('store_unavailable');
      expect(res.headers['retry-after']).toBe('1');
      expect(elapsed).toBeLessThan(1_000);
    }
    expect(handled).toBe(0);

    await server.start();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await request(app).get('/data').set('authorization', `Bearer ${token}`)).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    const metrics = await tw.warden.metrics.render();
    expect(metrics).toMatch(/tokenwarden_store_errors_total\{operation="lookup"\} [1-9]/);
    // 20 during the outage, plus any refused while the restarted server was still loading.
    const refused =
      /tokenwarden_decisions_total\{outcome="deny",reason="store_unavailable"\} (\d+)/.exec(
        metrics,
      );
    expect(Number(refused?.[1])).toBeGreaterThanOrEqual(20);
  });
});
