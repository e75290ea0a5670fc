import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  KeySourceError,
  RemoteJwks,
  type KeySourceFetchEvent,
  type RemoteJwksOptions,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { verifyJwt, type JwtVerifyPolicy } from '../../src/verify/jwt';
import { claimsFor, json, newSigner, startProvider, type FakeProvider } from '@tokenwarden/testing';

const ISSUER = 'https://idp.example/';
const AUDIENCE = 'orders-api';

let provider: FakeProvider;
let clock: FakeClock;
let events: KeySourceFetchEvent[];

beforeEach(async () => {
  provider = await startProvider();
  clock = new FakeClock(Date.UTC(2030, 0, 1));
  events = [];
});

afterEach(async () => {
  await provider.close();
});

function jwks(options: Partial<RemoteJwksOptions> = {}): RemoteJwks {
  return new RemoteJwks({
    url: `${provider.origin}/jwks`,
    algorithms: ['RS256', 'ES256'],
    clock,
    timeoutMs: 500,
    onFetch: (event) => events.push(event),
    ...options,
  });
}

function policy(ring: RemoteJwks): JwtVerifyPolicy {
  return {
    ring,
    algorithms: ['RS256', 'ES256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    maxLifetimeMs: 3_600_000,
    clockToleranceMs: 5_000,
    maxClaimLength: 256,
    permissionsClaim: undefined,
  };
}

const hits = () => provider.hits.get('/jwks') ?? 0;

describe('RemoteJwks', () => {
  it('loads the set on first use and verifies RS256 and ES256 tokens with it', async () => {
    const rsa = newSigner('RS256');
    const ec = newSigner('ES256');
    // The EC key carries no alg: it is inferred from its curve.
    provider.route('/jwks', json({ keys: [rsa.jwk(), ec.jwk({ alg: undefined })] }));
    const ring = jwks();
    expect(ring.version).toBe(0);
    for (const signer of [rsa, ec]) {
      const token = signer.sign(claimsFor(ISSUER, AUDIENCE, clock.now()));
      await ring.prepare(signer.kid);
      const result = verifyJwt(token, policy(ring), clock.now());
      expect(result.ok && result.token.kid).toBe(signer.kid);
    }
    expect(hits()).toBe(1);
    expect(ring.version).toBe(1);
    expect(events).toEqual([
      {
        source: 'jwks',
        host: new URL(provider.origin).host,
        outcome: 'ok',
        keys: 2,
        ignored: 0,
        trigger: 'initial',
      },
    ]);
  });

  it('verifies EdDSA tokens with an OKP key (Ed25519) and skips X25519 keys', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const exchange = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'ed-1', use: 'sig' };
    provider.route('/jwks', json({ keys: [jwk, { ...exchange, kid: 'x-1' }] }));
    const ring = jwks({ algorithms: ['EdDSA'] });
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'ed-1' })}.${b64(claimsFor(ISSUER, AUDIENCE, clock.now()))}`;
    const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
    await ring.prepare('ed-1');
    const result = verifyJwt(token, { ...policy(ring), algorithms: ['EdDSA'] }, clock.now());
    expect(result.ok && result.token.kid).toBe('ed-1');
    expect(events[0]).toMatchObject({ keys: 1, ignored: 1 });
  });

  it('re-fetches once on an unknown kid, then not again within the cooldown (flood of random kids)', async () => {
    const first = newSigner('RS256', 'k1');
    provider.route('/jwks', json({ keys: [first.jwk()] }));
    const ring = jwks({ cooldownMs: 30_000 });
    await ring.prepare('k1');
    clock.advance(31_000);
    for (let i = 0; i < 200; i += 1) await ring.prepare(`random-${i}`);
    expect(hits()).toBe(2);
    clock.advance(10_000);
    await ring.prepare('another');
    expect(hits()).toBe(2);
    // The provider rotates: after the cooldown the new kid is found, and the version moves.
    const second = newSigner('RS256', 'k2');
    provider.route('/jwks', json({ keys: [first.jwk(), second.jwk()] }));
    clock.advance(30_000);
    const before = ring.version;
    await ring.prepare('k2');
    expect(hits()).toBe(3);
    expect(ring.select('k2')?.alg).toBe('RS256');
    expect(ring.version).toBe(before + 1);
  });

  it('shares one fetch among concurrent callers', async () => {
    const signer = newSigner('ES256', 'k1');
    provider.route('/jwks', (req, res) => {
      setTimeout(() => json({ keys: [signer.jwk()] })(req, res), 50);
    });
    const ring = jwks();
    await Promise.all(Array.from({ length: 25 }, () => ring.prepare('k1')));
    expect(hits()).toBe(1);
  });

  it('refreshes when older than cacheMaxAgeMs; an unchanged set keeps its version', async () => {
    provider.route('/jwks', json({ keys: [newSigner('RS256', 'k1').jwk()] }));
    const ring = jwks({ cacheMaxAgeMs: 60_000, cooldownMs: 1_000 });
    await ring.prepare('k1');
    const version = ring.version;
    clock.advance(59_000);
    await ring.prepare('k1');
    expect(hits()).toBe(1);
    clock.advance(2_000);
    // The known key answers at once; the refresh runs in the background (load() awaits it).
    await ring.prepare('k1');
    expect(ring.select('k1')).toBeDefined();
    await ring.load();
    expect(hits()).toBe(2);
    expect(ring.version).toBe(version);
    expect(events.map((e) => e.trigger)).toEqual(['initial', 'expired']);
  });

  it('keeps verifying with cached keys while the provider is down, up to maxStaleMs', async () => {
    const signer = newSigner('RS256', 'k1');
    provider.route('/jwks', json({ keys: [signer.jwk()] }));
    const ring = jwks({ cacheMaxAgeMs: 60_000, cooldownMs: 10_000, maxStaleMs: 3_600_000 });
    await ring.prepare('k1');
    provider.route('/jwks', json({ error: 'down' }, 503));
    clock.advance(120_000);
    await ring.prepare('k1');
    expect(ring.select('k1')).toBeDefined();
    await expect(ring.load()).rejects.toMatchObject({ reason: 'HTTP 503' });
    expect(ring.error?.reason).toBe('HTTP 503');
    expect(ring.select('k1')).toBeDefined();
    clock.advance(3_600_000);
    await expect(ring.prepare('k1')).rejects.toMatchObject({
      code: 'key_source_unavailable',
      reason: 'HTTP 503',
    });
    expect(ring.select('k1')).toBeUndefined();
  });

  describe('a provider that is down, slow or serves garbage: bounded, clear error, no crash', () => {
    it('connection refused', async () => {
      const ring = jwks();
      await provider.close();
      const error = await ring.prepare('k1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeySourceError);
      expect((error as KeySourceError).reason).toBe('ECONNREFUSED');
      expect((error as Error).message).toContain('127.0.0.1');
      provider = await startProvider();
    });

    it('no answer within timeoutMs', async () => {
      provider.route('/jwks', () => undefined); // never answers
      const ring = jwks({ timeoutMs: 200 });
      await expect(ring.prepare('k1')).rejects.toMatchObject({ reason: 'timeout' });
    });

    it('a body that trickles in slower than timeoutMs', async () => {
      provider.route('/jwks', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        const timer = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(timer));
      });
      const ring = jwks({ timeoutMs: 300 });
      await expect(ring.prepare('k1')).rejects.toMatchObject({ reason: 'timeout' });
    });

    it.each<[string, (p: FakeProvider) => void, string]>([
      ['HTTP 500', (p) => p.route('/jwks', json('oops', 500)), 'HTTP 500'],
      ['not JSON', (p) => p.route('/jwks', json('<html>login</html>')), 'not JSON'],
      [
        'invalid UTF-8',
        (p) => p.route('/jwks', (_q, r) => r.end(Buffer.from([0x7b, 0xff, 0x7d]))),
        'not JSON',
      ],
      ['a JSON array', (p) => p.route('/jwks', json([1, 2])), 'not a JWK set'],
      ['keys not an array', (p) => p.route('/jwks', json({ keys: 'x' })), 'not a JWK set'],
      [
        'no usable key',
        (p) => p.route('/jwks', json({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })),
        'no usable keys',
      ],
      [
        'a declared body over maxBytes',
        (p) => p.route('/jwks', json({ keys: [], pad: 'x'.repeat(5000) })),
        'too large',
      ],
      [
        'a chunked body over maxBytes',
        (p) =>
          p.route('/jwks', (_q, r) => {
            r.writeHead(200, { 'content-type': 'application/json' });
            for (let i = 0; i < 10; i += 1) r.write('x'.repeat(1000));
            r.end();
          }),
        'too large',
      ],
      [
        'a redirect',
        (p) =>
          p.route('/jwks', (_q, r) =>
            r.writeHead(302, { location: 'https://evil.example/' }).end(),
          ),
        'redirect refused',
      ],
    ])('%s', async (_what, setup, reason) => {
      setup(provider);
      const ring = jwks({ maxBytes: 4096 });
      await expect(ring.prepare('k1')).rejects.toMatchObject({
        name: 'KeySourceError',
        code: 'key_source_unavailable',
        reason,
      });
      expect(events.at(-1)).toMatchObject({ outcome: 'error', reason });
    });

    it('after a failure, waits for the cooldown before asking again', async () => {
      provider.route('/jwks', json('oops', 500));
      const ring = jwks({ cooldownMs: 30_000 });
      for (let i = 0; i < 20; i += 1)
        await expect(ring.prepare('k1')).rejects.toThrow(KeySourceError);
      expect(hits()).toBe(1);
      provider.route('/jwks', json({ keys: [newSigner('RS256', 'k1').jwk()] }));
      clock.advance(30_000);
      await ring.prepare('k1');
      expect(ring.select('k1')).toBeDefined();
    });
  });

  it('skips keys it must not trust, and says how many', async () => {
    const good = newSigner('RS256', 'good');
    const weak = newSigner('RS256', 'weak', 1024);
    const ec = newSigner('ES256', 'ec');
    const p384 = newSigner('ES384', 'p384');
    provider.route(
      '/jwks',
      json({
        keys: [
          good.jwk(),
          good.jwk({ n: weak.jwk().n, e: weak.jwk().e }), // duplicate kid
          weak.jwk(), // RSA under 2048 bits
          ec.jwk({ kid: 'enc', use: 'enc' }),
          ec.jwk({ kid: 'ops', key_ops: ['encrypt'] }),
          ec.jwk({ kid: 'private', d: 'AAAA' }),
          ec.jwk({ kid: 'wrong-alg', alg: 'ES384' }),
          p384.jwk(), // ES384 is not allowed here
          { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA' },
          { kty: 'OKP', kid: 'ed', crv: 'Ed25519', x: 'AAAA' },
          { kty: 'RSA', kid: 'junk', n: 'not-a-modulus', e: 'AQAB', alg: 'RS256' },
          { kid: 'x\u0000y', ...ec.jwk({ kid: undefined }) },
          null,
          'text',
        ],
      }),
    );
    const ring = jwks();
    await ring.prepare('good');
    expect(ring.size).toBe(1);
    expect(ring.select('good')?.alg).toBe('RS256');
    expect(events[0]).toMatchObject({ outcome: 'ok', keys: 1, ignored: 13 });
  });

  it('infers RS* for an RSA key without alg only when exactly one RSA algorithm is allowed', async () => {
    const signer = newSigner('RS256', 'k1');
    provider.route('/jwks', json({ keys: [signer.jwk({ alg: undefined })] }));
    const one = jwks({ algorithms: ['RS256'] });
    await one.prepare('k1');
    expect(one.select('k1')?.alg).toBe('RS256');
    const two = jwks({ algorithms: ['RS256', 'PS256'] });
    await expect(two.prepare('k1')).rejects.toMatchObject({ reason: 'no usable keys' });
  });

  it('a single key without kid verifies tokens without kid', async () => {
    const signer = newSigner('ES256', 'ignored');
    provider.route('/jwks', json({ keys: [signer.jwk({ kid: undefined })] }));
    const ring = jwks();
    await ring.prepare(undefined);
    const token = signer.sign(claimsFor(ISSUER, AUDIENCE, clock.now()), { kid: undefined });
    expect(verifyJwt(token, policy(ring), clock.now()).ok).toBe(true);
    expect(ring.select('other')).toBeUndefined();
  });

  it('load() warms the cache and reports a failure', async () => {
    provider.route('/jwks', json({ keys: [newSigner('RS256', 'k1').jwk()] }));
    const ring = jwks();
    await ring.load();
    expect(ring.size).toBe(1);
    const down = new RemoteJwks({
      url: `${provider.origin}/missing`,
      algorithms: ['RS256'],
      clock,
    });
    await expect(down.load()).rejects.toMatchObject({ reason: 'HTTP 404' });
  });

  it.each<[string, Partial<RemoteJwksOptions>]>([
    ['plain http to another host', { url: 'http://idp.example/jwks' }],
    ['a relative URL', { url: '/jwks' }],
    ['a URL with a password', { url: 'https://user:pw@idp.example/jwks' }],
    ['an HMAC algorithm', { algorithms: ['HS256'] }],
    ['no algorithms', { algorithms: [] }],
    ['a cooldown longer than the cache age', { cooldownMs: 20_000, cacheMaxAgeMs: 10_000 }],
    ['a zero timeout', { timeoutMs: 0 }],
  ])('refuses %s at start-up', (_what, options) => {
    expect(() => jwks(options)).toThrow(ConfigError);
  });

  it('a ConfigError never echoes a password from the URL', () => {
    try {
      jwks({ url: 'https://user:hunter2@idp.example/jwks' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    expect.assertions(1);
  });
});
