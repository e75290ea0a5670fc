import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '@tokenwarden/testing';
import type { ConsentRecord, Requirement } from '@tokenwarden/core';
import type { RequestContext } from '../../src/pipeline/context';
import { AuthorizeStage } from '../../src/pipeline/stages/authorize';
import { view } from '../support';
import { context, denials, routeStep } from './support';

const clock = new FakeClock(1_800_000_000_000);
const stage = new AuthorizeStage(denials, clock, 256);

function authenticated(ctx: RequestContext, scopes: readonly string[] = ['a', 'b']) {
  const principal = {
    subject: 'user-1',
    scopes,
    tokenId: 'jti-1',
    issuer: 'https://issuer.test/',
    issuedAt: clock.now() - 10_000,
    expiresAt: clock.now() + 60_000,
    claims: {},
  };
  ctx.derived = { principal, fingerprint: undefined, keyBound: undefined };
  ctx.verified = { ...principal, client: undefined, kid: undefined };
  return ctx;
}

function consent(overrides: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    subject: 'user-1',
    purpose: 'marketing',
    grantedAt: clock.now() - 60_000,
    ...overrides,
  } as ConsentRecord;
}

describe('AuthorizeStage alone', () => {
  it('allows an authenticated request with no requirement', () => {
    const ctx = authenticated(context(view()));
    expect(stage.run(ctx)).toBeUndefined();
    expect(ctx.decision).toMatchObject({ outcome: 'allow', reason: 'authorized' });
  });

  it('allows an anonymous public request, but not one that needs scopes', () => {
    const anonymous = context(view(), { public: true });
    expect(stage.run(anonymous)).toBeUndefined();
    expect(anonymous.decision).toEqual({ outcome: 'allow', reason: 'public_route' });
    const scoped = context(view(), { public: true, scopes: ['a'] });
    expect(stage.run(scoped)).toMatchObject({ code: 'token_missing' });
  });

  it('refuses a missing scope, naming the required scopes in the challenge', () => {
    const ctx = authenticated(context(view(), { scopes: ['a', 'c'] }));
    const denial = stage.run(ctx);
    expect(denial).toMatchObject({ code: 'insufficient_scope', status: 403 });
    expect(denial?.headers['www-authenticate']).toContain('scope="a c"');
    expect(ctx.scope).toBe('fail');
  });

  it('checks consent against the record the state stage brought', () => {
    const granted = authenticated(context(view(), { consent: { purpose: 'marketing' } }));
    granted.consentTarget = 'user-1';
    granted.snapshot = { consent: consent() };
    expect(stage.run(granted)).toBeUndefined();
    expect(granted.decision).toMatchObject({
      reason: 'consent',
      dataSubject: 'user-1',
      purpose: 'marketing',
      lawfulBasis: 'consent',
    });
    const withdrawn = authenticated(context(view(), { consent: { purpose: 'marketing' } }));
    withdrawn.consentTarget = 'user-1';
    withdrawn.snapshot = { consent: consent({ withdrawnAt: clock.now() - 1_000 }) };
    expect(stage.run(withdrawn)).toMatchObject({ code: 'consent_withdrawn', status: 403 });
    expect(withdrawn.consent).toBe('consent_withdrawn');
    const none = authenticated(context(view(), { consent: { purpose: 'marketing' } }));
    none.consentTarget = 'user-1';
    expect(stage.run(none)).toMatchObject({ code: 'consent_missing' });
    const unresolved = authenticated(context(view(), { consent: { purpose: 'marketing' } }));
    expect(stage.run(unresolved)).toMatchObject({ code: 'data_subject_unresolved' });
  });

  it('records the data subject of a lawful-basis route, or refuses when it cannot', () => {
    const requirement = {
      lawfulBasis: { basis: 'contract' as const, subject: { param: 'id' } },
    };
    const resolved = authenticated(context(view({ params: { id: 'cust-9' } }), requirement));
    expect(stage.run(resolved)).toBeUndefined();
    expect(resolved.decision).toMatchObject({
      reason: 'lawful_basis',
      lawfulBasis: 'contract',
      dataSubject: 'cust-9',
    });
    const missing = authenticated(context(view(), requirement));
    expect(stage.run(missing)).toMatchObject({ code: 'data_subject_unresolved' });
  });

  it('needs one of the any-of scopes, naming them in the challenge', () => {
    const one = authenticated(context(view(), { anyScopes: ['z', 'b'] }));
    expect(stage.run(one)).toBeUndefined();
    expect(one.scope).toBe('pass');
    const none = authenticated(context(view(), { anyScopes: ['y', 'z'] }));
    const denial = stage.run(none);
    expect(denial).toMatchObject({ code: 'insufficient_scope', status: 403 });
    expect(denial?.headers['www-authenticate']).toContain('scope="y z"');
    expect(none.scope).toBe('fail');
    // All of `scopes` and one of `anyScopes`.
    const both = authenticated(context(view(), { scopes: ['c'], anyScopes: ['a'] }));
    expect(stage.run(both)).toMatchObject({ code: 'insufficient_scope' });
    const anonymous = context(view(), { public: true, anyScopes: ['a'] });
    expect(stage.run(anonymous)).toMatchObject({ code: 'token_missing' });
  });

  it('runs every claim check on the token claims: 403 claim_check_failed', () => {
    const withClaims = (requirement: Requirement, claims: Record<string, unknown>) => {
      const ctx = authenticated(context(view(), requirement));
      ctx.derived = { ...ctx.derived!, principal: { ...ctx.derived!.principal, claims } };
      return stage.run(ctx);
    };
    const tenant: Requirement = { claims: [{ claim: 'tenant', equals: 'acme' }] };
    expect(withClaims(tenant, { tenant: 'acme' })).toBeUndefined();
    const denial = withClaims(tenant, { tenant: 'other' });
    expect(denial).toMatchObject({ code: 'claim_check_failed', status: 403 });
    expect(denial?.headers['www-authenticate']).toBeUndefined();
    expect(withClaims(tenant, {})).toMatchObject({ code: 'claim_check_failed' });
    // Strict: the number 1 is not the string '1'.
    const level: Requirement = { claims: [{ claim: 'level', equals: 1 }] };
    expect(withClaims(level, { level: 1 })).toBeUndefined();
    expect(withClaims(level, { level: '1' })).toMatchObject({ code: 'claim_check_failed' });

    const roles: Requirement = { claims: [{ claim: 'roles', includes: ['admin', 'ops'] }] };
    expect(withClaims(roles, { roles: ['ops', 'admin', 'x'] })).toBeUndefined();
    expect(withClaims(roles, { roles: 'ops admin' })).toBeUndefined();
    expect(withClaims(roles, { roles: ['admin'] })).toMatchObject({ code: 'claim_check_failed' });
    expect(withClaims(roles, { roles: 'administrator ops' })).toMatchObject({
      code: 'claim_check_failed',
    });
    expect(withClaims(roles, { roles: { admin: true, ops: true } })).toMatchObject({
      code: 'claim_check_failed',
    });

    const verified: Requirement = { claims: [{ check: (c) => c.email_verified === true }] };
    expect(withClaims(verified, { email_verified: true })).toBeUndefined();
    expect(withClaims(verified, { email_verified: 'true' })).toMatchObject({
      code: 'claim_check_failed',
    });
    const throwing: Requirement = {
      claims: [
        {
          check: () => {
            throw new Error('boom');
          },
        },
      ],
    };
    expect(withClaims(throwing, {})).toMatchObject({ code: 'claim_check_failed' });
    // Every check must pass.
    const all: Requirement = { claims: [...tenant.claims!, ...roles.claims!] };
    expect(withClaims(all, { tenant: 'acme', roles: ['admin', 'ops'] })).toBeUndefined();
    expect(withClaims(all, { tenant: 'acme', roles: ['admin'] })).toMatchObject({
      code: 'claim_check_failed',
    });
  });

  it('reads claims by their own name only, never from the prototype', () => {
    const ctx = authenticated(
      context(view(), { claims: [{ claim: 'constructor', includes: ['x'] }] }),
    );
    expect(stage.run(ctx)).toMatchObject({ code: 'claim_check_failed' });
    const anonymous = context(view(), { public: true, claims: [{ claim: 'a', equals: 'b' }] });
    expect(stage.run(anonymous)).toMatchObject({ code: 'token_missing' });
  });

  it('on a route step adds to the allow the middleware made', () => {
    const ctx = authenticated(context(view()));
    stage.run(ctx);
    routeStep(ctx, { scopes: ['b'] });
    expect(stage.run(ctx)).toBeUndefined();
    expect(ctx.decision).toMatchObject({ outcome: 'allow', reason: 'authorized' });
    routeStep(ctx, { scopes: ['z'] });
    expect(stage.run(ctx)).toMatchObject({ code: 'insufficient_scope' });
  });
});
