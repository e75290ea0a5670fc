import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express, { type Express } from 'express';
import request from 'supertest';
import { MemorySink, type WardenStore } from '@tokenwarden/core';
import {
  lawfulBasis,
  requireConsent,
  requireScopes,
  tokenwarden,
  type TokenwardenMiddleware,
} from '@tokenwarden/express';
import { mintToken, STORE_CASES, testJwtOptions } from '@tokenwarden/testing';

// Another app of the process declares 'research': standalone steps are valid if any warden has it.
const other = tokenwarden({ jwt: testJwtOptions(), purposes: ['research'] });
afterAll(() => other.warden.close());

function buildApp(store: WardenStore) {
  const sink = new MemorySink();
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    store,
    purposes: ['marketing', 'billing'],
    publicPaths: ['/status'],
    audit: { sinks: [sink], fingerprintKey: 'k'.repeat(32) },
  });
  const app = express();
  app.get('/metrics', tw.metricsHandler());
  app.get('/open', tw.publicRoute(), (req, res) => {
    res.json({ who: req.auth?.subject ?? null });
  });
  app.use(tw);
  app.get('/status', (req, res) => {
    res.json({ who: req.auth?.subject ?? null });
  });
  app.get('/customers/:id', requireScopes('customers:read'), (req, res) => {
    res.json({ id: req.params.id, by: req.auth?.subject });
  });
  app.put('/customers/:id', requireScopes('customers:write'), (_req, res) => {
    res.json({ ok: true });
  });
  app.get(
    '/customers/:id/profile',
    requireScopes('marketing:read'),
    requireConsent('marketing', { subject: { param: 'id' } }),
    (req, res) => {
      res.json({ id: req.params.id });
    },
  );
  app.get('/invoices', lawfulBasis('legal_obligation', { purpose: 'billing' }), (_req, res) => {
    res.json([]);
  });
  // Valid for another warden of the process, so made at start-up; this warden lacks the purpose.
  app.get('/typo', requireConsent('research'), (_req, res) => {
    res.json({});
  });
  return { app, tw, sink };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.each(STORE_CASES)('Express adapter on $name', ({ make }) => {
  let app: Express;
  let tw: TokenwardenMiddleware;
  let sink: MemorySink;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await make();
    cleanup = made.cleanup;
    ({ app, tw, sink } = buildApp(made.store));
  });
  afterAll(async () => {
    await tw.warden.close();
    await cleanup();
  });

  it('allows a valid token and exposes req.auth', async () => {
    const res = await request(app).get('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: 'c1', by: 'user-1' });
  });

  it('refuses a request without a token with 401 and an RFC 6750 challenge', async () => {
    const res = await request(app).get('/customers/c1');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, code: 'token_missing' });
  });

  it('refuses a write without the scope with 403 insufficient_scope', async () => {
    const res = await request(app).put('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="customers:write"');
  });

  it('refuses a token after it is revoked, with 401 token_revoked', async () => {
    const token = mintToken();
    expect((await request(app).get('/customers/c1').set(bearer(token))).status).toBe(200);
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
    await tw.warden.revokeToken(jti);
    const res = await request(app).get('/customers/c1').set(bearer(token));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_revoked');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(JSON.stringify(res.body)).not.toContain(token);
  });

  it('refuses older tokens of a revoked subject but not newer ones', async () => {
    const now = Date.now();
    const old = mintToken({ claims: { sub: 'subject-r' }, now: now - 10_000 });
    await tw.warden.revokeSubject('subject-r', { before: now - 5_000 });
    expect((await request(app).get('/customers/c1').set(bearer(old))).body.code).toBe(
      'token_revoked',
    );
    const fresh = mintToken({ claims: { sub: 'subject-r' }, now });
    expect((await request(app).get('/customers/c1').set(bearer(fresh))).status).toBe(200);
  });

  it('enforces consent: missing, granted, withdrawn for old and fresh tokens, re-granted', async () => {
    const scope = 'marketing:read';
    const path = '/customers/cust-9/profile';
    const t0 = Date.now();
    const before = mintToken({ claims: { scope }, now: t0 - 20_000 });
    expect((await request(app).get(path).set(bearer(before))).body.code).toBe('consent_missing');
    await tw.warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-1' });
    expect((await request(app).get(path).set(bearer(before))).status).toBe(200);
    await tw.warden.withdrawConsent({ subject: 'cust-9', purpose: 'marketing' });
    const withdrawn = await request(app).get(path).set(bearer(before));
    expect(withdrawn.status).toBe(403);
    expect(withdrawn.body.code).toBe('consent_withdrawn');
    const fresh = mintToken({ claims: { scope } });
    expect((await request(app).get(path).set(bearer(fresh))).body.code).toBe('consent_withdrawn');
    await tw.warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-2' });
    // Tokens issued before the withdrawal stay refused; a token issued after it passes.
    expect((await request(app).get(path).set(bearer(before))).body.code).toBe('consent_withdrawn');
    const after = mintToken({ claims: { scope }, now: Date.now() + 2_000 });
    expect((await request(app).get(path).set(bearer(after))).status).toBe(200);
  });

  it('records a lawful basis other than consent in the audit trail', async () => {
    const res = await request(app)
      .get('/invoices')
      .set(bearer(mintToken()))
      .set('x-request-id', 'req-inv-1');
    expect(res.status).toBe(200);
    await tw.warden.flushAudit();
    const event = sink.events.find((e) => e.requestId === 'req-inv-1');
    expect(event).toMatchObject({
      type: 'access.decision',
      outcome: 'allow',
      reason: 'lawful_basis',
      lawfulBasis: 'legal_obligation',
      purpose: 'billing',
      route: '/invoices',
      status: 200,
    });
  });

  it('serves public paths and public routes without a token, still verifying a sent one', async () => {
    expect((await request(app).get('/status')).body).toEqual({ who: null });
    expect((await request(app).get('/status').set(bearer(mintToken()))).body).toEqual({
      who: 'user-1',
    });
    expect((await request(app).get('/status').set(bearer('a.b.c'))).status).toBe(401);
    expect((await request(app).get('/open')).body).toEqual({ who: null });
  });

  it('writes exactly one audit event per request, with the route template and status', async () => {
    await tw.warden.flushAudit();
    sink.clear();
    await request(app).get('/customers/c7').set(bearer(mintToken())).set('x-request-id', 'one-1');
    await request(app).put('/customers/c7').set(bearer(mintToken())).set('x-request-id', 'one-2');
    await tw.warden.flushAudit();
    const one = sink.events.filter((e) => e.requestId === 'one-1');
    const two = sink.events.filter((e) => e.requestId === 'one-2');
    expect(one).toHaveLength(1);
    expect(two).toHaveLength(1);
    expect(one[0]).toMatchObject({ outcome: 'allow', route: '/customers/:id', status: 200 });
    expect(two[0]).toMatchObject({ outcome: 'deny', reason: 'insufficient_scope', status: 403 });
    expect(one[0]!.tokenFingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('refuses a standalone step whose purpose no warden declares, at start-up', () => {
    expect(() => requireConsent('marketting')).toThrow(
      "requireConsent: purpose 'marketting' is not declared",
    );
  });

  it('answers an undeclared purpose with a 500 and a configuration error, never an allow', async () => {
    const res = await request(app).get('/typo').set(bearer(mintToken()));
    expect(res.status).toBe(500);
  });

  it('serves metrics that count decisions by outcome and reason', async () => {
    const text = (await request(app).get('/metrics')).text;
    expect(text).toMatch(/tokenwarden_decisions_total\{outcome="allow",reason="authorized"\} \d+/);
    expect(text).toMatch(
      /tokenwarden_decisions_total\{outcome="deny",reason="token_revoked"\} \d+/,
    );
    expect(text).toContain('tokenwarden_decision_duration_seconds_bucket');
    expect(text).toContain('tokenwarden_consent_checks_total{purpose="marketing"');
  });
});
