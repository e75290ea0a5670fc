import { afterAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createApp } from '../src/app';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('koa-api example: the demo story', () => {
  const { app, tw, audit, issue } = createApp();
  const http = () => request(app.callback());
  afterAll(() => tw.warden.close());

  it('issue → read → write refused → revoke → refused → consent read → withdraw → refused', async () => {
    await tw.warden.grantConsent({
      subject: 'c-1001',
      purpose: 'marketing',
      source: 'signup-form',
    });

    // 1. The demo issuer mints a token.
    const minted = await http()
      .post('/demo/token')
      .send({ subject: 'agent-7', scopes: ['customers:read', 'orders:read'] });
    expect(minted.status).toBe(200);
    const token = (minted.body as { access_token: string }).access_token;

    // 2. A read with customers:read is allowed.
    const read = await http().get('/customers/c-1001').set(bearer(token));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: 'c-1001', name: 'Ada Example' });
    const orders = await http().get('/customers/c-1001/orders').set(bearer(token));
    expect(orders.status).toBe(200);
    expect(orders.body).toHaveLength(2);

    // 3. A write without customers:write is refused.
    const write = await http()
      .put('/customers/c-1001')
      .set(bearer(token))
      .send({ email: 'new@example.test' });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('insufficient_scope');

    // 4. Once revoked, the token is refused.
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      jti: string;
      exp: number;
    };
    await tw.warden.revokeToken(claims.jti, {
      expiresAt: claims.exp * 1000,
      actor: 'demo',
      reason: 'leaked',
    });
    const revoked = await http().get('/customers/c-1001').set(bearer(token));
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('token_revoked');

    // 5. A new token reads the marketing profile: the customer consented.
    const marketer = issue('agent-9', ['marketing:read'], 'campaign-tool');
    const profile = await http().get('/customers/c-1001/marketing-profile').set(bearer(marketer));
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ customerId: 'c-1001' });

    // 6. The customer withdraws consent: the old token is refused...
    await tw.warden.withdrawConsent({
      subject: 'c-1001',
      purpose: 'marketing',
      source: 'privacy-portal',
    });
    const old = await http().get('/customers/c-1001/marketing-profile').set(bearer(marketer));
    expect(old.status).toBe(403);
    expect(old.body.code).toBe('consent_withdrawn');

    // 7. ...and so is a fresh one.
    const fresh = issue('agent-9', ['marketing:read'], 'campaign-tool');
    const again = await http().get('/customers/c-1001/marketing-profile').set(bearer(fresh));
    expect(again.status).toBe(403);
    expect(again.body.code).toBe('consent_withdrawn');

    // 8. The health check needs no token.
    expect((await http().get('/health')).status).toBe(200);

    await tw.warden.flushAudit();
    const decisions = audit.events.filter((e) => e.type === 'access.decision');
    expect(decisions.map((e) => [e.outcome, e.reason, e.route, e.status])).toEqual([
      ['allow', 'lawful_basis', '/customers/:id', 200],
      ['allow', 'lawful_basis', '/customers/:id/orders', 200],
      ['deny', 'insufficient_scope', '/customers/:id', 403],
      ['deny', 'token_revoked', '/customers/c-1001', 401],
      ['allow', 'consent', '/customers/:id/marketing-profile', 200],
      ['deny', 'consent_withdrawn', '/customers/:id/marketing-profile', 403],
      ['deny', 'consent_withdrawn', '/customers/:id/marketing-profile', 403],
    ]);
    expect(audit.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['consent.granted', 'token.revoked', 'consent.withdrawn']),
    );
    expect(JSON.stringify(audit.events)).not.toContain(token);
  });

  it('serves metrics without a token and refuses the API without one', async () => {
    const metrics = await http().get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('tokenwarden_decisions_total');
    const refused = await http().get('/customers/c-1001');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('answers an unknown customer with 404 and a bad token request with 400', async () => {
    const token = issue('agent-1', ['customers:read']);
    expect((await http().get('/customers/c-9999').set(bearer(token))).status).toBe(404);
    expect((await http().post('/demo/token').send({ subject: 1 })).status).toBe(400);
  });
});
