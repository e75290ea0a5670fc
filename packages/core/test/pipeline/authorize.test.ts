import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '@tokenwarden/testing';
import type { ConsentRecord } from '@tokenwarden/core';
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
  ctx.derived = { principal, fingerprint: undefined };
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
