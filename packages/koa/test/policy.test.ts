import { afterAll, describe, expect, it } from '@jest/globals';
import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { checkPolicy, koaRoutes, type Policy } from '@tokenwarden/core/policy';
import { checkPolicyDrift, tokenwarden } from '@tokenwarden/koa';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

const POLICY = `
version: 1
issuer: https://issuer.test/
audience: tokenwarden-test-api
signing: { algorithm: ES256, rotationPeriod: 30d }
scopes:
  customers:read: { description: Read customers, dataCategories: [contact_details] }
clients:
  console: { scopes: [customers:read] }
routes:
  - route: GET /health
    public: true
  - route: GET /api/customers/:id
    scopes: [customers:read]
    lawfulBasis: contract
    dataSubject: { param: id }
`;

function policy(): Policy {
  const result = checkPolicy(POLICY);
  if (result.policy === undefined) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

describe('Koa driven by the policy', () => {
  const sink = new MemorySink();
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    policy: policy(),
    audit: { sinks: [sink], fingerprintKey: 'f'.repeat(32) },
    metrics: false,
  });
  const app = new Koa();
  const root = new Router();
  const customers = new Router();
  customers.get('/customers/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  // The public route is below the middleware: the policy opens it.
  root.use(tw);
  root.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  root.use('/api', customers.routes());
  app.use(root.routes());
  afterAll(() => tw.warden.close());

  it("enforces the policy's rules with no step, the public route included", async () => {
    const server = app.callback();
    expect((await request(server).get('/health')).status).toBe(200);
    expect((await request(server).get('/api/customers/c2')).status).toBe(401);
    const token = mintToken({ claims: { scope: 'customers:read' } });
    const ok = await request(server)
      .get('/api/customers/c2')
      .set('authorization', `Bearer ${token}`)
      .set('x-request-id', 'koa-pol');
    expect(ok.status).toBe(200);
    await tw.warden.flushAudit();
    expect(sink.events.filter((e) => e.requestId === 'koa-pol')).toEqual([
      expect.objectContaining({
        route: '/api/customers/:id',
        dataSubject: 'c2',
        lawfulBasis: 'contract',
      }),
    ]);
  });

  it('lists nested routers with their prefix, guarded by router.use(tw), and finds no drift', () => {
    expect(koaRoutes(app)).toEqual([
      { method: 'GET', path: '/health', requirements: [], guarded: true },
      { method: 'GET', path: '/api/customers/:id', requirements: [], guarded: true },
    ]);
    expect(checkPolicyDrift(app, policy(), { drift: 'error' })).toEqual([]);
  });
});
