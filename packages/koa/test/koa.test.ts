import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import {
  MemorySink,
  MemoryStore,
  type Logger,
  type Principal,
  type WardenOptions,
  type WardenStore,
} from '@tokenwarden/core';
import {
  lawfulBasis,
  requireConsent,
  requireScopes,
  tokenwarden,
  type TokenwardenMiddleware,
  type TokenwardenState,
} from '@tokenwarden/koa';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

const quiet: Logger = { warn: () => {}, error: () => {} };

function options(store: WardenStore, sink: MemorySink): WardenOptions {
  return {
    jwt: testJwtOptions(),
    store,
    purposes: ['marketing', 'billing'],
    publicPaths: ['/status'],
    audit: { sinks: [sink], fingerprintKey: 'k'.repeat(32) },
    logger: quiet,
  };
}

// Another app of the process declares 'research': standalone steps are valid if any warden has it.
const other = tokenwarden({ jwt: testJwtOptions(), purposes: ['research'] });
afterAll(() => other.warden.close());

function buildApp(store: WardenStore = new MemoryStore()) {
  const sink = new MemorySink();
  const tw = tokenwarden(options(store, sink));
  const app = new Koa();
  app.silent = true; // the deliberate 500s below would otherwise be logged

  // Open routes: a router mounted above the Tokenwarden line.
  const open = new Router();
  open.get('/metrics', tw.metricsHandler());
  open.get('/open', tw.publicRoute(), (ctx) => {
    ctx.body = { who: ctx.state.auth?.subject ?? null };
  });
  // Bound steps work without the app-level middleware too: they run the whole check.
  open.get('/standalone/:id', tw.requireScopes('customers:read'), (ctx) => {
    ctx.body = { id: ctx.params.id, by: ctx.state.auth?.subject };
  });

  const router = new Router();
  router.get('/status', (ctx) => {
    ctx.body = { who: ctx.state.auth?.subject ?? null };
  });
  router.get('/customers/:id', requireScopes('customers:read'), (ctx) => {
    ctx.body = { id: ctx.params.id, by: ctx.state.auth?.subject };
  });
  router.put('/customers/:id', requireScopes('customers:write'), (ctx) => {
    ctx.body = { ok: true };
  });
  router.post('/customers', requireScopes('customers:read'), (ctx) => {
    ctx.status = 201;
    ctx.body = { created: true };
  });
  router.get('/customers/:id/conflict', requireScopes('customers:read'), (ctx) => {
    ctx.throw(409, 'conflict');
  });
  router.get(
    '/customers/:id/profile',
    requireScopes('marketing:read'),
    requireConsent('marketing', { subject: { param: 'id' } }),
    (ctx) => {
      ctx.body = { id: ctx.params.id };
    },
  );
  router.get('/invoices', lawfulBasis('legal_obligation', { purpose: 'billing' }), (ctx) => {
    ctx.body = [];
  });
  // Valid for another warden of the process, so made at start-up; this warden lacks the purpose.
  router.get('/typo', requireConsent('research'), (ctx) => {
    ctx.body = {};
  });

  app.use(open.routes());
  app.use(tw);
  app.use(router.routes());
  return { app, tw, sink };
}

/** Sends the same Authorization header twice (supertest would merge them). */
async function twoHeaders(app: Koa, path: string, value: string) {
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.setHeader('authorization', [value, value]);
        req.on('error', reject);
        req.end();
      },
    );
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const jtiOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

describe('Koa adapter', () => {
  let app: Koa;
  let tw: TokenwardenMiddleware;
  let sink: MemorySink;

  beforeAll(() => {
    ({ app, tw, sink } = buildApp());
  });
  afterAll(async () => {
    await tw.warden.close();
  });

  async function eventsOf(requestId: string) {
    await tw.warden.flushAudit();
    return sink.events.filter((e) => e.requestId === requestId);
  }

  it('allows a valid token and exposes ctx.state.auth', async () => {
    const res = await request(app.callback()).get('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: 'c1', by: 'user-1' });
  });

  it('refuses a request without a token with 401 and an RFC 6750 challenge', async () => {
    const res = await request(app.callback()).get('/customers/c1');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      type: 'urn:tokenwarden:error:token_missing',
      title: 'An access token is required',
      status: 401,
      code: 'token_missing',
    });
  });

  it('refuses a write without the scope with 403 insufficient_scope', async () => {
    const res = await request(app.callback()).put('/customers/c1').set(bearer(mintToken()));
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="customers:write"');
  });

  it('refuses two Authorization headers with 400 token_multiple', async () => {
    const token = mintToken();
    const res = await twoHeaders(app, '/customers/c1', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'token_multiple' });
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('refuses a token after it is revoked, with 401 token_revoked', async () => {
    const token = mintToken();
    expect((await request(app.callback()).get('/customers/c1').set(bearer(token))).status).toBe(
      200,
    );
    await tw.warden.revokeToken(jtiOf(token));
    const res = await request(app.callback()).get('/customers/c1').set(bearer(token));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_revoked');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(JSON.stringify(res.body)).not.toContain(token);
  });

  it('refuses older tokens of a revoked subject but not newer ones', async () => {
    const now = Date.now();
    const old = mintToken({ claims: { sub: 'subject-r' }, now: now - 10_000 });
    await tw.warden.revokeSubject('subject-r', { before: now - 5_000 });
    const refused = await request(app.callback()).get('/customers/c1').set(bearer(old));
    expect(refused.body.code).toBe('token_revoked');
    const fresh = mintToken({ claims: { sub: 'subject-r' }, now });
    expect((await request(app.callback()).get('/customers/c1').set(bearer(fresh))).status).toBe(
      200,
    );
  });

  it('enforces consent: missing, granted, withdrawn for old and fresh tokens, re-granted', async () => {
    const scope = 'marketing:read';
    const path = '/customers/cust-9/profile';
    const get = (token: string) => request(app.callback()).get(path).set(bearer(token));
    const before = mintToken({ claims: { scope }, now: Date.now() - 20_000 });

    const missing = await get(before);
    expect(missing.status).toBe(403);
    expect(missing.body.code).toBe('consent_missing');

    await tw.warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-1' });
    expect((await get(before)).status).toBe(200);

    await tw.warden.withdrawConsent({ subject: 'cust-9', purpose: 'marketing' });
    const withdrawn = await get(before);
    expect(withdrawn.status).toBe(403);
    expect(withdrawn.body.code).toBe('consent_withdrawn');
    expect((await get(mintToken({ claims: { scope } }))).body.code).toBe('consent_withdrawn');

    await tw.warden.grantConsent({ subject: 'cust-9', purpose: 'marketing', source: 'form-2' });
    // Tokens issued before the withdrawal stay refused; a token issued after it passes.
    expect((await get(before)).body.code).toBe('consent_withdrawn');
    const after = mintToken({ claims: { scope }, now: Date.now() + 2_000 });
    expect((await get(after)).status).toBe(200);
  });

  it('audits the consent decision with the data subject and purpose', async () => {
    await tw.warden.grantConsent({ subject: 'cust-10', purpose: 'marketing' });
    const token = mintToken({ claims: { scope: 'marketing:read' }, now: Date.now() + 2_000 });
    await request(app.callback())
      .get('/customers/cust-10/profile')
      .set(bearer(token))
      .set('x-request-id', 'req-consent-1');
    expect(await eventsOf('req-consent-1')).toEqual([
      expect.objectContaining({
        outcome: 'allow',
        reason: 'consent',
        dataSubject: 'cust-10',
        purpose: 'marketing',
        lawfulBasis: 'consent',
        route: '/customers/:id/profile',
        status: 200,
      }),
    ]);
  });

  it('records a lawful basis other than consent in the audit trail', async () => {
    const res = await request(app.callback())
      .get('/invoices')
      .set(bearer(mintToken()))
      .set('x-request-id', 'req-inv-1');
    expect(res.status).toBe(200);
    expect(await eventsOf('req-inv-1')).toEqual([
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

  it('serves public paths and public routes without a token, still verifying a sent one', async () => {
    expect((await request(app.callback()).get('/status')).body).toEqual({ who: null });
    const withToken = await request(app.callback()).get('/status').set(bearer(mintToken()));
    expect(withToken.body).toEqual({ who: 'user-1' });
    expect((await request(app.callback()).get('/status').set(bearer('a.b.c'))).status).toBe(401);
    const open = await request(app.callback()).get('/open').set('x-request-id', 'req-open-1');
    expect(open.body).toEqual({ who: null });
    expect(await eventsOf('req-open-1')).toEqual([
      expect.objectContaining({ outcome: 'allow', reason: 'public_route', status: 200 }),
    ]);
    const badOpen = await request(app.callback()).get('/open').set(bearer('a.b.c'));
    expect(badOpen.status).toBe(401);
  });

  it('runs a bound step alone when the route is mounted above the middleware', async () => {
    const ok = await request(app.callback())
      .get('/standalone/c3')
      .set(bearer(mintToken()))
      .set('x-request-id', 'req-alone-1');
    expect(ok.body).toEqual({ id: 'c3', by: 'user-1' });
    expect(await eventsOf('req-alone-1')).toEqual([
      expect.objectContaining({ outcome: 'allow', route: '/standalone/:id', status: 200 }),
    ]);
    const denied = await request(app.callback())
      .get('/standalone/c3')
      .set(bearer(mintToken({ claims: { scope: 'other' } })));
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('insufficient_scope');
  });

  it('writes exactly one audit event per request, with the route template and final status', async () => {
    const call = (method: 'get' | 'put' | 'post', path: string, id: string) =>
      request(app.callback())[method](path).set(bearer(mintToken())).set('x-request-id', id);
    await call('get', '/customers/c7', 'one-1');
    await call('put', '/customers/c7', 'one-2');
    await call('post', '/customers', 'one-3');
    await call('get', '/customers/c7/conflict', 'one-4');
    await call('get', '/nowhere', 'one-5');
    await request(app.callback()).get('/customers/c7').set('x-request-id', 'one-6');

    const [one, two, three, four, five, six] = await Promise.all(
      ['one-1', 'one-2', 'one-3', 'one-4', 'one-5', 'one-6'].map(eventsOf),
    );
    for (const events of [one, two, three, four, five, six]) expect(events).toHaveLength(1);
    expect(one![0]).toMatchObject({
      outcome: 'allow',
      reason: 'authorized',
      route: '/customers/:id',
      method: 'GET',
      status: 200,
      subject: 'user-1',
      client: 'web-app',
      clientAddress: '127.0.0.0/24',
    });
    expect(one![0]!.tokenFingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(two![0]).toMatchObject({
      outcome: 'deny',
      reason: 'insufficient_scope',
      route: '/customers/:id',
      method: 'PUT',
      status: 403,
    });
    expect(three![0]).toMatchObject({ outcome: 'allow', route: '/customers', status: 201 });
    // A downstream error is recorded with the status Koa answers it with.
    expect(four![0]).toMatchObject({ route: '/customers/:id/conflict', status: 409 });
    // No route matched, and Koa answers 404: the method and the unmatched marker, never the path.
    expect(five![0]).toMatchObject({ outcome: 'allow', route: '(unmatched)', status: 404 });
    expect(five![0]!.method).toBe('GET');
    // Refused before routing: the unmatched marker too, as in Express.
    expect(six![0]).toMatchObject({
      outcome: 'deny',
      reason: 'token_missing',
      route: '(unmatched)',
      status: 401,
    });
  });

  it('refuses a standalone step whose purpose no warden declares, at start-up', () => {
    expect(() => requireConsent('marketting')).toThrow(
      "requireConsent: purpose 'marketting' is not declared",
    );
  });

  it('answers an undeclared purpose with a 500 and a configuration error, never an allow', async () => {
    const res = await request(app.callback())
      .get('/typo')
      .set(bearer(mintToken()))
      .set('x-request-id', 'req-typo-1');
    expect(res.status).toBe(500);
    expect(await eventsOf('req-typo-1')).toEqual([expect.objectContaining({ status: 500 })]);
  });

  it('serves metrics that count decisions by outcome and reason', async () => {
    const res = await request(app.callback()).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(tw.warden.metrics.contentType);
    expect(res.text).toMatch(
      /tokenwarden_decisions_total\{outcome="allow",reason="authorized"\} \d+/,
    );
    expect(res.text).toMatch(
      /tokenwarden_decisions_total\{outcome="deny",reason="token_revoked"\} \d+/,
    );
    expect(res.text).toContain('tokenwarden_decision_duration_seconds_bucket');
    expect(res.text).toContain('tokenwarden_consent_checks_total{purpose="marketing"');
  });
});

describe('Koa adapter when the store fails', () => {
  /** A MemoryStore whose reads reject while `down` is set. */
  class FlakyStore extends MemoryStore {
    lookupDown = false;
    consentDown = false;
    override lookup(...args: Parameters<MemoryStore['lookup']>) {
      if (this.lookupDown) return Promise.reject(new Error('store down'));
      return super.lookup(...args);
    }
    override getConsent(...args: Parameters<MemoryStore['getConsent']>) {
      if (this.consentDown) return Promise.reject(new Error('store down'));
      return super.getConsent(...args);
    }
  }

  const store = new FlakyStore();
  const { app, tw, sink } = buildApp(store);
  afterAll(async () => {
    await tw.warden.close();
    await store.close();
  });

  it('fails closed with 503 store_unavailable and Retry-After', async () => {
    store.lookupDown = true;
    const res = await request(app.callback())
      .get('/customers/c1')
      .set(bearer(mintToken()))
      .set('x-request-id', 'req-down-1');
    store.lookupDown = false;
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ status: 503, code: 'store_unavailable' });
    await tw.warden.flushAudit();
    expect(sink.events.filter((e) => e.requestId === 'req-down-1')).toEqual([
      expect.objectContaining({ outcome: 'deny', reason: 'store_unavailable', status: 503 }),
    ]);
  });

  it('fails closed when the consent lookup of a route step fails', async () => {
    await tw.warden.grantConsent({ subject: 'cust-1', purpose: 'marketing' });
    store.consentDown = true;
    const token = mintToken({ claims: { scope: 'marketing:read' }, now: Date.now() + 2_000 });
    const res = await request(app.callback()).get('/customers/cust-1/profile').set(bearer(token));
    store.consentDown = false;
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('store_unavailable');
    expect(res.headers['retry-after']).toBe('1');
  });
});

describe('Koa adapter wiring', () => {
  it('reads the token from a cookie when configured, with no cookie parser', async () => {
    const sink = new MemorySink();
    const tw = tokenwarden({ ...options(new MemoryStore(), sink), credentials: { cookie: 'tw' } });
    const app = new Koa();
    app.keys = ['signing-key-that-must-not-matter'];
    app.use(tw);
    app.use((ctx) => {
      ctx.body = { who: ctx.state.auth?.subject ?? null };
    });
    const res = await request(app.callback()).get('/').set('cookie', `tw=${mintToken()}`);
    expect(res.body).toEqual({ who: 'user-1' });
    await tw.warden.close();
  });

  it('throws a programmer error when a standalone step has no middleware above it', async () => {
    const app = new Koa();
    app.silent = true;
    const router = new Router();
    router.get('/x', requireScopes('a'), (ctx) => {
      ctx.body = 'never';
    });
    app.use(router.routes());
    const res = await request(app.callback()).get('/x').set(bearer(mintToken()));
    expect(res.status).toBe(500);
  });

  it('types ctx.state.auth without declarations of the user, and with Koa<TokenwardenState>', async () => {
    type IsAny<T> = 0 extends 1 & T ? true : false;
    const plain = new Koa();
    plain.use((ctx) => {
      const notAny: IsAny<typeof ctx.state.auth> = false;
      const auth: Principal | undefined = ctx.state.auth;
      ctx.body = { notAny, auth };
    });
    const typed = new Koa<TokenwardenState & { tenant?: string }>();
    const router = new Router<TokenwardenState>();
    router.get('/me', requireScopes('me:read'), (ctx) => {
      const notAny: IsAny<typeof ctx.state.auth> = false;
      ctx.body = { notAny, subject: ctx.state.auth?.subject };
    });
    const tw = tokenwarden(options(new MemoryStore(), new MemorySink()));
    router.get('/mine', tw.requireScopes('me:read'), tw.lawfulBasis('contract'));
    typed.use(tw);
    typed.use(router.routes());
    expect(typed.middleware).toHaveLength(2);
    await tw.warden.close();
  });
});
