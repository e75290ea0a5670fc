import { describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { MemoryStore, StoreUnavailableError } from '@tokenwarden/core';
import { healthHandler, tokenwarden } from '@tokenwarden/express';
import { testJwtOptions } from '@tokenwarden/testing';

/** A store whose ping fails with an error that names an address clients must not see. */
class DownStore extends MemoryStore {
  down = false;
  override ping(): Promise<void> {
    if (!this.down) return Promise.resolve();
    return Promise.reject(new StoreUnavailableError('no connection (ECONNREFUSED 10.1.2.3:6379)'));
  }
}

describe('Express health handler', () => {
  it('answers 200 ok, then 503 store_unavailable without detail, above the middleware and without a token', async () => {
    const store = new DownStore();
    const tw = tokenwarden({
      jwt: testJwtOptions(),
      store,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const app = express();
    app.get('/health', tw.healthHandler());
    app.get('/ready', healthHandler(tw.warden));
    app.use(tw);
    for (const path of ['/health', '/ready']) {
      const ok = await request(app).get(path);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ status: 'ok' });
      expect(ok.headers['cache-control']).toBe('no-store');
    }
    store.down = true;
    const down = await request(app).get('/health');
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ status: 'unavailable', reason: 'store_unavailable' });
    expect(down.text).not.toContain('10.1.2.3');
    await tw.warden.close({ store: true });
  });
});
