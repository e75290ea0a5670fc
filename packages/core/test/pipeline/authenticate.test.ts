import { describe, expect, it } from '@jest/globals';
import type { KeyResolver } from '@tokenwarden/core';
import { mintToken, testJwtOptions, testKeys } from '@tokenwarden/testing';
import { systemClock } from '../../src/internal/clock';
import { resolveOptions } from '../../src/options/resolve';
import type { TokenDerived } from '../../src/pipeline/context';
import { AuthenticateStage, type AuthenticateParts } from '../../src/pipeline/stages/authenticate';
import { VerifiedTokenCache } from '../../src/verify/token-cache';
import { view } from '../support';
import { context, denials } from './support';

function stage(overrides: Partial<AuthenticateParts> = {}): AuthenticateStage {
  return new AuthenticateStage({
    clock: systemClock,
    denials,
    tokenCache: new VerifiedTokenCache<TokenDerived>(100, { version: 0 }),
    jwt: resolveOptions({ jwt: testJwtOptions() }).jwt,
    issuers: undefined,
    apiKeys: undefined,
    logError: () => {
      throw new Error('nothing to log here');
    },
    ...overrides,
  });
}

function withToken(token: string) {
  const ctx = context(view());
  ctx.token = token;
  return ctx;
}

describe('AuthenticateStage alone', () => {
  it('verifies a JWT, derives the principal once and caches it', () => {
    const authenticate = stage();
    const token = mintToken({ claims: { sub: 'user-7', scope: 'a b' } });
    const first = withToken(token);
    expect(authenticate.run(first)).toBeUndefined();
    expect(first.tokenCache).toBe('miss');
    expect(first.verified).toMatchObject({ subject: 'user-7', scopes: ['a', 'b'] });
    expect(first.derived?.principal).toMatchObject({ subject: 'user-7', scopes: ['a', 'b'] });
    const second = withToken(token);
    expect(authenticate.run(second)).toBeUndefined();
    expect(second.tokenCache).toBe('hit');
    // The same derived object: the principal and the fingerprint are computed once per token.
    expect(second.derived).toBe(first.derived);
  });

  it('refuses a bad signature without caching anything', () => {
    const authenticate = stage();
    const token = mintToken();
    const tampered = `${token.slice(0, -4)}AAAA`;
    const ctx = withToken(tampered);
    expect(authenticate.run(ctx)).toMatchObject({ code: 'invalid_signature', status: 401 });
    expect(ctx.verified).toBeUndefined();
    expect(ctx.tokenCache).toBeUndefined();
  });

  it('refuses an expired token', () => {
    const ctx = withToken(mintToken({ now: Date.now() - 3_600_000, lifetimeSeconds: 60 }));
    expect(stage().run(ctx)).toMatchObject({ code: 'token_expired' });
  });

  it('does nothing for an anonymous request', () => {
    const ctx = context(view());
    expect(stage().run(ctx)).toBeUndefined();
    expect(ctx.verified).toBeUndefined();
  });

  it('looks an API key up by hash, answering later, and refuses an unknown one', async () => {
    const lookups: string[] = [];
    const authenticate = stage({
      apiKeys: {
        store: {
          findApiKey: async (hash: string) => {
            lookups.push(hash);
            return undefined;
          },
        },
      },
    });
    const key = `twk_live_${'A'.repeat(32)}_000000`;
    const ctx = withToken(key);
    const outcome = authenticate.run(ctx);
    // A key-shaped credential that fails its checksum is refused without a look-up.
    expect(outcome instanceof Promise ? await outcome : outcome).toMatchObject({ status: 401 });
    expect(lookups.every((hash) => !hash.includes(key))).toBe(true);
  });

  it('refuses with the failed check as the detail', () => {
    const ctx = withToken(mintToken({ claims: { jti: undefined } }));
    expect(stage().run(ctx)).toMatchObject({
      code: 'token_claims_invalid',
      detail: 'jti missing (requireTokenId: false accepts tokens without one)',
      body: { detail: 'jti missing (requireTokenId: false accepts tokens without one)' },
    });
  });
});

describe('AuthenticateStage with a key resolver', () => {
  const options = testJwtOptions();
  const withResolver = (
    resolve: KeyResolver['resolve'],
    logError: AuthenticateParts['logError'] = () => undefined,
  ) =>
    stage({
      jwt: resolveOptions({ jwt: { ...options, keys: { resolve } } }).jwt,
      logError,
    });

  it('waits for a key not cached yet, then stays synchronous for that key', async () => {
    const calls: string[] = [];
    const authenticate = withResolver(async (kid, alg) => {
      calls.push(`${alg}:${String(kid)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return testKeys().rs256.publicKey;
    });
    const first = withToken(mintToken({ alg: 'RS256', claims: { sub: 'a' } }));
    const outcome = authenticate.run(first);
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toBeUndefined();
    expect(first.verified?.subject).toBe('a');
    // Another token with the same key: verified now, without a promise.
    const second = withToken(mintToken({ alg: 'RS256', claims: { sub: 'b' } }));
    expect(authenticate.run(second)).toBeUndefined();
    expect(second.tokenCache).toBe('miss');
    expect(calls).toEqual(['RS256:rs-1']);
  });

  it('answers key_source_unavailable and logs when the resolver throws', async () => {
    const logged: unknown[] = [];
    const authenticate = withResolver(
      () => Promise.reject(new Error('vault sealed')),
      (message, error) => void logged.push([message, String(error)]),
    );
    const ctx = withToken(mintToken({ alg: 'RS256' }));
    expect(await authenticate.run(ctx)).toMatchObject({
      status: 503,
      code: 'key_source_unavailable',
      detail: 'the key source could not answer',
    });
    expect(logged).toEqual([['the verification keys could not be read', 'Error: vault sealed']]);
  });
});
