import { afterAll, describe, expect, it } from '@jest/globals';
import { DpopVerifier } from '@tokenwarden/core';
import { dpopClientKey, dpopProof } from '@tokenwarden/testing';
import type { RequestContext } from '../../src/pipeline/context';
import { DpopStage } from '../../src/pipeline/stages/dpop';
import { view } from '../support';
import { context, denials, routeStep } from './support';

const ORIGIN = 'https://api.example.com';
const verifier = new DpopVerifier({});
const stage = new DpopStage(verifier, ORIGIN, denials, () => undefined);
const key = dpopClientKey();
afterAll(() => verifier.close());

function bound(ctx: RequestContext, token: string, cnf?: string): RequestContext {
  ctx.token = token;
  ctx.verified = {
    tokenId: 'jti-1',
    subject: 'user-1',
    client: undefined,
    issuer: 'https://issuer.test/',
    scopes: [],
    issuedAt: Date.now() - 1_000,
    expiresAt: Date.now() + 60_000,
    kid: undefined,
    claims: cnf === undefined ? {} : { cnf: { jkt: cnf } },
  };
  return ctx;
}

describe('DpopStage alone', () => {
  it('binds a DPoP token to a valid proof of its key', async () => {
    const token = 'at.for.dpop';
    const proof = dpopProof(key, { htm: 'GET', htu: `${ORIGIN}/orders`, accessToken: token });
    const ctx = bound(
      context(view({ path: '/orders', headers: { dpop: proof, authorization: `DPoP ${token}` } })),
      token,
      key.jkt,
    );
    ctx.scheme = 'dpop';
    expect(await stage.run(ctx)).toBeUndefined();
    expect(ctx.dpopBound).toBe(true);
    expect(ctx.dpop).toBe('dpop');
  });

  it('refuses a proof for another URL, with a DPoP challenge', async () => {
    const token = 'at.for.dpop';
    const proof = dpopProof(key, { htm: 'GET', htu: `${ORIGIN}/elsewhere`, accessToken: token });
    const ctx = bound(context(view({ path: '/orders', headers: { dpop: proof } })), token, key.jkt);
    ctx.scheme = 'dpop';
    const denial = await stage.run(ctx);
    expect(denial).toMatchObject({ code: 'dpop_proof_invalid', status: 401 });
    expect(denial?.headers['www-authenticate']).toMatch(/^DPoP /);
    expect(ctx.dpop).toBe('fail');
  });

  it('lets a plain Bearer token through in allowed mode, but not on a route requiring DPoP', async () => {
    const ctx = bound(context(view()), 'plain.bearer.token');
    expect(await stage.run(ctx)).toBeUndefined();
    expect(ctx.dpop).toBe('bearer');
    routeStep(ctx, { dpop: 'required' });
    expect(await stage.run(ctx)).toMatchObject({ code: 'dpop_required' });
  });

  it('does nothing for an anonymous request', () => {
    expect(stage.run(context(view()))).toBeUndefined();
  });
});
