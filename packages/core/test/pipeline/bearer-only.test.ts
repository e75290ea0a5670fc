import { describe, expect, it } from '@jest/globals';
import type { RequestContext } from '../../src/pipeline/context';
import { BearerOnlyStage } from '../../src/pipeline/stages/bearer-only';
import { view } from '../support';
import { context, denials } from './support';

const stage = new BearerOnlyStage(denials);
const JKT = 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg';

/** A context whose token was verified, with these claims. */
function verified(claims: Readonly<Record<string, unknown>>): RequestContext {
  const ctx = context(view({ headers: { authorization: 'Bearer copied.access.token' } }));
  ctx.token = 'copied.access.token';
  ctx.verified = {
    tokenId: 'jti-1',
    subject: 'user-1',
    client: undefined,
    issuer: 'https://issuer.test/',
    scopes: ['orders:read'],
    issuedAt: Date.now() - 1_000,
    expiresAt: Date.now() + 60_000,
    kid: undefined,
    claims,
  };
  // As the authenticate stage leaves it: what is derived once per verified token.
  ctx.derived = {
    principal: { ...ctx.verified, client: undefined },
    fingerprint: undefined,
    keyBound: undefined,
  };
  return ctx;
}

describe('BearerOnlyStage alone (a warden without the dpop option)', () => {
  it('refuses a DPoP-bound token (cnf.jkt) sent as a plain Bearer token: dpop_required', () => {
    const denial = stage.run(verified({ sub: 'user-1', cnf: { jkt: JKT } }));
    expect(denial).toMatchObject({ outcome: 'deny', status: 401, code: 'dpop_required' });
    expect(denial?.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="invalid_token", error_description="This route requires a DPoP-bound access token"',
    );
  });

  it.each([
    ['a cnf that is a string', 'bound'],
    ['a cnf that is null', null],
    ['a cnf that is a list', [JKT]],
    ['a cnf.jkt that is malformed', { jkt: 42 }],
  ])('refuses a token with %s (a confirmation it cannot check)', (_name, cnf) => {
    expect(stage.run(verified({ cnf }))).toMatchObject({ code: 'dpop_required' });
  });

  it('lets a token without cnf.jkt through, synchronously', () => {
    expect(stage.run(verified({ sub: 'user-1' }))).toBeUndefined();
    // A confirmation of another kind (an mTLS certificate, RFC 8705) is not a DPoP binding.
    expect(
      stage.run(verified({ cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } })),
    ).toBeUndefined();
  });

  it('has nothing to check without a verified token (a public route called anonymously)', () => {
    expect(stage.run(context(view()))).toBeUndefined();
  });
});
