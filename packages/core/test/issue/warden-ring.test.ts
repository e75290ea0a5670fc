import { describe, expect, it } from '@jest/globals';
import {
  createWarden,
  MemorySigningKeyStore,
  SigningKeyRing,
  TokenIssuer,
  type RequestView,
} from '@tokenwarden/core';
import { FakeClock } from '@tokenwarden/testing';

function bearer(token: string): RequestView {
  return {
    method: 'GET',
    path: '/x',
    url: '/x',
    headerValues: (name) => (name === 'authorization' ? [`Bearer ${token}`] : undefined),
  };
}

describe('a warden verifying through a rotating SigningKeyRing', () => {
  it('accepts tokens of the active and the previous key, and refuses a retired key at once, cached or not', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 28, 8));
    const ring = new SigningKeyRing({
      store: new MemorySigningKeyStore(),
      algorithm: 'ES256',
      maxTokenLifetimeMs: 600_000,
      clockToleranceMs: 5_000,
      activationDelayMs: 10_000,
      refreshIntervalMs: 10_000,
      clock,
    });
    await ring.start();
    const issuer = new TokenIssuer({
      issuer: 'https://issuer.test/',
      audience: 'api',
      keys: ring,
      clients: { app: { scopes: ['read'] } },
      clock,
    });
    const warden = createWarden({
      jwt: { algorithms: ['ES256'], keys: ring, issuer: 'https://issuer.test/', audience: 'api' },
      clock,
      metrics: false,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const old = issuer.issue({ client: 'app', lifetimeMs: 300_000 }).token;
    clock.advance(2_000);
    expect((await warden.check(bearer(old))).outcome).toBe('allow');

    await ring.rotate({ immediate: true });
    clock.advance(2_000);
    const fresh = issuer.issue({ client: 'app', lifetimeMs: 300_000 }).token;
    clock.advance(2_000);
    expect((await warden.check(bearer(fresh))).outcome).toBe('allow');
    // The previous key still verifies its tokens (served from the token cache or not).
    expect((await warden.check(bearer(old))).outcome).toBe('allow');

    // Past every token the old key signed, it retires; the ring's version changes, so the
    // verified-token cache cannot keep honouring its tokens.
    const before = ring.version;
    clock.advance(620_000);
    await ring.maintain();
    expect(ring.version).toBeGreaterThan(before);
    const late = await warden.check(bearer(old));
    expect(late.outcome).toBe('deny');
    expect((await warden.check(bearer(fresh))).outcome).toBe('deny');
    const current = issuer.issue({ client: 'app', lifetimeMs: 300_000 }).token;
    clock.advance(1_000);
    expect((await warden.check(bearer(current))).outcome).toBe('allow');
    await warden.close();
    await ring.close();
  });

  it('signs and verifies with EdDSA (Ed25519): JWKS publishes OKP keys, rotation keeps old tokens valid', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 28, 8));
    const ring = new SigningKeyRing({
      store: new MemorySigningKeyStore(),
      algorithm: 'EdDSA',
      maxTokenLifetimeMs: 600_000,
      activationDelayMs: 10_000,
      refreshIntervalMs: 10_000,
      clock,
    });
    await ring.start();
    const issuer = new TokenIssuer({
      issuer: 'https://issuer.test/',
      audience: 'api',
      keys: ring,
      clients: { app: { scopes: ['read'] } },
      clock,
    });
    const warden = createWarden({
      jwt: { algorithms: ['EdDSA'], keys: ring, issuer: 'https://issuer.test/', audience: 'api' },
      clock,
      metrics: false,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const issued = issuer.issue({ client: 'app', lifetimeMs: 300_000 });
    const header = JSON.parse(Buffer.from(issued.token.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: issued.kid });
    expect(Buffer.from(issued.token.split('.')[2]!, 'base64url')).toHaveLength(64);
    clock.advance(1_000);
    const allowed = await warden.check(bearer(issued.token));
    expect(allowed).toMatchObject({ outcome: 'allow', principal: { scopes: ['read'] } });
    expect(ring.jwks().keys).toEqual([
      {
        kty: 'OKP',
        crv: 'Ed25519',
        kid: issued.kid,
        alg: 'EdDSA',
        use: 'sig',
        x: expect.any(String),
      },
    ]);

    // A tampered payload fails the signature.
    const [h, , sig] = issued.token.split('.');
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(issued.token.split('.')[1]!, 'base64url').toString()),
        scope: 'admin',
      }),
    ).toString('base64url');
    expect(await warden.check(bearer(`${h}.${forged}.${sig}`))).toMatchObject({
      outcome: 'deny',
      code: 'invalid_signature',
    });

    await ring.rotate({ immediate: true });
    clock.advance(1_000);
    const fresh = issuer.issue({ client: 'app', lifetimeMs: 300_000 });
    expect(fresh.kid).not.toBe(issued.kid);
    expect(ring.jwks().keys.map((k) => k.kty)).toEqual(['OKP', 'OKP']);
    expect((await warden.check(bearer(fresh.token))).outcome).toBe('allow');
    expect((await warden.check(bearer(issued.token))).outcome).toBe('allow');
    await warden.close();
    await ring.close();
  });
});
