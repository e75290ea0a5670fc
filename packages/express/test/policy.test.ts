import { afterAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { checkPolicy, expressRoutes, type Policy } from '@tokenwarden/core/policy';
import { checkPolicyDrift, tokenwarden } from '@tokenwarden/express';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';

const POLICY = `
version: 1
issuer: https://issuer.test/
audience: tokenwarden-test-api
signing: { algorithm: ES256, rotationPeriod: 30d }
scopes:
  customers:read: { description: Read customers, dataCategories: [contact_details] }
  orders:read: { description: Read orders, dataCategories: [purchase_history] }
clients:
  console: { scopes: [customers:read, orders:read] }
routes:
  - route: GET /api/customers/:id
    scopes: [customers:read]
    dataSubject: { param: id }
  - route: GET /api/customers/:id/orders
    scopes: [orders:read]
    lawfulBasis: contract
    dataSubject: { param: id }
`;

function policy(): Policy {
  const result = checkPolicy(POLICY);
  if (result.policy === undefined) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

describe('Express driven by the policy', () => {
  const sink = new MemorySink();
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    policy: policy(),
    audit: { sinks: [sink], fingerprintKey: 'f'.repeat(32) },
    metrics: false,
  });
  const app = express();
  const api = express.Router();
  api.get('/customers/:customerId', (req, res) => {
    res.json({ id: req.params.customerId });
  });
  // A step in code adds to the policy's rule.
  api.get('/customers/:id/orders', tw.claimEquals('tier', 'gold'), (_req, res) => {
    res.json([]);
  });
  app.use(tw);
  app.use('/api', api);
  afterAll(() => tw.warden.close());

  it("enforces the policy's scopes below a mounted router, with no step", async () => {
    const wrong = mintToken({ claims: { scope: 'orders:read' } });
    const refused = await request(app)
      .get('/api/customers/c1')
      .set('authorization', `Bearer ${wrong}`);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('insufficient_scope');
    const right = mintToken({ claims: { scope: 'customers:read' } });
    const ok = await request(app)
      .get('/api/customers/c1')
      .set('authorization', `Bearer ${right}`)
      .set('x-request-id', 'pol-ok');
    expect(ok.status).toBe(200);
    await tw.warden.flushAudit();
    expect(sink.events.filter((e) => e.requestId === 'pol-ok')).toEqual([
      expect.objectContaining({ route: '/api/customers/:id', dataSubject: 'c1', status: 200 }),
    ]);
  });

  it('checks the step in code after the policy', async () => {
    const silver = mintToken({ claims: { scope: 'orders:read', tier: 'silver' } });
    const refused = await request(app)
      .get('/api/customers/c1/orders')
      .set('authorization', `Bearer ${silver}`);
    expect(refused.body.code).toBe('claim_check_failed');
    const gold = mintToken({ claims: { scope: 'orders:read', tier: 'gold' } });
    const ok = await request(app)
      .get('/api/customers/c1/orders')
      .set('authorization', `Bearer ${gold}`);
    expect(ok.status).toBe(200);
  });

  it('lists the routes with their mount path, and finds no drift', () => {
    expect(expressRoutes(app)).toEqual([
      { method: 'GET', path: '/api/customers/:customerId', requirements: [], guarded: true },
      {
        method: 'GET',
        path: '/api/customers/:id/orders',
        requirements: [{ claims: [{ claim: 'tier', equals: 'gold' }] }],
        guarded: true,
      },
    ]);
    expect(checkPolicyDrift(app, policy(), { drift: 'error' })).toEqual([]);
  });

  it('lists the routes of an Express 4 application', () => {
    const old = express4();
    old.get('/open', (_req, res) => res.end());
    old.use(tw);
    old.all('/api/customers/:id', tw.requireScopes('customers:read'), (_req, res) => res.end());
    expect(expressRoutes(old)).toEqual([
      { method: 'GET', path: '/open', requirements: [], guarded: false },
      {
        method: '*',
        path: '/api/customers/:id',
        requirements: [{ scopes: ['customers:read'] }],
        guarded: true,
      },
    ]);
  });
});
