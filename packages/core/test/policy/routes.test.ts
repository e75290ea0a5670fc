import { afterEach, describe, expect, it } from '@jest/globals';
import { ConfigError, createWarden, MemorySink, type Warden } from '@tokenwarden/core';
import { checkPolicy, type Policy } from '@tokenwarden/core/policy';
import { accessReport, exposureReport, MemorySource } from '@tokenwarden/core/reports';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { PolicyRouteTable, policyRequirement } from '../../src/policy/routes';
import { bearer, view } from '../support';

const POLICY_TEXT = `
version: 1
issuer: https://issuer.test/
audience: tokenwarden-test-api
signing: { algorithm: ES256, rotationPeriod: 30d }
scopes:
  customers:read: { description: Read customers, dataCategories: [contact_details] }
  marketing:read: { description: Read profiles, dataCategories: [marketing_preferences] }
  orders:read: { description: Read orders, dataCategories: [purchase_history] }
purposes:
  marketing: { description: Offers, lawfulBasis: consent }
  fulfilment: { description: Orders, lawfulBasis: contract }
clients:
  console: { scopes: [customers:read, marketing:read, orders:read] }
routes:
  - route: GET /health
    public: true
  - route: GET /customers/:id
    scopes: [customers:read]
    dataSubject: { param: id }
  - route: GET /customers/:id/marketing-profile
    scopes: [marketing:read]
    purpose: marketing
    dataSubject: { param: id }
  - route: GET /customers/:id/orders
    scopes: [orders:read]
    purpose: fulfilment
    dataSubject: { param: id }
  - route: GET /customers/me
    scopes: [customers:read]
    dataSubject: token
`;

function policy(): Policy {
  const result = checkPolicy(POLICY_TEXT);
  if (result.policy === undefined) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

describe('PolicyRouteTable', () => {
  const table = new PolicyRouteTable(policy(), (route) => route.path);

  it.each([
    ['GET', '/customers/42', '/customers/:id'],
    ['GET', '/customers/42/', '/customers/:id'],
    ['GET', '/Customers/42', '/customers/:id'],
    ['HEAD', '/customers/42', '/customers/:id'],
    ['GET', '/customers/me', '/customers/me'],
    ['GET', '/customers/42/marketing-profile', '/customers/:id/marketing-profile'],
    ['GET', '/health', '/health'],
  ])('%s %s matches %s', (method, path, template) => {
    expect(table.match(method, path)?.compiled.value).toBe(template);
  });

  it.each([
    ['PUT', '/customers/42'],
    ['GET', '/customers'],
    ['GET', '/customers//orders'],
    ['GET', '/customers/42/orders/7'],
    ['GET', '/'],
  ])('%s %s matches nothing', (method, path) => {
    expect(table.match(method, path)).toBeUndefined();
  });

  it('refuses two routes with the same method and path shape', () => {
    const twice = { ...policy(), routes: [...policy().routes!, policy().routes![1]!] };
    expect(() => new PolicyRouteTable(twice, () => 0)).toThrow(/routes\[5\].*repeats/);
  });
});

describe('policyRequirement', () => {
  const p = policy();
  it('checks consent for a purpose whose basis is consent, on the subject of the rule', () => {
    expect(policyRequirement(p, p.routes![2]!)).toEqual({
      scopes: ['marketing:read'],
      consent: { purpose: 'marketing', subject: { param: 'id' } },
      dataSubject: { param: 'id' },
    });
  });
  it("records the purpose's other lawful basis", () => {
    expect(policyRequirement(p, p.routes![3]!)).toMatchObject({
      lawfulBasis: { basis: 'contract', purpose: 'fulfilment', subject: { param: 'id' } },
    });
  });
  it('names the caller as subject with `token`', () => {
    expect(policyRequirement(p, p.routes![4]!)).toEqual({
      scopes: ['customers:read'],
      dataSubject: 'token',
    });
  });
});

describe('a warden with a policy', () => {
  let warden: Warden | undefined;
  afterEach(async () => {
    await warden?.close();
    warden = undefined;
  });

  function make(): { warden: Warden; sink: MemorySink } {
    const sink = new MemorySink();
    warden = createWarden({
      jwt: testJwtOptions(),
      policy: policy(),
      audit: { sinks: [sink] },
      metrics: false,
    });
    return { warden, sink };
  }

  it('enforces the route scopes with no requirement from code', async () => {
    const { warden } = make();
    const token = mintToken({ claims: { scope: 'orders:read' } });
    const decision = await warden.check(bearer(token, { path: '/customers/42' }));
    expect(decision).toMatchObject({ outcome: 'deny', code: 'insufficient_scope' });
  });

  it('records the data subject of a scope-only route, and the template as route', async () => {
    const { warden, sink } = make();
    const token = mintToken({ claims: { scope: 'customers:read', sub: 'agent-1' } });
    const decision = await warden.check(bearer(token, { path: '/customers/c%2D7' }));
    expect(decision.outcome).toBe('allow');
    await warden.flushAudit();
    expect(sink.events.at(-1)).toMatchObject({
      route: '/customers/:id',
      dataSubject: 'c-7',
      subject: 'agent-1',
    });
  });

  it('requires consent for a consent purpose (and the scopes)', async () => {
    const { warden } = make();
    const token = mintToken({ claims: { scope: 'marketing:read' } });
    const refused = await warden.check(bearer(token, { path: '/customers/c1/marketing-profile' }));
    expect(refused).toMatchObject({ outcome: 'deny', code: 'consent_missing' });
    await warden.grantConsent({ subject: 'c1', purpose: 'marketing' });
    const fresh = mintToken({ claims: { scope: 'marketing:read' } });
    const allowed = await warden.check(bearer(fresh, { path: '/customers/c1/marketing-profile' }));
    expect(allowed).toMatchObject({ outcome: 'allow', dataSubject: 'c1', purpose: 'marketing' });
  });

  it('opens public routes of the policy', async () => {
    const { warden } = make();
    expect(await warden.check(view({ path: '/health' }))).toMatchObject({ outcome: 'allow' });
  });

  it('adds the requirement of code to the policy', async () => {
    const { warden } = make();
    const token = mintToken({ claims: { scope: 'customers:read' } });
    const request = bearer(token, { path: '/customers/42' });
    expect(await warden.check(request, { scopes: ['orders:read'] })).toMatchObject({
      outcome: 'deny',
      code: 'insufficient_scope',
    });
    const both = mintToken({ claims: { scope: 'customers:read orders:read' } });
    const allowed = await warden.check(bearer(both, { path: '/customers/42' }), {
      scopes: ['orders:read'],
    });
    expect(allowed.outcome).toBe('allow');
  });

  it('leaves requests on no policy route to the requirement of code', async () => {
    const { warden } = make();
    const token = mintToken({ claims: { scope: '' } });
    expect((await warden.check(bearer(token, { path: '/other' }))).outcome).toBe('allow');
  });

  it('fails at start-up on a route naming an unknown purpose, naming the route', () => {
    const p = policy();
    const broken: Policy = {
      ...p,
      purposes: {},
      routes: [{ method: 'GET', path: '/x', scopes: [], purpose: 'nope', lawfulBasis: 'contract' }],
    };
    expect(() => createWarden({ jwt: testJwtOptions(), policy: broken, metrics: false })).toThrow(
      ConfigError,
    );
    expect(() => createWarden({ jwt: testJwtOptions(), policy: broken, metrics: false })).toThrow(
      /policy routes\[0\] \(GET \/x\)/,
    );
  });
});

describe('policy check on routes', () => {
  const findings = (routes: string) =>
    checkPolicy(POLICY_TEXT.replace(/routes:[\s\S]*$/, `routes:\n${routes}`)).diagnostics.filter(
      (d) => d.path.startsWith('routes'),
    );

  it('refuses a data-subject parameter the path does not have', () => {
    expect(
      findings(
        '  - route: GET /customers/:id\n    scopes: [customers:read]\n    dataSubject: { param: customer }\n',
      ),
    ).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        path: 'routes[0].dataSubject.param',
        message: expect.stringContaining("no parameter ':customer'"),
      }),
    );
  });

  it('warns about a personal-data route without a data subject', () => {
    expect(
      findings('  - route: GET /customers/:id\n    scopes: [customers:read]\n'),
    ).toContainEqual(
      expect.objectContaining({
        severity: 'warning',
        message: expect.stringContaining('names no data subject'),
      }),
    );
  });

  it('refuses a public route that requires scopes', () => {
    expect(
      findings('  - route: GET /health\n    public: true\n    scopes: [customers:read]\n'),
    ).toContainEqual(expect.objectContaining({ severity: 'error', path: 'routes[0].public' }));
  });
});

describe('the access report (Art. 15) with a policy', () => {
  it('lists reads made through scope-only routes (and the exposure report counts them)', async () => {
    const sink = new MemorySink();
    const p = policy();
    const warden = createWarden({
      jwt: testJwtOptions(),
      policy: p,
      audit: { sinks: [sink] },
      metrics: false,
      logger: { warn() {}, error() {} },
    });
    try {
      const agent = mintToken({ claims: { scope: 'customers:read', sub: 'agent-7' } });
      const other = mintToken({ claims: { scope: 'orders:read', sub: 'agent-8' } });
      // GET /customers/:id only checks a scope: no purpose, no lawful basis in the policy.
      expect((await warden.check(bearer(agent, { path: '/customers/cust-9' }))).outcome).toBe(
        'allow',
      );
      expect((await warden.check(bearer(other, { path: '/customers/cust-9' }))).outcome).toBe(
        'deny',
      );
      await warden.check(bearer(agent, { path: '/customers/cust-10' }));
      await warden.flushAudit();
      const report = await accessReport(new MemorySource(sink.events), 'cust-9', { policy: p });
      expect(report).toMatchObject({ accesses: 1, allowed: 1, denied: 0 });
      expect(report.recipients).toEqual([
        expect.objectContaining({ accesses: 1, routes: ['GET /customers/:id'] }),
      ]);
      expect(report.dataCategories).toEqual([{ category: 'contact_details', accesses: 1 }]);
      // The exposure report of the agent's credential counts both customers it read.
      const exposure = await exposureReport(
        new MemorySource(sink.events),
        { subject: 'agent-7' },
        { policy: p },
      );
      expect(exposure.didReach).toMatchObject({
        allowed: 2,
        dataSubjects: 2,
        dataSubjectIds: ['cust-10', 'cust-9'],
        allowedWithoutDataSubject: 0,
      });
    } finally {
      await warden.close();
    }
  });
});

describe('dataSubject in code', () => {
  it('records the data subject of a scope-only route without a policy', async () => {
    const sink = new MemorySink();
    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: { sinks: [sink] },
      metrics: false,
      logger: { warn() {}, error() {} },
    });
    try {
      const token = mintToken({ claims: { scope: 'customers:read' } });
      const requirement = { scopes: ['customers:read'], dataSubject: { param: 'id' } } as const;
      const request = bearer(token, { path: '/c/9', route: '/c/:id', params: { id: 'c-9' } });
      expect(await warden.check(request, requirement)).toMatchObject({ outcome: 'allow' });
      const unresolved = bearer(token, { path: '/c', route: '/c', params: {} });
      expect(await warden.check(unresolved, requirement)).toMatchObject({
        outcome: 'deny',
        code: 'data_subject_unresolved',
      });
      const caller = mintToken({ claims: { scope: '', sub: 'me-1' } });
      await warden.check(bearer(caller, { path: '/me', route: '/me' }), { dataSubject: 'token' });
      await warden.flushAudit();
      expect(sink.events.map((e) => e.dataSubject)).toEqual(['c-9', undefined, 'me-1']);
    } finally {
      await warden.close();
    }
  });
});
