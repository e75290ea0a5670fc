import { afterAll, describe, expect, it } from '@jest/globals';
import express4 from 'express4';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/express';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

/** Express 4 takes the same middleware: the adapter reads only what both versions offer. */
describe('Express 4', () => {
  const sink = new MemorySink();
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    purposes: ['marketing'],
    audit: { sinks: [sink], fingerprintKey: 'f'.repeat(32) },
  });
  const app = express4();
  app.use(tw);
  app.get(
    '/customers/:id/profile',
    tw.requireScopes('marketing:read'),
    tw.requireConsent('marketing', { subject: { param: 'id' } }),
    (req, res) => {
      res.json({ id: req.params.id });
    },
  );
  afterAll(() => tw.warden.close());

  it('allows, refuses and audits exactly as on Express 5', async () => {
    const token = mintToken({ claims: { scope: 'marketing:read' } });
    const missing = await request(app)
      .get('/customers/c4/profile')
      .set('authorization', `Bearer ${token}`);
    expect(missing.status).toBe(403);
    expect(missing.body.code).toBe('consent_missing');
    await tw.warden.grantConsent({ subject: 'c4', purpose: 'marketing' });
    const ok = await request(app)
      .get('/customers/c4/profile')
      .set('authorization', `Bearer ${token}`)
      .set('x-request-id', 'e4-ok');
    expect(ok.status).toBe(200);
    const none = await request(app).get('/customers/c4/profile');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
    await tw.warden.flushAudit();
    expect(sink.events.filter((e) => e.requestId === 'e4-ok')).toEqual([
      expect.objectContaining({
        outcome: 'allow',
        reason: 'consent',
        route: '/customers/:id/profile',
        dataSubject: 'c4',
        status: 200,
      }),
    ]);
  });
});
