/**
 * The frameworks' habits, the same on every adapter: optional authentication
 * (`credentialsRequired: false`), a custom token getter (`credentials.getToken`) and denials
 * answered by the application's own error handling.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink, MemoryStore, type RequestView, type WardenOptions } from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, AppSettings, RunningApp } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Starts an app on `driver` with these options (audit in memory), closing it after the block. */
function appFor(driver: AdapterDriver, extra: Partial<WardenOptions>, settings?: AppSettings) {
  const running: { app?: RunningApp; sink: MemorySink } = { sink: new MemorySink() };
  beforeAll(async () => {
    running.app = await driver.start(
      {
        jwt: testJwtOptions(),
        store: new MemoryStore(),
        purposes: ['marketing', 'billing'],
        audit: { sinks: [running.sink], fingerprintKey: randomBytes(32) },
        logger: { warn() {}, error() {} },
        ...extra,
      },
      undefined,
      settings,
    );
  });
  afterAll(() => running.app?.close());
  return running;
}

describe.each(DRIVERS)('$name', (driver) => {
  describe('credentialsRequired: false', () => {
    const running = appFor(driver, { credentialsRequired: false });

    it('lets a request without a credential go on anonymously, audited as public_route', async () => {
      const res = await request(running.app!.server).get('/plain').set('x-request-id', 'anon-1');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true, subject: null });
      await running.app!.warden.flushAudit();
      expect(running.sink.events.filter((e) => e.requestId === 'anon-1')).toEqual([
        expect.objectContaining({ outcome: 'allow', reason: 'public_route', status: 200 }),
      ]);
    });

    it('verifies a credential that is sent: a good one names the caller, a bad one is 401', async () => {
      const http = request(running.app!.server);
      expect((await http.get('/plain').set(bearer(mintToken()))).body).toEqual({
        ok: true,
        subject: 'user-1',
      });
      const bad = await http.get('/plain').set(bearer('a.b.c'));
      expect([bad.status, bad.body.code]).toEqual([401, 'token_malformed']);
      const basic = await http.get('/plain').set('authorization', 'Basic dXNlcjpwYXNz');
      expect([basic.status, basic.body.code]).toEqual([401, 'token_malformed']);
    });

    it('refuses anonymous requests on routes that need scopes, claims or consent', async () => {
      const http = request(running.app!.server);
      for (const path of ['/customers/c1', '/reports', '/tenants/acme/reports', '/me/profile']) {
        const res = await http.get(path);
        expect([path, res.status, res.body.code]).toEqual([path, 401, 'token_missing']);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
      }
    });
  });

  describe('credentials.getToken', () => {
    const getToken = (view: RequestView) => view.headerValues('x-access-token')?.[0];
    const running = appFor(driver, { credentials: { getToken, queryParameter: 'access_token' } });

    it('reads the token where the application says, instead of the Authorization header', async () => {
      const http = request(running.app!.server);
      const token = mintToken({ claims: { sub: 'getter-1' } });
      expect((await http.get('/customers/c1').set('x-access-token', token)).body).toEqual({
        ok: true,
        subject: 'getter-1',
      });
      const header = await http.get('/plain').set(bearer(token));
      expect([header.status, header.body.code]).toEqual([401, 'token_missing']);
    });

    it('size-caps and checks what it gives, and counts it as one credential', async () => {
      const http = request(running.app!.server);
      const large = await http.get('/plain').set('x-access-token', 'a'.repeat(9000));
      expect([large.status, large.body.code]).toEqual([401, 'token_too_large']);
      const spaced = await http.get('/plain').set('x-access-token', 'not a token');
      expect([spaced.status, spaced.body.code]).toEqual([401, 'token_malformed']);
      const two = await http
        .get(`/plain?access_token=${mintToken()}`)
        .set('x-access-token', mintToken());
      expect([two.status, two.body.code]).toEqual([400, 'token_multiple']);
    });
  });

  describe("denials answered by the application's error handling", () => {
    const running = appFor(driver, {}, { errorHandler: true });

    it.each([
      ['the middleware (no token)', '/plain', {}, 401, 'token_missing'],
      ['a scope step', '/reports', bearer(mintToken()), 403, 'insufficient_scope'],
      ['a claim step', '/tenants/acme/reports', bearer(mintToken()), 403, 'claim_check_failed'],
    ] as const)(
      'reach it from %s, with status and headers',
      async (_what, path, headers, status, code) => {
        const res = await request(running.app!.server).get(path).set(headers);
        expect(res.status).toBe(status);
        expect(res.body).toEqual({ handled: code });
        if (status === 401) expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
        if (code === 'insufficient_scope') {
          expect(res.headers['www-authenticate']).toContain('scope="reports:read reports:admin"');
        }
        expect(res.headers['cache-control']).toBe('no-store');
      },
    );

    it('still allows what Tokenwarden allows', async () => {
      const res = await request(running.app!.server).get('/plain').set(bearer(mintToken()));
      expect(res.body).toEqual({ ok: true, subject: 'user-1' });
    });
  });
});
