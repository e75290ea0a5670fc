import { describe, expect, it } from '@jest/globals';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { MemoryStore, StoreUnavailableError } from '@tokenwarden/core';
import { TokenwardenGuard, TokenwardenModule } from '@tokenwarden/nest';
import { testJwtOptions } from '@tokenwarden/testing';
import { PLATFORMS, startApp } from './support';

/** A store whose ping fails with an error that names an address clients must not see. */
class DownStore extends MemoryStore {
  down = false;
  override ping(): Promise<void> {
    if (!this.down) return Promise.resolve();
    return Promise.reject(new StoreUnavailableError('no connection (ECONNREFUSED 10.1.2.3:6379)'));
  }
}

describe.each(PLATFORMS)('Nest health controller (%s)', (platform) => {
  it('is mounted at healthPath, open under the global guard: 200 ok, then 503 store_unavailable', async () => {
    const store = new DownStore();
    const app = await startApp(
      {
        imports: [
          TokenwardenModule.forRoot({
            jwt: testJwtOptions(),
            store,
            audit: false,
            logger: { warn() {}, error() {} },
            healthPath: '/healthz',
          }),
        ],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      platform,
    );
    try {
      const http = request(app.getHttpServer());
      const ok = await http.get('/healthz');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ status: 'ok' });
      expect(ok.headers['cache-control']).toBe('no-store');
      store.down = true;
      const down = await http.get('/healthz');
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ status: 'unavailable', reason: 'store_unavailable' });
      expect(down.text).not.toContain('10.1.2.3');
    } finally {
      await app.close();
    }
  });

  it('mounts none by default', async () => {
    const app = await startApp(
      {
        imports: [
          TokenwardenModule.forRoot({
            jwt: testJwtOptions(),
            audit: false,
            logger: { warn() {}, error() {} },
          }),
        ],
      },
      platform,
    );
    try {
      expect((await request(app.getHttpServer()).get('/health')).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
