import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createWarden, MemorySink, MemoryStore, type Warden } from '@tokenwarden/core';
import { getWardenToken, TokenwardenModule } from '@tokenwarden/nest';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import {
  appMetadata,
  bearer,
  filtered,
  guardOrder,
  PLATFORMS,
  quietLogger,
  RejectingStore,
  settled,
  startApp,
  tokenIdOf,
} from './support';

describe.each(PLATFORMS)('TokenwardenGuard on %s', (platform) => {
  let app: INestApplication;
  let warden: Warden;
  let sink: MemorySink;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    sink = new MemorySink();
    app = await startApp(
      appMetadata([
        TokenwardenModule.forRoot({
          jwt: testJwtOptions(),
          store: new MemoryStore(),
          purposes: ['marketing', 'billing'],
          publicPaths: ['/status'],
          audit: { sinks: [sink], fingerprintKey: 'k'.repeat(32) },
        }),
      ]),
      platform,
    );
    warden = app.get<Warden>(getWardenToken());
  });

  afterAll(async () => {
    await app.close();
  });

  beforeEach(() => {
    guardOrder.length = 0;
    filtered.length = 0;
  });

  it('allows a valid token and hands the principal to @Auth()', async () => {
    const res = await http().get('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: 'c1', by: 'user-1' });
    const fields = await http()
      .get('/me/subject')
      .set(bearer(mintToken({ claims: { sub: 'agent-3', scope: 'a b' } })));
    expect(fields.body).toEqual({ subject: 'agent-3', scopes: ['a', 'b'] });
  });

  it('refuses a request without a token: 401, RFC 6750 challenge, problem+json', async () => {
    const res = await http().get('/customers/c1');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      type: 'urn:tokenwarden:error:token_missing',
      title: 'An access token is required',
      status: 401,
      code: 'token_missing',
    });
  });

  it('refuses a malformed token with 401 invalid_token', async () => {
    const res = await http().get('/customers/c1').set(bearer('a.b.c'));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('refuses a missing scope with 403 insufficient_scope; the handler scopes win', async () => {
    const res = await http().put('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('scope="customers:write"');
    const writer = mintToken({ claims: { scope: 'customers:write' } });
    expect((await http().put('/customers/c1').set(bearer(writer))).status).toBe(200);
    // The class needs customers:read, but @Scopes() on the handler needs none.
    const none = mintToken({ claims: { scope: 'other' } });
    expect((await http().get('/customers/c1').set(bearer(none))).status).toBe(403);
    expect((await http().get('/customers/c1/summary').set(bearer(none))).status).toBe(200);
  });

  it('refuses a token revoked from a service that injected the warden', async () => {
    const token = mintToken();
    const out = await http().post('/logout').set(bearer(token));
    expect(out.status).toBe(201);
    expect(out.body).toEqual({ revoked: tokenIdOf(token) });
    const res = await http().get('/customers/c1').set(bearer(token));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_revoked');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(JSON.stringify(res.body)).not.toContain(token);
    await settled(warden);
    expect(sink.events).toContainEqual(
      expect.objectContaining({
        type: 'token.revoked',
        tokenId: tokenIdOf(token),
        actor: 'session-service',
      }),
    );
  });

  it('enforces consent: missing, granted, withdrawn, and re-granted only for newer tokens', async () => {
    const scope = 'marketing:read';
    const path = '/customers/cust-9/profile';
    const before = mintToken({ claims: { scope }, now: Date.now() - 20_000 });
    const missing = await http().get(path).set(bearer(before));
    expect(missing.status).toBe(403);
    expect(missing.body.code).toBe('consent_missing');
    await warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-1' });
    expect((await http().get(path).set(bearer(before))).status).toBe(200);
    await warden.withdrawConsent({ subject: 'cust-9', purpose: 'marketing' });
    const withdrawn = await http().get(path).set(bearer(before));
    expect(withdrawn.status).toBe(403);
    expect(withdrawn.body.code).toBe('consent_withdrawn');
    const fresh = mintToken({ claims: { scope } });
    expect((await http().get(path).set(bearer(fresh))).body.code).toBe('consent_withdrawn');
    await warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-2' });
    // Tokens issued before the withdrawal stay refused; a token issued after it passes.
    expect((await http().get(path).set(bearer(before))).body.code).toBe('consent_withdrawn');
    const after = mintToken({ claims: { scope }, now: Date.now() + 2_000 });
    expect((await http().get(path).set(bearer(after))).status).toBe(200);
  });

  it('audits a lawful basis other than consent, with the route template and status', async () => {
    const res = await http()
      .get('/invoices')
      .set(bearer(mintToken()))
      .set('x-request-id', `inv-${platform}`);
    expect(res.status).toBe(200);
    await settled(warden);
    expect(sink.events.filter((e) => e.requestId === `inv-${platform}`)).toEqual([
      expect.objectContaining({
        type: 'access.decision',
        outcome: 'allow',
        reason: 'lawful_basis',
        lawfulBasis: 'legal_obligation',
        purpose: 'billing',
        route: '/invoices',
        method: 'GET',
        status: 200,
      }),
    ]);
  });

  it('lets a handler basis replace the controller consent', async () => {
    const token = mintToken({ claims: { sub: 'reader-1' } });
    const mine = await http().get('/newsletter').set(bearer(token));
    expect(mine.status).toBe(403);
    expect(mine.body.code).toBe('consent_missing');
    const imprint = await http()
      .get('/newsletter/imprint')
      .set(bearer(token))
      .set('x-request-id', `imp-${platform}`);
    expect(imprint.status).toBe(200);
    await settled(warden);
    expect(sink.events.find((e) => e.requestId === `imp-${platform}`)).toMatchObject({
      reason: 'lawful_basis',
      lawfulBasis: 'legitimate_interests',
    });
  });

  it('serves @Public() routes without a token, still verifying a sent one', async () => {
    expect((await http().get('/open')).body).toEqual({ who: null });
    expect((await http().get('/open').set(bearer(mintToken()))).body).toEqual({ who: 'user-1' });
    expect((await http().get('/open').set(bearer('a.b.c'))).status).toBe(401);
    // publicPaths from the warden options apply too.
    expect((await http().get('/status')).body).toEqual({ who: null });
  });

  it('lets handler metadata override controller metadata (@Public(false) in a public controller)', async () => {
    expect((await http().get('/catalog')).body).toEqual({ who: null });
    expect((await http().get('/catalog').set(bearer(mintToken()))).body).toEqual({
      who: 'user-1',
    });
    const drafts = await http().get('/catalog/drafts');
    expect(drafts.status).toBe(401);
    expect(drafts.body.code).toBe('token_missing');
    const writer = mintToken({ claims: { scope: 'catalog:write' } });
    expect((await http().get('/catalog/drafts').set(bearer(writer))).status).toBe(200);
    expect((await http().get('/catalog/drafts').set(bearer(mintToken()))).status).toBe(403);
  });

  it('lets a user exception filter see TokenwardenException', async () => {
    const res = await http().get('/reports').set(bearer(mintToken()));
    expect(filtered).toEqual([{ code: 'insufficient_scope', status: 403 }]);
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toContain('scope="reports:read"');
    expect(res.body).toMatchObject({ code: 'insufficient_scope', traceId: 'trace-1' });
  });

  it('composes with a route guard: the global Tokenwarden guard runs first', async () => {
    const anonymous = await http().get('/team');
    expect(anonymous.status).toBe(401);
    expect(guardOrder).toEqual([]);
    const blue = await http()
      .get('/team')
      .set(bearer(mintToken({ claims: { sub: 'u-blue', team: 'blue' } })));
    expect(blue.status).toBe(403);
    expect(blue.headers['content-type']).not.toMatch(/problem/);
    const red = await http()
      .get('/team')
      .set(bearer(mintToken({ claims: { sub: 'u-red', team: 'red' } })));
    expect(red.status).toBe(200);
    expect(red.body).toEqual({ team: 'red', subject: 'u-red' });
    expect(guardOrder).toEqual(['team:u-blue', 'team:u-red']);
  });

  it('writes exactly one audit event per request, allow or deny', async () => {
    await settled(warden);
    sink.clear();
    const ids = ['one-1', 'one-2', 'one-3', 'one-4', 'one-5'];
    await http().get('/customers/c7').set(bearer(mintToken())).set('x-request-id', ids[0]!);
    await http().put('/customers/c7').set(bearer(mintToken())).set('x-request-id', ids[1]!);
    await http().get('/customers/c7').set('x-request-id', ids[2]!);
    await http().get('/open').set('x-request-id', ids[3]!);
    await http()
      .get('/team')
      .set(bearer(mintToken({ claims: { team: 'blue' } })))
      .set('x-request-id', ids[4]!);
    await settled(warden);
    const decisions = sink.events.filter((e) => e.type === 'access.decision');
    expect(decisions.map((e) => e.requestId)).toEqual(ids);
    expect(decisions[0]).toMatchObject({ outcome: 'allow', route: '/customers/:id', status: 200 });
    expect(decisions[0]!.tokenFingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decisions[1]).toMatchObject({
      outcome: 'deny',
      reason: 'insufficient_scope',
      status: 403,
    });
    expect(decisions[2]).toMatchObject({ outcome: 'deny', reason: 'token_missing', status: 401 });
    expect(decisions[3]).toMatchObject({ outcome: 'allow', reason: 'public_route', status: 200 });
    // Tokenwarden allowed; the status is what the later guard made of it.
    expect(decisions[4]).toMatchObject({ outcome: 'allow', reason: 'authorized', status: 403 });
  });

  it('serves metrics at /metrics, open and unaudited', async () => {
    await settled(warden);
    const before = sink.events.length;
    const res = await http().get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(
      /tokenwarden_decisions_total\{outcome="allow",reason="authorized"\} \d+/,
    );
    expect(res.text).toMatch(
      /tokenwarden_decisions_total\{outcome="deny",reason="token_revoked"\} \d+/,
    );
    expect(res.text).toContain('tokenwarden_decision_duration_seconds_bucket');
    expect(res.text).toContain('tokenwarden_consent_checks_total{purpose="marketing"');
    await settled(warden);
    expect(sink.events.length).toBe(before);
  });
});

describe.each(PLATFORMS)('TokenwardenGuard with a failing store on %s', (platform) => {
  let app: INestApplication;

  beforeAll(async () => {
    app = await startApp(
      appMetadata([
        TokenwardenModule.forRoot({
          jwt: testJwtOptions(),
          store: new RejectingStore(),
          purposes: ['marketing', 'billing'],
          logger: quietLogger,
        }),
      ]),
      platform,
    );
  });

  afterAll(async () => {
    await app.close();
  });

  it('fails closed with 503 store_unavailable and Retry-After', async () => {
    const res = await request(app.getHttpServer()).get('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('still refuses a missing token with 401 before asking the store', async () => {
    const res = await request(app.getHttpServer()).get('/customers/c1');
    expect(res.status).toBe(401);
  });
});

describe('TokenwardenModule.forRoot with an existing Warden', () => {
  it('uses it for every platform and leaves closing it to its owner', async () => {
    const sink = new MemorySink();
    let closed = 0;
    const warden = createWarden({
      jwt: testJwtOptions(),
      purposes: ['marketing', 'billing'],
      audit: { sinks: [sink, { write: async () => {}, close: async () => void closed++ }] },
      logger: { warn: () => {}, error: () => {} },
    });
    for (const platform of PLATFORMS) {
      const app = await startApp(appMetadata([TokenwardenModule.forRoot(warden)]), platform);
      expect(app.get(getWardenToken())).toBe(warden);
      expect((await request(app.getHttpServer()).get('/me/subject')).status).toBe(401);
      await app.close();
    }
    expect(closed).toBe(0);
    await warden.close();
    expect(closed).toBe(1);
  });
});
