import { afterAll, describe, expect, it } from '@jest/globals';
import Koa2 from 'koa2';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/koa';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

/** Koa 2 takes the same middleware: the adapter reads only what both versions offer. */
describe('Koa 2', () => {
  const sink = new MemorySink();
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    purposes: ['marketing'],
    audit: { sinks: [sink], fingerprintKey: 'f'.repeat(32) },
  });
  const app = new Koa2();
  const consent = tw.requireConsent('marketing');
  app.use(tw);
  app.use(async (ctx, next) => {
    if (ctx.path !== '/me/profile') return next();
    return consent(ctx, async () => {
      ctx.body = { subject: ctx.state.auth?.subject };
    });
  });
  afterAll(() => tw.warden.close());

  it('allows, refuses and audits exactly as on Koa 3', async () => {
    const token = mintToken({ claims: { sub: 'k2-user' } });
    const missing = await request(app.callback())
      .get('/me/profile')
      .set('authorization', `Bearer ${token}`);
    expect(missing.status).toBe(403);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body.code).toBe('consent_missing');
    await tw.warden.grantConsent({ subject: 'k2-user', purpose: 'marketing' });
    const ok = await request(app.callback())
      .get('/me/profile')
      .set('authorization', `Bearer ${token}`)
      .set('x-request-id', 'k2-ok');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ subject: 'k2-user' });
    const none = await request(app.callback()).get('/me/profile');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
    await tw.warden.flushAudit();
    expect(sink.events.filter((e) => e.requestId === 'k2-ok')).toEqual([
      expect.objectContaining({ outcome: 'allow', reason: 'consent', status: 200 }),
    ]);
  });
});
