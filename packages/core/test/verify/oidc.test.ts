import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  TrustedIssuers,
  type KeySourceFetchEvent,
  type TrustedIssuerOptions,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import {
  claimsFor,
  json,
  newSigner,
  startProvider,
  type FakeProvider,
  type Signer,
} from '@tokenwarden/testing';

let provider: FakeProvider;
let clock: FakeClock;
let issuerA: string;
let issuerB: string;
let keyA: Signer;
let keyB: Signer;
let fetches: [string, KeySourceFetchEvent][];

/** Serves discovery and JWKS for one issuer path of the provider. */
function serveIssuer(
  path: string,
  signers: Signer[],
  metadata: Record<string, unknown> = {},
): void {
  const issuer = `${provider.origin}${path}`;
  provider.route(
    `${path}/.well-known/openid-configuration`,
    json({ issuer, jwks_uri: `${issuer}/jwks`, ...metadata }),
  );
  provider.route(`${path}/jwks`, json({ keys: signers.map((s) => s.jwk()) }));
}

beforeEach(async () => {
  provider = await startProvider();
  clock = new FakeClock(Date.UTC(2030, 0, 1));
  issuerA = `${provider.origin}/realms/a`;
  issuerB = `${provider.origin}/realms/b`;
  keyA = newSigner('RS256', 'shared-kid');
  keyB = newSigner('ES256', 'shared-kid');
  serveIssuer('/realms/a', [keyA]);
  serveIssuer('/realms/b', [keyB]);
  fetches = [];
});

afterEach(async () => {
  await provider.close();
});

function issuers(extra: Partial<TrustedIssuerOptions>[] = []): TrustedIssuers {
  return new TrustedIssuers({
    issuers: [
      { issuer: issuerA, audience: 'api-a', algorithms: ['RS256'], ...extra[0] },
      { issuer: issuerB, audience: ['api-b', 'api-b2'], algorithms: ['ES256'], ...extra[1] },
    ],
    clock,
    keySource: { timeoutMs: 500 },
    onFetch: (issuer, event) => fetches.push([issuer, event]),
  });
}

const hits = (path: string) => provider.hits.get(path) ?? 0;

describe('TrustedIssuers with OpenID discovery', () => {
  it('verifies tokens of each issuer with its own keys and audience', async () => {
    const trusted = issuers();
    const a = await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())));
    expect(a.ok && a.token.issuer).toBe(issuerA);
    const b = await trusted.verify(keyB.sign(claimsFor(issuerB, 'api-b2', clock.now())));
    expect(b.ok && b.token.issuer).toBe(issuerB);
    // Discovery happens once per issuer, however many tokens follow.
    for (let i = 0; i < 5; i += 1) {
      await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())));
    }
    expect(hits('/realms/a/.well-known/openid-configuration')).toBe(1);
    expect(hits('/realms/a/jwks')).toBe(1);
    expect(fetches.map(([issuer, e]) => [issuer, e.source, e.outcome])).toEqual([
      [issuerA, 'discovery', 'ok'],
      [issuerA, 'jwks', 'ok'],
      [issuerB, 'discovery', 'ok'],
      [issuerB, 'jwks', 'ok'],
    ]);
  });

  it("never accepts one issuer's key for another, even under the same kid", async () => {
    const trusted = issuers();
    // iss says A, but B's key signed it (B's kid is the same string as A's).
    const forged = await trusted.verify(
      keyB.sign(claimsFor(issuerA, 'api-a', clock.now()), { alg: 'ES256' }),
    );
    expect(forged).toMatchObject({ ok: false, failure: { code: 'algorithm_not_allowed' } });
    // Same algorithm family: A's kid, another RSA key.
    const rogue = newSigner('RS256', 'shared-kid');
    const wrongKey = await trusted.verify(rogue.sign(claimsFor(issuerA, 'api-a', clock.now())));
    expect(wrongKey).toMatchObject({ ok: false, failure: { code: 'invalid_signature' } });
    // A kid only B publishes, on a token claiming to come from A.
    const onlyB = newSigner('ES256', 'only-b');
    serveIssuer('/realms/b', [keyB, onlyB]);
    const crossKid = await trusted.verify(onlyB.sign(claimsFor(issuerA, 'api-a', clock.now())));
    expect(crossKid.ok).toBe(false);
  });

  it("refuses another issuer's audience", async () => {
    const trusted = issuers();
    const result = await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-b', clock.now())));
    expect(result).toMatchObject({ ok: false, failure: { code: 'audience_invalid' } });
  });

  it('refuses an issuer that is not configured without fetching anything', async () => {
    const trusted = issuers();
    const result = await trusted.verify(
      keyA.sign(claimsFor(`${provider.origin}/realms/evil`, 'api-a', clock.now())),
    );
    expect(result).toMatchObject({ ok: false, failure: { code: 'issuer_invalid' } });
    expect([...provider.hits.values()].reduce((a, b) => a + b, 0)).toBe(0);
    const noIss = await trusted.verify(
      keyA.sign({ ...claimsFor(issuerA, 'api-a', clock.now()), iss: undefined }),
    );
    expect(noIss).toMatchObject({ ok: false, failure: { code: 'issuer_invalid' } });
    expect(await trusted.verify('not.a.jwt')).toMatchObject({
      ok: false,
      failure: { code: 'token_malformed' },
    });
  });

  it('refuses a discovery document whose issuer differs from the configured one', async () => {
    serveIssuer('/realms/a', [keyA], { issuer: `${provider.origin}/realms/other` });
    const trusted = issuers();
    const result = await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())));
    expect(result).toMatchObject({
      ok: false,
      failure: {
        code: 'key_source_unavailable',
        detail: 'the keys of a trusted issuer could not be read',
        reason: expect.stringContaining('issuer mismatch'),
      },
    });
    expect(hits('/realms/a/jwks')).toBe(0);
  });

  it.each<[string, () => void, string]>([
    [
      'down',
      () => provider.route('/realms/a/.well-known/openid-configuration', json('', 503)),
      'HTTP 503',
    ],
    [
      'slow',
      () => provider.route('/realms/a/.well-known/openid-configuration', () => undefined),
      'timeout',
    ],
    [
      'garbage',
      () => provider.route('/realms/a/.well-known/openid-configuration', json('{"issuer":')),
      'not JSON',
    ],
    [
      'naming a plain-http jwks_uri elsewhere',
      () =>
        provider.route(
          '/realms/a/.well-known/openid-configuration',
          json({ issuer: issuerA, jwks_uri: 'http://keys.example/jwks' }),
        ),
      'bad jwks_uri',
    ],
    [
      'without jwks_uri',
      () => provider.route('/realms/a/.well-known/openid-configuration', json({ issuer: issuerA })),
      'no jwks_uri',
    ],
  ])(
    'a discovery endpoint that is %s: a clear failure, the other issuer unaffected',
    async (_what, setup, reason) => {
      setup();
      const trusted = issuers();
      const a = await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())));
      expect(a).toMatchObject({
        ok: false,
        failure: {
          code: 'key_source_unavailable',
          // The reason is for logs; the detail, sent to clients, stays fixed.
          detail: 'the keys of a trusted issuer could not be read',
          reason: expect.stringContaining(reason),
        },
      });
      const b = await trusted.verify(keyB.sign(claimsFor(issuerB, 'api-b', clock.now())));
      expect(b.ok).toBe(true);
      // Retried at most once per cooldown.
      for (let i = 0; i < 10; i += 1) {
        await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())));
      }
      expect(hits('/realms/a/.well-known/openid-configuration')).toBe(1);
    },
  );

  it('recovers once the provider is back and the cooldown has passed', async () => {
    provider.route('/realms/a/.well-known/openid-configuration', json('', 503));
    const trusted = issuers();
    const token = () => keyA.sign(claimsFor(issuerA, 'api-a', clock.now()));
    expect((await trusted.verify(token())).ok).toBe(false);
    serveIssuer('/realms/a', [keyA]);
    clock.advance(30_000);
    expect((await trusted.verify(token())).ok).toBe(true);
  });

  it('load() reports every issuer without throwing', async () => {
    provider.route('/realms/b/jwks', json('', 500));
    const trusted = issuers();
    expect(await trusted.load()).toEqual([
      { issuer: issuerA, ok: true },
      { issuer: issuerB, ok: false, reason: 'HTTP 500' },
    ]);
  });

  it('version moves when an issuer’s key set changes', async () => {
    const trusted = issuers([{}, { keySource: { cooldownMs: 1_000 } }]);
    expect(trusted.version).toBe(0);
    await trusted.load();
    const loaded = trusted.version;
    expect(loaded).toBe(2);
    const next = newSigner('ES256', 'next');
    serveIssuer('/realms/b', [keyB, next]);
    clock.advance(1_000);
    expect((await trusted.verify(next.sign(claimsFor(issuerB, 'api-b', clock.now())))).ok).toBe(
      true,
    );
    expect(trusted.version).toBe(loaded + 1);
  });
});

describe('TrustedIssuers with a JWKS URL or static keys', () => {
  it('reads a JWKS URL directly, without discovery', async () => {
    const trusted = new TrustedIssuers({
      issuers: [
        {
          issuer: 'https://idp.example/',
          audience: 'api',
          algorithms: ['RS256'],
          jwksUri: `${provider.origin}/realms/a/jwks`,
        },
      ],
      clock,
    });
    const result = await trusted.verify(
      keyA.sign(claimsFor('https://idp.example/', 'api', clock.now())),
    );
    expect(result.ok).toBe(true);
    expect(hits('/realms/a/.well-known/openid-configuration')).toBe(0);
  });

  it('mixes static keys (including HMAC) with remote ones', async () => {
    const secret = randomBytes(32);
    const trusted = new TrustedIssuers({
      issuers: [
        {
          issuer: 'internal',
          audience: 'api',
          algorithms: ['HS256'],
          keys: [{ kid: 'h1', alg: 'HS256', key: secret }],
        },
        { issuer: issuerA, audience: 'api-a', algorithms: ['RS256'] },
      ],
      clock,
    });
    const jwt = (await import('jsonwebtoken')).default;
    const internal = jwt.sign(claimsFor('internal', 'api', clock.now()), secret, {
      algorithm: 'HS256',
      keyid: 'h1',
    });
    expect((await trusted.verify(internal)).ok).toBe(true);
    expect((await trusted.verify(keyA.sign(claimsFor(issuerA, 'api-a', clock.now())))).ok).toBe(
      true,
    );
    // An HMAC token claiming the remote issuer is refused: that issuer allows RS256 only.
    const hmacAsA = jwt.sign(claimsFor(issuerA, 'api-a', clock.now()), secret, {
      algorithm: 'HS256',
      keyid: 'shared-kid',
    });
    expect(await trusted.verify(hmacAsA)).toMatchObject({
      ok: false,
      failure: { code: 'algorithm_not_allowed' },
    });
  });

  it("refuses another kind of JWT signed by an issuer's key (typ logout+jwt), as for own tokens", async () => {
    const secret = randomBytes(32);
    const trusted = new TrustedIssuers({
      issuers: [
        {
          issuer: 'internal',
          audience: 'api',
          algorithms: ['HS256'],
          keys: [{ kid: 'h1', alg: 'HS256', key: secret }],
        },
      ],
      clock,
    });
    const jwt = (await import('jsonwebtoken')).default;
    const sign = (typ: string) =>
      jwt.sign(claimsFor('internal', 'api', clock.now()), secret, {
        algorithm: 'HS256',
        keyid: 'h1',
        header: { alg: 'HS256', typ },
      });
    expect((await trusted.verify(sign('at+jwt'))).ok).toBe(true);
    expect(await trusted.verify(sign('logout+jwt'))).toEqual({
      ok: false,
      failure: { code: 'token_malformed', detail: 'typ names another kind of token' },
    });
  });

  it.each<[string, TrustedIssuerOptions[]]>([
    ['no issuers', []],
    [
      'a duplicate issuer',
      [
        { issuer: 'https://a/', audience: 'x', algorithms: ['RS256'] },
        { issuer: 'https://a/', audience: 'y', algorithms: ['RS256'] },
      ],
    ],
    ['a missing audience', [{ issuer: 'https://a/', audience: [], algorithms: ['RS256'] }]],
    ['no algorithms', [{ issuer: 'https://a/', audience: 'x', algorithms: [] }]],
    ['HMAC with discovery', [{ issuer: 'https://a/', audience: 'x', algorithms: ['HS256'] }]],
    [
      'both keys and jwksUri',
      [
        {
          issuer: 'https://a/',
          audience: 'x',
          algorithms: ['RS256'],
          jwksUri: 'https://a/jwks',
          keys: [],
        },
      ],
    ],
    [
      'discovery off without keys',
      [{ issuer: 'https://a/', audience: 'x', algorithms: ['RS256'], discovery: false }],
    ],
    [
      'a plain-http issuer to discover',
      [{ issuer: 'http://a.example/', audience: 'x', algorithms: ['RS256'] }],
    ],
    [
      'bad tuning',
      [
        {
          issuer: 'https://a/',
          audience: 'x',
          algorithms: ['RS256'],
          keySource: { timeoutMs: -1 },
        },
      ],
    ],
  ])('refuses %s at start-up', (_what, list) => {
    expect(() => new TrustedIssuers({ issuers: list })).toThrow(ConfigError);
  });
});
