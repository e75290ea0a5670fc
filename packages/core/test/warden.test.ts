import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  AUDIT_SCHEMA_VERSION,
  createWarden,
  MemorySink,
  MemoryStore,
  StoreCapacityError,
  type AuditEvent,
  type AuditSink,
  type Clock,
  type ConsentRecord,
  type Decision,
  type DenyDecision,
  type Requirement,
  type StoreSnapshot,
  type Warden,
  type WardenOptions,
  type WardenStore,
} from '@tokenwarden/core';
import { mintToken, testJwtOptions, type MintOptions } from '@tokenwarden/testing';
import { bearer, memoryLogger, sample, view, type ViewInit } from './support';

/** A clock that moves only when the test moves it. */
class TestClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}

/** A store whose every method rejects, as a Redis store does while Redis is down. */
class ThrowingStore implements WardenStore {
  calls = 0;
  private fail(): Promise<never> {
    this.calls++;
    return Promise.reject(new Error('connection refused'));
  }
  lookup(): Promise<StoreSnapshot> {
    return this.fail();
  }
  revokeToken(): Promise<void> {
    return this.fail();
  }
  setNotBefore(): Promise<void> {
    return this.fail();
  }
  grantConsent(): Promise<ConsentRecord> {
    return this.fail();
  }
  withdrawConsent(): Promise<ConsentRecord> {
    return this.fail();
  }
  getConsent(): Promise<ConsentRecord | undefined> {
    return this.fail();
  }
  consentRecords(): Promise<readonly ConsentRecord[]> {
    return this.fail();
  }
  eraseConsent(): Promise<readonly string[]> {
    return this.fail();
  }
  async close(): Promise<void> {}
}

/** A MemoryStore that counts the reads that reach it (its own lookup and getConsent). */
class CountingStore extends MemoryStore {
  lookups = 0;
  consentReads = 0;
  override lookup(...args: Parameters<MemoryStore['lookup']>) {
    this.lookups++;
    return super.lookup(...args);
  }
  override getConsent(subject: string, purpose: string) {
    this.consentReads++;
    return super.getConsent(subject, purpose);
  }
}

/** An audit sink that always rejects. */
class RejectingSink implements AuditSink {
  attempts = 0;
  async write(events: readonly AuditEvent[]): Promise<void> {
    this.attempts += events.length;
    throw new Error('sink down');
  }
}

// 12:00:00.250, so "the same second" and "a later second" differ from "the same millisecond".
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0) + 250;
const FINGERPRINT_KEY = randomBytes(32);

interface Rig {
  readonly warden: Warden;
  readonly sink: MemorySink;
  readonly clock: TestClock;
  readonly logger: ReturnType<typeof memoryLogger>;
  /** Mints a token issued at the rig's current time. */
  token(options?: MintOptions): string;
  /** Every audit event so far, after flushing. */
  events(): Promise<AuditEvent[]>;
  /** One sample of the rig's metrics. */
  metric(series: string): Promise<number | undefined>;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function rig(
  options: Partial<WardenOptions> & { readonly clock?: TestClock } = {},
  sinks?: readonly AuditSink[],
): Rig {
  const clock = options.clock ?? new TestClock(T0);
  const sink = new MemorySink();
  const logger = memoryLogger();
  const store = options.store ?? new MemoryStore({ clock });
  const warden = createWarden({
    jwt: testJwtOptions(),
    store,
    clock,
    purposes: ['marketing', 'billing'],
    audit: { sinks: sinks ?? [sink], fingerprintKey: FINGERPRINT_KEY },
    logger,
    ...options,
  });
  closers.push(async () => {
    await warden.close();
    await store.close();
  });
  return {
    warden,
    sink,
    clock,
    logger,
    token: (mint = {}) => mintToken({ now: clock.now(), ...mint }),
    events: async () => {
      await warden.flushAudit();
      return [...sink.events];
    },
    metric: async (series) => sample(await warden.metrics.render(), series),
  };
}

function denied(decision: Decision): DenyDecision {
  if (decision.outcome !== 'deny') {
    throw new Error(`expected a denial, got allow (${decision.reason})`);
  }
  return decision;
}

describe('Warden.check: allow', () => {
  it('allows a valid token and returns the principal', async () => {
    const r = rig();
    const token = r.token({ claims: { sub: 'alice', jti: 'j-allow', scope: 'a b' } });
    const decision = await r.warden.check(bearer(token));
    expect(decision).toEqual({
      outcome: 'allow',
      reason: 'authorized',
      principal: expect.objectContaining({
        subject: 'alice',
        client: 'web-app',
        scopes: ['a', 'b'],
        tokenId: 'j-allow',
        issuer: 'https://issuer.test/',
        issuedAt: Math.floor(T0 / 1000) * 1000,
        expiresAt: Math.floor(T0 / 1000) * 1000 + 300_000,
      }),
    });
  });

  it('records the allow with pseudonymised request facts', async () => {
    const r = rig();
    const token = r.token({ claims: { sub: 'alice', jti: 'j-audit' } });
    await r.warden.check(
      bearer(token, {
        method: 'POST',
        path: '/customers/42',
        route: '/customers/:id',
        ip: '203.0.113.77',
        headers: { 'x-request-id': 'req-123', 'user-agent': 'orders-sync/1.4' },
      }),
    );
    const [event] = await r.events();
    expect(event).toEqual({
      schemaVersion: AUDIT_SCHEMA_VERSION,
      id: `${event!.producer}/1`,
      producer: expect.any(String),
      seq: 1,
      // Keyed by default: the test run's chain key (TOKENWARDEN_AUDIT_CHAIN_KEY).
      hash: expect.stringMatching(/^hmac-sha256:[A-Za-z0-9_-]{43}$/),
      time: new Date(T0).toISOString(),
      type: 'access.decision',
      outcome: 'allow',
      reason: 'authorized',
      tokenId: 'j-audit',
      tokenFingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      subject: 'alice',
      client: 'web-app',
      scopes: ['customers:read'],
      route: '/customers/:id',
      method: 'POST',
      requestId: 'req-123',
      clientAddress: '203.0.113.0/24',
      userAgent: 'orders-sync/1.4',
    });
  });

  it('drops a request id that is not a plain identifier', async () => {
    const r = rig();
    await r.warden.check(
      bearer(r.token(), { headers: { 'x-request-id': 'a b\r\nSet-Cookie: x' } }),
    );
    const [event] = await r.events();
    expect(event?.requestId).toBeUndefined();
  });
});

describe('Warden.check: revocation', () => {
  it('denies a revoked token id with token_revoked and leaves other tokens alone', async () => {
    const r = rig();
    const revoked = r.token({ claims: { jti: 'leaked' } });
    const other = r.token({ claims: { jti: 'fine' } });
    expect((await r.warden.check(bearer(revoked))).outcome).toBe('allow');
    await r.warden.revokeToken('leaked', { actor: 'ops', reason: 'leaked' });
    const decision = denied(await r.warden.check(bearer(revoked)));
    expect(decision).toMatchObject({ status: 401, code: 'token_revoked' });
    expect(decision.headers['www-authenticate']).toContain('error="invalid_token"');
    expect((await r.warden.check(bearer(other))).outcome).toBe('allow');
  });

  const marks = [
    {
      kind: 'subject',
      claims: { sub: 'alice' },
      bystander: { sub: 'bob' },
      revoke: (w: Warden) => w.revokeSubject('alice'),
    },
    {
      kind: 'client',
      claims: { client_id: 'mobile' },
      bystander: { client_id: 'web' },
      revoke: (w: Warden) => w.revokeClient('mobile'),
    },
    {
      kind: 'all',
      claims: {},
      bystander: undefined,
      revoke: (w: Warden) => w.revokeAll(),
    },
  ] as const;

  it.each(marks)(
    'revoke $kind: denies tokens issued before and in the same second, allows later ones',
    async ({ claims, bystander, revoke }) => {
      const r = rig();
      const older = r.token({ claims });
      const unaffected = bystander ? r.token({ claims: bystander }) : undefined;
      r.clock.advance(100);
      await revoke(r.warden);
      r.clock.advance(100); // still the same second as the mark
      const sameSecond = r.token({ claims });
      expect(denied(await r.warden.check(bearer(older))).code).toBe('token_revoked');
      expect(denied(await r.warden.check(bearer(sameSecond))).code).toBe('token_revoked');
      if (unaffected) expect((await r.warden.check(bearer(unaffected))).outcome).toBe('allow');
      r.clock.set(Math.floor(r.clock.now() / 1000) * 1000 + 1000); // next second
      const later = r.token({ claims });
      expect((await r.warden.check(bearer(later))).outcome).toBe('allow');
      expect(denied(await r.warden.check(bearer(older))).code).toBe('token_revoked');
    },
  );

  it('keeps a revoked token refused for as long as the clock tolerance could accept it', async () => {
    const r = rig();
    // The issuer's clock runs 4.75 s ahead: iat is in the future but within the 5 s tolerance,
    // and the lifetime is exactly the 1 h maximum. Verification accepts this token until
    // exp + tolerance = T0 + 3 609 750 ms.
    const token = mintToken({ now: T0 + 5_000, lifetimeSeconds: 3600, claims: { jti: 'ahead' } });
    expect((await r.warden.check(bearer(token))).outcome).toBe('allow');
    await r.warden.revokeToken('ahead');
    for (const at of [60_000, 3_604_999, 3_605_000, 3_607_000, 3_609_700]) {
      r.clock.set(T0 + at);
      const decision = await r.warden.check(bearer(token));
      expect({ at, outcome: decision.outcome }).toEqual({ at, outcome: 'deny' });
    }
    // Past exp + tolerance the token is refused for its age, whatever the store holds.
    r.clock.set(T0 + 3_610_000);
    expect(denied(await r.warden.check(bearer(token))).code).toBe('token_expired');
  });

  it('takes an explicit before time', async () => {
    const r = rig();
    const token = r.token({ claims: { sub: 'carol' } });
    await r.warden.revokeSubject('carol', { before: T0 - 10_000 });
    expect((await r.warden.check(bearer(token))).outcome).toBe('allow');
    await r.warden.revokeSubject('carol', { before: T0 + 10_000 });
    expect(denied(await r.warden.check(bearer(token))).code).toBe('token_revoked');
  });

  it('counts revocations by kind', async () => {
    const r = rig();
    await r.warden.revokeToken('t');
    await r.warden.revokeSubject('s');
    await r.warden.revokeClient('c');
    await r.warden.revokeAll();
    for (const kind of ['token', 'subject', 'client', 'all']) {
      expect(await r.metric(`tokenwarden_revocations_total{kind="${kind}"}`)).toBe(1);
    }
  });
});

describe('Warden.check: scopes', () => {
  const route: Requirement = { scopes: ['customers:read', 'orders:write'] };

  it('denies a missing scope with 403 and an RFC 6750 insufficient_scope challenge', async () => {
    const r = rig();
    const decision = denied(await r.warden.check(bearer(r.token()), route));
    expect(decision.status).toBe(403);
    expect(decision.code).toBe('insufficient_scope');
    expect(decision.body).toMatchObject({ status: 403, code: 'insufficient_scope' });
    const challenge = decision.headers['www-authenticate'];
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="customers:read orders:write"');
    expect(await r.metric('tokenwarden_scope_checks_total{outcome="fail"}')).toBe(1);
  });

  it('allows a token carrying every required scope', async () => {
    const r = rig();
    const token = r.token({ claims: { scope: 'orders:write customers:read extra' } });
    expect(await r.warden.check(bearer(token), route)).toMatchObject({
      outcome: 'allow',
      reason: 'authorized',
    });
    expect(await r.metric('tokenwarden_scope_checks_total{outcome="pass"}')).toBe(1);
  });

  it('counts scopes from the permissions claim when configured', async () => {
    const r = rig({ jwt: testJwtOptions({ permissionsClaim: 'permissions' }) });
    const token = r.token({ claims: { permissions: ['orders:write'] } });
    expect((await r.warden.check(bearer(token), route)).outcome).toBe('allow');
  });
});

describe('Warden.check: consent', () => {
  const route: Requirement = { consent: { purpose: 'marketing', subject: { param: 'id' } } };
  const forAlice: ViewInit = { path: '/customers/alice', params: { id: 'alice' } };
  const agent = { claims: { sub: 'agent-7' } };

  it('runs the whole consent life cycle for the data subject named by the route', async () => {
    const r = rig();
    const first = r.token(agent);
    expect(denied(await r.warden.check(bearer(first, forAlice), route))).toMatchObject({
      status: 403,
      code: 'consent_missing',
    });

    r.clock.advance(1_000);
    await r.warden.grantConsent({ subject: 'alice', purpose: 'marketing', source: 'form-1' });
    await r.warden.grantConsent({ subject: 'bob', purpose: 'billing' });
    expect(await r.warden.check(bearer(first, forAlice), route)).toMatchObject({
      outcome: 'allow',
      reason: 'consent',
      dataSubject: 'alice',
      purpose: 'marketing',
      lawfulBasis: 'consent',
      principal: { subject: 'agent-7' },
    });
    // Consent is per data subject and per purpose.
    expect(denied(await r.warden.check(bearer(first, { params: { id: 'bob' } }), route)).code).toBe(
      'consent_missing',
    );

    r.clock.advance(1_000);
    await r.warden.withdrawConsent({ subject: 'alice', purpose: 'marketing' });
    expect(denied(await r.warden.check(bearer(first, forAlice), route)).code).toBe(
      'consent_withdrawn',
    );

    r.clock.advance(5_000);
    await r.warden.grantConsent({ subject: 'alice', purpose: 'marketing' });
    // Re-granting never revives a token issued before the withdrawal...
    expect(denied(await r.warden.check(bearer(first, forAlice), route)).code).toBe(
      'consent_withdrawn',
    );
    // ...but a token issued after it passes.
    const fresh = r.token(agent);
    expect(await r.warden.check(bearer(fresh, forAlice), route)).toMatchObject({
      outcome: 'allow',
      reason: 'consent',
    });

    const decisions = (await r.events()).filter((e) => e.type === 'access.decision');
    expect(decisions.map((e) => `${e.outcome}:${e.reason}`)).toEqual([
      'deny:consent_missing',
      'allow:consent',
      'deny:consent_missing',
      'deny:consent_withdrawn',
      'deny:consent_withdrawn',
      'allow:consent',
    ]);
    expect(decisions[1]).toMatchObject({
      dataSubject: 'alice',
      purpose: 'marketing',
      lawfulBasis: 'consent',
      subject: 'agent-7',
    });
    expect(decisions[0]).toMatchObject({ dataSubject: 'alice', purpose: 'marketing', status: 403 });
  });

  it('denies with consent_expired once a consent lapses', async () => {
    const r = rig();
    await r.warden.grantConsent({
      subject: 'alice',
      purpose: 'marketing',
      expiresAt: T0 + 60_000,
    });
    r.clock.advance(1_000);
    expect((await r.warden.check(bearer(r.token(agent), forAlice), route)).outcome).toBe('allow');
    r.clock.advance(60_000);
    expect(denied(await r.warden.check(bearer(r.token(agent), forAlice), route)).code).toBe(
      'consent_expired',
    );
    expect(
      await r.metric(
        'tokenwarden_consent_checks_total{purpose="marketing",outcome="fail",reason="consent_expired"}',
      ),
    ).toBe(1);
  });

  it('uses the token subject when the route names no data subject', async () => {
    const r = rig();
    await r.warden.grantConsent({ subject: 'user-1', purpose: 'billing' });
    r.clock.advance(1_000);
    expect(
      await r.warden.check(bearer(r.token()), { consent: { purpose: 'billing' } }),
    ).toMatchObject({ outcome: 'allow', dataSubject: 'user-1' });
  });

  it.each([
    ['the parameter is absent', { path: '/customers' }],
    ['the adapter has no params', {}],
    ['the parameter is not a safe id', { params: { id: 'a\u0000b' } }],
  ] as const)('denies data_subject_unresolved when %s', async (_name, init) => {
    const r = rig();
    const decision = denied(await r.warden.check(bearer(r.token(agent), init), route));
    expect(decision).toMatchObject({ status: 403, code: 'data_subject_unresolved' });
  });

  it('denies data_subject_unresolved when a resolver throws', async () => {
    const r = rig();
    const throwing: Requirement = {
      consent: {
        purpose: 'marketing',
        subject: () => {
          throw new Error('boom');
        },
      },
    };
    expect(denied(await r.warden.check(bearer(r.token()), throwing)).code).toBe(
      'data_subject_unresolved',
    );
  });
});

describe('Warden.check: lawful basis', () => {
  it('allows without consent and records the basis in the audit event', async () => {
    const r = rig();
    const route: Requirement = { lawfulBasis: { basis: 'contract', purpose: 'billing' } };
    expect(await r.warden.check(bearer(r.token()), route)).toMatchObject({
      outcome: 'allow',
      reason: 'lawful_basis',
      lawfulBasis: 'contract',
      purpose: 'billing',
    });
    const [event] = await r.events();
    expect(event).toMatchObject({
      outcome: 'allow',
      reason: 'lawful_basis',
      lawfulBasis: 'contract',
      purpose: 'billing',
    });
  });

  it("records whose data the route touches when it names the subject, and refuses when it can't tell", async () => {
    const r = rig();
    const route: Requirement = {
      lawfulBasis: { basis: 'contract', purpose: 'billing', subject: { param: 'customer' } },
    };
    expect(
      await r.warden.check(bearer(r.token(), { params: { customer: 'cust-42' } }), route),
    ).toMatchObject({ outcome: 'allow', reason: 'lawful_basis', dataSubject: 'cust-42' });
    expect(denied(await r.warden.check(bearer(r.token(), { params: {} }), route)).code).toBe(
      'data_subject_unresolved',
    );
    const events = await r.events();
    expect(events.map((e) => [e.outcome, e.dataSubject, e.lawfulBasis])).toEqual([
      ['allow', 'cust-42', 'contract'],
      ['deny', undefined, 'contract'],
    ]);
    expect(() =>
      r.warden.requirement({
        lawfulBasis: { basis: 'contract', subject: { param: 7 } as unknown as { param: string } },
      }),
    ).toThrow(/lawfulBasis: 'subject' must be a function or \{ param: 'name' \}/);
  });

  it('still requires a valid token', async () => {
    const r = rig();
    const route: Requirement = { lawfulBasis: { basis: 'legal_obligation' } };
    expect(denied(await r.warden.check(view(), route)).code).toBe('token_missing');
  });
});

describe('Warden.check: public paths', () => {
  it('allows a public path without a token', async () => {
    const r = rig({ publicPaths: ['/status', /^\/docs\//] });
    expect(await r.warden.check(view({ path: '/status' }))).toEqual({
      outcome: 'allow',
      reason: 'public_route',
    });
    expect((await r.warden.check(view({ path: '/docs/intro' }))).outcome).toBe('allow');
    expect(denied(await r.warden.check(view({ path: '/status/x' }))).code).toBe('token_missing');
  });

  it('still verifies a token sent to a public path', async () => {
    const r = rig({ publicPaths: ['/status'] });
    const at = { path: '/status' };
    expect(await r.warden.check(bearer(r.token({ claims: { sub: 'dave' } }), at))).toMatchObject({
      outcome: 'allow',
      reason: 'public_route',
      principal: { subject: 'dave' },
    });
    const expired = mintToken({ now: T0 - 3_600_000 });
    expect(denied(await r.warden.check(bearer(expired, at))).code).toBe('token_expired');
    expect(denied(await r.warden.check(bearer('not.a.jwt', at))).code).toBe('token_malformed');
    await r.warden.revokeSubject('dave');
    const revoked = denied(await r.warden.check(bearer(r.token({ claims: { sub: 'dave' } }), at)));
    expect(revoked.code).toBe('token_revoked');
  });

  it('enforces a route requirement on a public path: no token never gets more than a token', async () => {
    const r = rig({ publicPaths: ['/status'] });
    const at = { path: '/status' };
    const scoped: Requirement = { scopes: ['admin'] };
    const consent: Requirement = { consent: { purpose: 'marketing' } };
    // With a valid token lacking the scope, or the subject lacking consent: refused.
    expect(denied(await r.warden.check(bearer(r.token(), at), scoped)).code).toBe(
      'insufficient_scope',
    );
    expect(denied(await r.warden.check(bearer(r.token(), at), consent)).code).toBe(
      'consent_missing',
    );
    // The route-level entry point refuses an anonymous caller...
    const access = await r.warden.begin(view(at));
    expect(denied(await access.authorize(scoped)).code).toBe('token_missing');
    // ...and check() must agree rather than allow without any token.
    expect(denied(await r.warden.check(view(at), scoped)).code).toBe('token_missing');
    expect(denied(await r.warden.check(view(at), consent)).code).toBe('token_missing');
  });

  it('treats a public requirement like a public path', async () => {
    const r = rig();
    expect((await r.warden.check(view(), { public: true })).outcome).toBe('allow');
    expect(denied(await r.warden.check(bearer('x.y.z'), { public: true })).status).toBe(401);
  });
});

describe('Warden.check: the store fails', () => {
  it('fails closed with 503 store_unavailable and Retry-After, and counts the error', async () => {
    const store = new ThrowingStore();
    const r = rig({ store });
    for (let i = 0; i < 3; i++) {
      const decision = denied(await r.warden.check(bearer(r.token())));
      expect(decision).toMatchObject({ status: 503, code: 'store_unavailable' });
      expect(decision.headers['retry-after']).toBe('1');
      expect(decision.body.status).toBe(503);
    }
    expect(store.calls).toBe(3);
    expect(await r.metric('tokenwarden_store_errors_total{operation="lookup"}')).toBe(3);
    expect(
      await r.metric('tokenwarden_decisions_total{outcome="deny",reason="store_unavailable"}'),
    ).toBe(3);
    const events = await r.events();
    expect(events.map((e) => e.reason)).toEqual(Array(3).fill('store_unavailable'));
    // Logged, but not once per request.
    expect(r.logger.lines.filter((l) => l.startsWith('error: store lookup failed'))).toHaveLength(
      1,
    );
  });

  it('fails closed on every kind of route, never allowing', async () => {
    const r = rig({ store: new ThrowingStore(), publicPaths: ['/status'] });
    const token = r.token();
    const routes: (Requirement | undefined)[] = [
      undefined,
      { scopes: ['customers:read'] },
      { consent: { purpose: 'marketing' } },
      { lawfulBasis: { basis: 'contract' } },
      { public: true },
    ];
    for (const route of routes) {
      expect(denied(await r.warden.check(bearer(token), route)).status).toBe(503);
    }
    expect(denied(await r.warden.check(bearer(token, { path: '/status' }))).status).toBe(503);
  });

  it('fails closed when a route-level consent lookup fails', async () => {
    class ConsentDown extends MemoryStore {
      override getConsent(): Promise<ConsentRecord | undefined> {
        return Promise.reject(new Error('timeout'));
      }
    }
    const clock = new TestClock(T0);
    const r = rig({ store: new ConsentDown({ clock }), clock });
    const access = await r.warden.begin(bearer(r.token(), { params: { id: 'alice' } }));
    expect(access.decision.outcome).toBe('allow');
    const decision = await access.authorize({
      consent: { purpose: 'marketing', subject: { param: 'id' } },
    });
    expect(denied(decision)).toMatchObject({ status: 503, code: 'store_unavailable' });
    access.settle(503);
    expect(await r.metric('tokenwarden_store_errors_total{operation="consent"}')).toBe(1);
    expect((await r.events()).map((e) => e.reason)).toEqual(['store_unavailable']);
  });
});

describe('Warden: audit sink failures', () => {
  it('still decides, counts the failed events and throws nothing', async () => {
    const failing = new RejectingSink();
    const healthy = new MemorySink();
    const r = rig({}, [failing, healthy]);
    const allow = await r.warden.check(bearer(r.token()));
    const deny = await r.warden.check(view());
    expect(allow.outcome).toBe('allow');
    expect(deny.outcome).toBe('deny');
    await expect(r.warden.flushAudit()).resolves.toBeUndefined();
    expect(failing.attempts).toBeGreaterThanOrEqual(1);
    expect(healthy.events).toHaveLength(2);
    // The failing sink's events wait in its spool for a retry; none is lost or thrown.
    expect(await r.metric('tokenwarden_audit_events_total{result="written"}')).toBe(2);
    expect(await r.metric('tokenwarden_audit_events_total{result="spooled"}')).toBe(2);
    expect(r.logger.lines).toContainEqual(expect.stringMatching(/^error: audit sink/));
    await expect(r.warden.revokeSubject('x')).resolves.toBeUndefined();
    await r.warden.flushAudit();
    expect(healthy.events).toHaveLength(3);
  });

  it('survives a sink that throws synchronously', async () => {
    const r = rig({}, [
      {
        write: () => {
          throw new Error('sync failure');
        },
      },
    ]);
    expect((await r.warden.check(bearer(r.token()))).outcome).toBe('allow');
    await expect(r.warden.flushAudit()).resolves.toBeUndefined();
    expect(await r.metric('tokenwarden_audit_events_total{result="failed"}')).toBe(1);
  });
});

describe('Warden: one audit event per decision', () => {
  it('records exactly one event per check(), whatever stage decides', async () => {
    const r = rig({ publicPaths: ['/status'] });
    await r.warden.revokeToken('gone');
    await r.warden.flushAudit();
    r.sink.clear();
    const cases: [ViewInit | string, Requirement | undefined][] = [
      [r.token(), undefined],
      [{}, undefined],
      [{ path: '/status' }, undefined],
      ['a.b', undefined],
      [mintToken({ now: T0 - 3_600_000 }), undefined],
      [r.token({ claims: { jti: 'gone' } }), undefined],
      [r.token(), { scopes: ['admin'] }],
      [r.token(), { consent: { purpose: 'marketing' } }],
      [r.token(), { lawfulBasis: { basis: 'contract' } }],
      [{ headers: { authorization: ['Bearer a', 'Bearer b'] } }, undefined],
    ];
    for (const [input, route] of cases) {
      const before = (await r.events()).length;
      await r.warden.check(typeof input === 'string' ? bearer(input) : view(input), route);
      expect((await r.events()).length - before).toBe(1);
    }
  });

  it('begin() + authorize() + settle() records one event even if settle is called twice', async () => {
    const r = rig();
    const access = await r.warden.begin(bearer(r.token()));
    expect(access.decision.outcome).toBe('allow');
    expect(await r.events()).toHaveLength(0);
    expect((await access.authorize({ scopes: ['customers:read'] })).outcome).toBe('allow');
    access.settle(200);
    access.settle(500);
    const events = await r.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'allow', status: 200 });
  });

  it('records a route-level denial at once and nothing more on settle()', async () => {
    const r = rig();
    const access = await r.warden.begin(bearer(r.token()));
    const decision = await access.authorize({ scopes: ['admin'] });
    expect(denied(decision).code).toBe('insufficient_scope');
    access.settle(403);
    access.settle();
    const events = await r.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'deny', reason: 'insufficient_scope', status: 403 });
  });

  it('records a pipeline denial once, and authorize() after it changes nothing', async () => {
    const r = rig();
    const access = await r.warden.begin(view());
    expect(denied(access.decision).code).toBe('token_missing');
    expect(await access.authorize({ scopes: ['x'] })).toBe(access.decision);
    access.settle();
    expect(await r.events()).toHaveLength(1);
  });

  it('records the final reason after several route-level steps', async () => {
    const r = rig();
    await r.warden.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    r.clock.advance(1_000);
    await r.warden.flushAudit();
    r.sink.clear();
    const access = await r.warden.begin(bearer(r.token()));
    await access.authorize({ scopes: ['customers:read'] });
    await access.authorize({ consent: { purpose: 'marketing' } });
    access.settle(200);
    const events = await r.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      reason: 'consent',
      dataSubject: 'user-1',
      purpose: 'marketing',
      lawfulBasis: 'consent',
    });
  });
});

describe('Warden: lifecycle audit events', () => {
  const calls: [string, (w: Warden) => Promise<unknown>, Partial<AuditEvent>][] = [
    ['token.revoked', (w) => w.revokeToken('jti-1', { actor: 'ops' }), { actor: 'ops' }],
    ['subject.revoked', (w) => w.revokeSubject('alice'), { subject: 'alice' }],
    ['client.revoked', (w) => w.revokeClient('mobile'), { client: 'mobile' }],
    ['all.revoked', (w) => w.revokeAll({ reason: 'key leak' }), {}],
    [
      'consent.granted',
      (w) => w.grantConsent({ subject: 'alice', purpose: 'marketing', source: 'form' }),
      { dataSubject: 'alice', purpose: 'marketing' },
    ],
    [
      'consent.withdrawn',
      (w) => w.withdrawConsent({ subject: 'alice', purpose: 'marketing' }),
      { dataSubject: 'alice', purpose: 'marketing' },
    ],
  ];

  it.each(calls)('%s: one success event', async (type, call, fields) => {
    const r = rig();
    await call(r.warden);
    const events = await r.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type, outcome: 'success', ...fields });
    expect(events[0]?.time).toBe(new Date(T0).toISOString());
  });

  it.each(calls)(
    '%s: one failure event, and the call rejects, when the store rejects',
    async (type, call, fields) => {
      const r = rig({ store: new ThrowingStore() });
      await expect(call(r.warden)).rejects.toThrow('connection refused');
      const events = await r.events();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type,
        outcome: 'failure',
        reason: 'store_unavailable',
        ...fields,
      });
    },
  );

  it('records why a change failed: a full store is store_capacity, not store_unavailable', async () => {
    const clock = new TestClock(T0);
    const r = rig({ store: new MemoryStore({ clock, maxRevocations: 1 }), clock });
    await r.warden.revokeToken('first');
    const error = await r.warden.revokeToken('second').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreCapacityError);
    const events = await r.events();
    expect(events.map((e) => `${e.outcome}:${e.reason ?? ''}`)).toEqual([
      'success:',
      'failure:store_capacity',
    ]);
  });

  it('keeps revocation details in the event', async () => {
    const r = rig();
    await r.warden.revokeToken('jti-9', { expiresAt: T0 + 60_000, reason: 'leaked' });
    const [event] = await r.events();
    expect(event?.detail).toEqual({ expiresAt: T0 + 60_000, reason: 'leaked' });
    expect(event?.tokenId).toBe('jti-9');
  });

  it('refuses an unsafe id before touching the store', async () => {
    const store = new ThrowingStore();
    const r = rig({ store });
    await expect(r.warden.revokeSubject('')).rejects.toThrow(TypeError);
    await expect(r.warden.revokeToken('a\u0000b')).rejects.toThrow(TypeError);
    expect(store.calls).toBe(0);
  });
});

describe('Warden: audit events never hold the raw token', () => {
  it('keeps tokens out of every event, whatever the credential source', async () => {
    const r = rig({
      publicPaths: ['/status'],
      credentials: { cookie: 'tw', queryParameter: 'access_token' },
    });
    await r.warden.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    r.clock.advance(1_000);
    const tokens: string[] = [];
    const t = (options?: MintOptions) => {
      const token = r.token(options);
      tokens.push(token);
      return token;
    };
    const tampered = t().replace(
      /\.[^.]+\./,
      `.${Buffer.from('{"sub":"x"}').toString('base64url')}.`,
    );
    tokens.push(tampered);
    await r.warden.check(bearer(t()));
    await r.warden.check(bearer(t()), { scopes: ['admin'] });
    await r.warden.check(bearer(t()), { consent: { purpose: 'marketing' } });
    await r.warden.check(bearer(tampered));
    await r.warden.check(view({ cookies: { tw: t() } }));
    const q = t();
    await r.warden.check(view({ path: '/customers', url: `/customers?access_token=${q}` }));
    await r.warden.check(bearer(t(), { path: '/status' }));
    await r.warden.check(bearer(t({ now: T0 - 3_600_000 })));
    await r.warden.revokeToken('some-jti');
    const events = await r.events();
    expect(events.length).toBe(10);
    for (const event of events) {
      const json = JSON.stringify(event);
      for (const token of tokens) {
        expect(json).not.toContain(token);
        for (const part of token.split('.')) expect(json).not.toContain(part);
      }
    }
  });

  it('fingerprints one token the same way across wardens sharing a key', async () => {
    const a = rig();
    const b = rig();
    const token = a.token();
    await a.warden.check(bearer(token));
    await b.warden.check(bearer(token));
    await b.warden.check(bearer(b.token({ claims: { jti: 'other' } })));
    const [fa] = await a.events();
    const [fb, other] = await b.events();
    expect(fa?.tokenFingerprint).toBeDefined();
    expect(fa?.tokenFingerprint).toBe(fb?.tokenFingerprint);
    expect(other?.tokenFingerprint).not.toBe(fa?.tokenFingerprint);
  });
});

describe('Warden: store handling', () => {
  it('answers one request with one store round trip', async () => {
    const clock = new TestClock(T0);
    const store = new CountingStore({ clock });
    const r = rig({ store, clock });
    await r.warden.check(bearer(r.token()), {
      consent: { purpose: 'marketing' },
      scopes: ['customers:read'],
    });
    expect(store.lookups).toBe(1);
    expect(store.consentReads).toBe(0);
    // No store call at all for a token refused locally.
    await r.warden.check(bearer('a.b.c'));
    await r.warden.check(view());
    expect(store.lookups).toBe(1);
  });

  it('closes the store it created, and not one it was given', async () => {
    const given = new MemoryStore();
    const warden = createWarden({ jwt: testJwtOptions(), store: given, logger: memoryLogger() });
    await given.revokeToken('kept', Date.now() + 60_000);
    await warden.close();
    await warden.close();
    expect((await given.lookup({ tokenId: 'kept', subject: 's' })).tokenRevoked).toBe(true);
    await given.close();
  });
});

describe('Warden.beginNow and Access.authorizeNow: warm requests without a promise', () => {
  const consent: Requirement = { consent: { purpose: 'marketing' } };

  it('decides at once when the token and the state are in memory, and gives a promise otherwise', async () => {
    const r = rig();
    const token = r.token();
    // Local HS256 verification and the MemoryStore: no I/O, so no promise even the first time.
    const first = r.warden.beginNow(bearer(token));
    expect(first).not.toBeInstanceOf(Promise);
    const access = first as Awaited<typeof first>;
    expect(access.decision.outcome).toBe('allow');
    // A route step whose consent record is in memory is decided at once too; the answer is the
    // same as the promise-based step's.
    await r.warden.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    const now = access.authorizeNow(consent);
    expect(now).not.toBeInstanceOf(Promise);
    expect((now as Decision).outcome).toBe('allow');
    expect((await access.authorize(consent)).outcome).toBe('allow');
    await access.settle(200);
    // A revocation is seen by the very next synchronous decision.
    await r.warden.revokeSubject('user-1');
    const after = r.warden.beginNow(bearer(token)) as Awaited<typeof first>;
    expect(denied(after.decision).code).toBe('token_revoked');
    const decisions = (await r.events()).filter((e) => e.type === 'access.decision');
    expect(decisions.map((e) => [e.outcome, e.reason])).toEqual([
      ['allow', 'consent'],
      ['deny', 'token_revoked'],
    ]);
  });

  it("calls a store subclass's own lookup and getConsent instead of answering from memory", async () => {
    const clock = new TestClock(T0);
    const store = new CountingStore({ clock });
    const r = rig({ store, clock });
    const pending = r.warden.beginNow(bearer(r.token()));
    expect(pending).toBeInstanceOf(Promise);
    const access = await pending;
    expect(access.authorizeNow(consent)).toBeInstanceOf(Promise);
    expect([store.lookups, store.consentReads]).toEqual([1, 1]);
  });

  it('gives a promise when the token must be verified by a trusted issuer or a store call', async () => {
    const r = rig({ store: new ThrowingStore() });
    const pending = r.warden.beginNow(bearer(r.token()));
    expect(pending).toBeInstanceOf(Promise);
    expect(denied((await pending).decision).code).toBe('store_unavailable');
  });
});
