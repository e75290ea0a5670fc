import {
  constants,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  accessTokenHash,
  ConfigError,
  DPOP_AUTHORIZATION,
  DpopNonces,
  DpopVerifier,
  jwkThumbprint,
  MemoryReplayCache,
  normalizeHtu,
  verifyDpopProof,
  type DpopAlgorithm,
  type DpopCheckInput,
  type DpopOptions,
  type ReplayCache,
} from '@tokenwarden/core/internal';
import { FakeClock, keyPair } from '@tokenwarden/testing';

// RFC 9449 examples: the ES256 key of §4.1, its thumbprint (§6.1), the access token and ath of
// §7.1, and two proofs signed by that key (Figure 3 for the token endpoint, the resource
// request of §7.1). They verify under the RFC's public key, so they are the RFC's own bytes.
const RFC_JWK = {
  kty: 'EC',
  x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
  y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
  crv: 'P-256',
};
const RFC_JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
const RFC_ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const RFC_ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo';
const RFC_TOKEN_REQUEST_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg';
const RFC_RESOURCE_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA';
const RFC_RESOURCE = 'https://resource.example.org/protectedresource';
const RFC_RESOURCE_IAT_MS = 1562262618_000;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A client key pair that signs proofs. */
interface ClientKey {
  readonly alg: DpopAlgorithm;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
  readonly jkt: string;
}

function clientKey(alg: DpopAlgorithm = 'ES256', bits = 2048): ClientKey {
  const pair =
    alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : alg.startsWith('ES')
        ? generateKeyPairSync('ec', {
            namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'],
          })
        : keyPair('rsa', { modulusLength: bits });
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { alg, privateKey: pair.privateKey, jwk, jkt: jwkThumbprint(jwk)! };
}

function signWith(key: ClientKey, alg: string, input: string): Buffer {
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2) || '256'}`;
  if (alg === 'EdDSA') return sign(null, data, key.privateKey);
  if (alg.startsWith('ES'))
    return sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  if (alg.startsWith('PS')) {
    return sign(hash, data, {
      key: key.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(alg.slice(2)) / 8,
    });
  }
  return sign(hash, data, key.privateKey);
}

/** Builds a proof; `header` and `claims` override the defaults (undefined removes a member). */
function proof(
  key: ClientKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  signer: ClientKey = key,
): string {
  const h = b64(strip({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header }));
  const p = b64(
    strip({ jti: randomUUID(), htm: 'GET', htu: URL_, iat: Math.floor(NOW / 1000), ...claims }),
  );
  return `${h}.${p}.${signWith(signer, String(header.alg ?? key.alg), `${h}.${p}`).toString('base64url')}`;
}

function strip(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

const NOW = Date.UTC(2030, 0, 1);
const URL_ = 'https://api.example.com/orders/7';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln';

function setup(options: DpopOptions = {}) {
  const clock = new FakeClock(NOW);
  const verifier = new DpopVerifier({ clock, ...options });
  const key = clientKey('ES256');
  const input = (
    p: string | string[] | undefined,
    extra: Partial<DpopCheckInput> = {},
  ): DpopCheckInput => ({
    scheme: 'dpop',
    accessToken: TOKEN,
    claims: { cnf: { jkt: key.jkt } },
    proofs: p === undefined ? undefined : Array.isArray(p) ? p : [p],
    method: 'GET',
    url: URL_,
    ...extra,
  });
  const withAth = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    proof(key, { ath: accessTokenHash(TOKEN), ...claims }, header);
  return { clock, verifier, key, input, withAth };
}

describe('RFC 9449 examples', () => {
  it('the thumbprint and ath of the RFC examples', () => {
    expect(jwkThumbprint(RFC_JWK)).toBe(RFC_JKT);
    expect(accessTokenHash(RFC_ACCESS_TOKEN)).toBe(RFC_ATH);
  });

  it('verifies the token-request proof of §4.1', () => {
    const result = verifyDpopProof({
      proof: RFC_TOKEN_REQUEST_PROOF,
      method: 'POST',
      url: 'https://server.example.com/token',
      algorithms: ['ES256'],
      maxAgeMs: 60_000,
      clockToleranceMs: 0,
      maxProofBytes: 8192,
      nowMs: 1562262616_000,
    });
    expect(result).toEqual({
      ok: true,
      proof: { jti: '-BwC3ESc6acc2lTc', issuedAt: 1562262616_000, jkt: RFC_JKT, alg: 'ES256' },
    });
  });

  const resource = (overrides: Partial<Parameters<typeof verifyDpopProof>[0]> = {}) =>
    verifyDpopProof({
      proof: RFC_RESOURCE_PROOF,
      method: 'GET',
      url: RFC_RESOURCE,
      accessToken: RFC_ACCESS_TOKEN,
      algorithms: ['ES256'],
      maxAgeMs: 300_000,
      clockToleranceMs: 5_000,
      maxProofBytes: 8192,
      nowMs: RFC_RESOURCE_IAT_MS,
      ...overrides,
    });

  it('verifies the resource request proof of §7.1, with its ath', () => {
    expect(resource()).toMatchObject({
      ok: true,
      proof: { jti: 'e1j3V_bKic8-LAEB', jkt: RFC_JKT },
    });
    // htu ignores the query and fragment, and compares scheme and host case-insensitively.
    expect(resource({ url: 'HTTPS://Resource.Example.org:443/protectedresource?x=1#f' }).ok).toBe(
      true,
    );
  });

  it.each<[string, Partial<Parameters<typeof verifyDpopProof>[0]>, string]>([
    ['another access token', { accessToken: 'other-token' }, 'ath mismatch'],
    ['another method', { method: 'POST' }, 'htm mismatch'],
    ['another path', { url: 'https://resource.example.org/other' }, 'htu mismatch'],
    ['another host', { url: 'https://evil.example.org/protectedresource' }, 'htu mismatch'],
    ['another scheme', { url: 'http://resource.example.org/protectedresource' }, 'htu mismatch'],
    ['a later time', { nowMs: RFC_RESOURCE_IAT_MS + 300_001 }, 'proof too old'],
    ['an earlier time', { nowMs: RFC_RESOURCE_IAT_MS - 5_001 }, 'iat in the future'],
    ['an algorithm list without ES256', { algorithms: ['RS256'] }, 'alg not allowed'],
    ['a small size cap', { maxProofBytes: 100 }, 'proof above the size cap'],
  ])('refuses the same proof for %s', (_what, overrides, detail) => {
    expect(resource(overrides)).toEqual({ ok: false, detail });
  });

  it('refuses the RFC proof with one payload byte changed', () => {
    const [h, p, s] = RFC_RESOURCE_PROOF.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const tampered = `${h}.${b64({ ...payload, htm: 'POST' })}.${s}`;
    expect(resource({ proof: tampered, method: 'POST' })).toEqual({
      ok: false,
      detail: 'signature mismatch',
    });
  });

  it('DpopVerifier accepts the RFC resource request once, then refuses the replay', async () => {
    const verifier = new DpopVerifier({ clock: new FakeClock(RFC_RESOURCE_IAT_MS) });
    const input: DpopCheckInput = {
      scheme: 'dpop',
      accessToken: RFC_ACCESS_TOKEN,
      claims: { cnf: { jkt: RFC_JKT } },
      proofs: [RFC_RESOURCE_PROOF],
      method: 'GET',
      url: RFC_RESOURCE,
    };
    expect(await verifier.check(input)).toEqual({
      ok: true,
      via: 'dpop',
      jkt: RFC_JKT,
      headers: {},
    });
    expect(await verifier.check(input)).toMatchObject({
      ok: false,
      failure: {
        code: 'dpop_proof_replayed',
        status: 401,
        headers: {
          'www-authenticate': expect.stringContaining(
            'DPoP realm="api", error="invalid_dpop_proof"',
          ),
        },
      },
    });
  });
});

describe('DpopVerifier: hostile proofs', () => {
  it.each<[string, (s: ReturnType<typeof setup>) => string | string[] | undefined, string]>([
    ['no proof', () => undefined, 'no DPoP proof'],
    ['two DPoP headers', (s) => [s.withAth(), s.withAth()], 'more than one DPoP header'],
    [
      'alg none',
      () =>
        `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: RFC_JWK })}.${b64({ jti: 'a', htm: 'GET', htu: URL_, iat: NOW / 1000 })}.`,
      'bad base64url',
    ],
    [
      'alg none with a dummy signature',
      (s) =>
        `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: s.key.jwk })}.${b64({ jti: 'a', htm: 'GET', htu: URL_, iat: NOW / 1000 })}.AA`,
      'alg not allowed',
    ],
    ['alg HS256', (s) => s.withAth({}, { alg: 'HS256' }), 'alg not allowed'],
    ['a typ other than dpop+jwt', (s) => s.withAth({}, { typ: 'JWT' }), 'typ is not dpop+jwt'],
    ['no jwk', (s) => s.withAth({}, { jwk: undefined }), 'jwk missing'],
    [
      'a jwk with its private part',
      (s) => s.withAth({}, { jwk: { ...s.key.jwk, d: 'AAAA' } }),
      'jwk is not a usable public key for alg',
    ],
    [
      'an RSA jwk for ES256',
      (s) => s.withAth({}, { jwk: clientKey('RS256').jwk }),
      'jwk is not a usable public key for alg',
    ],
    ['a crit header', (s) => s.withAth({}, { crit: ['x'] }), 'crit header not supported'],
    [
      'a signature by another key than the embedded jwk',
      (s) => proof(s.key, { ath: accessTokenHash(TOKEN) }, {}, clientKey('ES256')),
      'signature mismatch',
    ],
    ['a wrong htu', (s) => s.withAth({ htu: 'https://api.example.com/orders/8' }), 'htu mismatch'],
    ['an htu that is not a URL', (s) => s.withAth({ htu: 'orders/7' }), 'htu mismatch'],
    ['a wrong htm', (s) => s.withAth({ htm: 'DELETE' }), 'htm mismatch'],
    ['a lower-case htm', (s) => s.withAth({ htm: 'get' }), 'htm mismatch'],
    ['no jti', (s) => s.withAth({ jti: undefined }), 'jti missing or invalid'],
    ['a huge jti', (s) => s.withAth({ jti: 'j'.repeat(300) }), 'jti missing or invalid'],
    [
      'an iat as a string',
      (s) => s.withAth({ iat: String(NOW / 1000) }),
      'iat missing or not a number',
    ],
    ['an iat 10 minutes old', (s) => s.withAth({ iat: NOW / 1000 - 600 }), 'proof too old'],
    ['an iat 1 minute ahead', (s) => s.withAth({ iat: NOW / 1000 + 60 }), 'iat in the future'],
    ['no ath', (s) => proof(s.key), 'ath missing'],
    [
      'an ath of another token',
      (s) => s.withAth({ ath: accessTokenHash('another') }),
      'ath mismatch',
    ],
    ['three segments of garbage', () => 'a.b.c', 'header is not a JSON object'],
    [
      'a proof over the size cap',
      (s) => s.withAth({ pad: 'x'.repeat(9000) }),
      'proof above the size cap',
    ],
  ])('%s: invalid_dpop_proof', async (_what, make, detail) => {
    const s = setup();
    const result = await s.verifier.check(s.input(make(s)));
    expect(result).toEqual({
      ok: false,
      failure: {
        code: 'dpop_proof_invalid',
        detail,
        status: 401,
        headers: {
          'www-authenticate':
            'DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof is invalid", algs="ES256 ES384 PS256 RS256 EdDSA"',
        },
      },
    });
  });

  it('a replayed jti is refused, also by another node sharing the replay cache', async () => {
    const replayCache = new MemoryReplayCache();
    const a = setup({ replayCache });
    const nodeB = new DpopVerifier({ clock: a.clock, replayCache });
    const p = a.withAth();
    expect((await a.verifier.check(a.input(p))).ok).toBe(true);
    expect(await a.verifier.check(a.input(p))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_proof_replayed' },
    });
    expect(await nodeB.check(a.input(p))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_proof_replayed' },
    });
    // The same jti from another key is another proof.
    const other = clientKey('ES256');
    const jti = 'shared-jti';
    expect((await a.verifier.check(a.input(a.withAth({ jti })))).ok).toBe(true);
    const otherProof = proof(other, { jti, ath: accessTokenHash(TOKEN) });
    expect(
      (await a.verifier.check(a.input(otherProof, { claims: { cnf: { jkt: other.jkt } } }))).ok,
    ).toBe(true);
    await replayCache.close();
  });

  it('a proof key other than the token’s cnf.jkt is refused (mismatched key)', async () => {
    const s = setup();
    const thief = clientKey('ES256');
    const stolen = proof(thief, { ath: accessTokenHash(TOKEN) });
    expect(await s.verifier.check(s.input(stolen))).toMatchObject({
      ok: false,
      failure: {
        code: 'dpop_binding_mismatch',
        headers: { 'www-authenticate': expect.stringContaining('error="invalid_token"') },
      },
    });
    expect(
      await s.verifier.check(s.input(s.withAth(), { claims: { cnf: { jkt: 'short' } } })),
    ).toMatchObject({
      ok: false,
      failure: { code: 'dpop_binding_mismatch' },
    });
  });

  it('each supported algorithm verifies; a 1024-bit RSA key does not', async () => {
    for (const alg of ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'PS512', 'EdDSA'] as const) {
      const verifier = new DpopVerifier({ clock: new FakeClock(NOW), algorithms: [alg] });
      const key = clientKey(alg);
      const result = await verifier.check({
        scheme: 'dpop',
        accessToken: TOKEN,
        claims: { cnf: { jkt: key.jkt } },
        proofs: [proof(key, { ath: accessTokenHash(TOKEN) })],
        method: 'GET',
        url: URL_,
      });
      expect([alg, result.ok]).toEqual([alg, true]);
    }
    const weak = clientKey('RS256', 1024);
    const verifier = new DpopVerifier({ clock: new FakeClock(NOW), algorithms: ['RS256'] });
    const result = await verifier.check({
      scheme: 'dpop',
      accessToken: TOKEN,
      claims: { cnf: { jkt: weak.jkt } },
      proofs: [proof(weak, { ath: accessTokenHash(TOKEN) })],
      method: 'GET',
      url: URL_,
    });
    expect(result).toMatchObject({
      ok: false,
      failure: { detail: 'jwk is not a usable public key for alg' },
    });
  });
});

describe('DpopVerifier: Bearer or DPoP per route', () => {
  it('allowed: a plain Bearer token passes without a proof', async () => {
    const s = setup();
    expect(await s.verifier.check(s.input(undefined, { scheme: 'bearer', claims: {} }))).toEqual({
      ok: true,
      via: 'bearer',
      headers: {},
    });
  });

  it('required: a Bearer token is refused with a DPoP challenge', async () => {
    const s = setup({ mode: 'required' });
    expect(
      await s.verifier.check(s.input(undefined, { scheme: 'bearer', claims: {} })),
    ).toMatchObject({
      ok: false,
      failure: {
        code: 'dpop_required',
        status: 401,
        headers: {
          'www-authenticate': expect.stringMatching(/^DPoP realm="api", error="invalid_token"/),
        },
      },
    });
    // The per-route mode overrides the default.
    const lax = setup();
    expect(
      await lax.verifier.check(
        lax.input(undefined, { scheme: 'bearer', claims: {}, mode: 'required' }),
      ),
    ).toMatchObject({ ok: false, failure: { code: 'dpop_required' } });
  });

  it('a DPoP-bound token sent as Bearer is refused (no downgrade)', async () => {
    const s = setup();
    expect(await s.verifier.check(s.input([s.withAth()], { scheme: 'bearer' }))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_required' },
    });
  });

  it('an unbound token sent with the DPoP scheme is refused', async () => {
    const s = setup();
    expect(await s.verifier.check(s.input([s.withAth()], { claims: {} }))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_binding_mismatch' },
    });
  });

  it('challenge() names the realm and algorithms', () => {
    expect(setup({ realm: 'orders', algorithms: ['ES256', 'PS256'] }).verifier.challenge()).toBe(
      'DPoP realm="orders", algs="ES256 PS256"',
    );
  });

  it('DPOP_AUTHORIZATION reads the DPoP scheme', () => {
    expect(DPOP_AUTHORIZATION.exec(`DPoP ${TOKEN}`)?.[1]).toBe(TOKEN);
    expect(DPOP_AUTHORIZATION.exec(`dpop  ${TOKEN}`)?.[1]).toBe(TOKEN);
    expect(DPOP_AUTHORIZATION.exec(`Bearer ${TOKEN}`)).toBeNull();
  });
});

describe('DpopVerifier: nonces', () => {
  const secret = randomBytes(32);

  it('asks for a nonce (use_dpop_nonce with DPoP-Nonce), then accepts the proof that carries it', async () => {
    const s = setup({ nonce: { secret, lifetimeMs: 60_000 } });
    const first = await s.verifier.check(s.input(s.withAth()));
    expect(first.ok).toBe(false);
    if (first.ok) return;
    expect(first.failure.code).toBe('dpop_nonce_required');
    expect(first.failure.headers['www-authenticate']).toContain('error="use_dpop_nonce"');
    const nonce = first.failure.headers['dpop-nonce']!;
    expect(nonce).toBe(s.verifier.currentNonce());
    expect(await s.verifier.check(s.input(s.withAth({ nonce })))).toMatchObject({
      ok: true,
      headers: {},
    });
    // One lifetime later the nonce still works, and a fresh one comes back.
    s.clock.advance(60_000);
    const later = await s.verifier.check(
      s.input(s.withAth({ nonce, iat: Math.floor(s.clock.now() / 1000) })),
    );
    expect(later).toMatchObject({ ok: true, headers: { 'dpop-nonce': s.verifier.currentNonce() } });
    // Two lifetimes later it is stale.
    s.clock.advance(60_000);
    const stale = await s.verifier.check(
      s.input(s.withAth({ nonce, iat: Math.floor(s.clock.now() / 1000) })),
    );
    expect(stale).toMatchObject({
      ok: false,
      failure: { code: 'dpop_nonce_required', detail: 'nonce stale or unknown' },
    });
  });

  it('nodes sharing the secret accept each other’s nonces; another secret does not', () => {
    const a = new DpopNonces({ secret });
    const b = new DpopNonces({ secret: Buffer.from(secret) });
    const c = new DpopNonces({ secret: randomBytes(32) });
    const nonce = a.current(NOW);
    expect(b.check(nonce, NOW)).toBe('current');
    expect(c.check(nonce, NOW)).toBe('invalid');
    expect(a.check(`${nonce}x`, NOW)).toBe('invalid');
  });

  it('refuses a short secret', () => {
    expect(() => new DpopNonces({ secret: 'short' })).toThrow(ConfigError);
  });
});

describe('DpopVerifier: replay cache outage', () => {
  const broken: ReplayCache = { markUsed: () => Promise.reject(new Error('ECONNREFUSED')) };

  it('fails closed by default: 503 store_unavailable', async () => {
    const s = setup({ replayCache: broken });
    expect(await s.verifier.check(s.input(s.withAth()))).toEqual({
      ok: false,
      failure: {
        code: 'store_unavailable',
        detail: 'the DPoP replay cache could not answer',
        status: 503,
        headers: { 'retry-after': '1' },
      },
    });
  });

  it('fails open when configured, and says the replay check was skipped', async () => {
    const s = setup({ replayCache: broken, replayFailMode: 'open' });
    expect(await s.verifier.check(s.input(s.withAth()))).toMatchObject({
      ok: true,
      via: 'dpop',
      replayUnchecked: true,
    });
  });
});

describe('DPoP helpers and configuration', () => {
  it('normalizeHtu', () => {
    expect(normalizeHtu('HTTPS://API.example.com:443/a/./b/../c?q=1#x')).toBe(
      'https://api.example.com/a/c',
    );
    expect(normalizeHtu('https://api.example.com:8443/a')).toBe('https://api.example.com:8443/a');
    expect(normalizeHtu('ftp://x/')).toBeUndefined();
    expect(normalizeHtu('/relative')).toBeUndefined();
  });

  it.each<[string, DpopOptions]>([
    ['an HMAC algorithm', { algorithms: ['HS256' as DpopAlgorithm] }],
    ['no algorithms', { algorithms: [] }],
    ['an unknown mode', { mode: 'sometimes' as 'allowed' }],
    ['a zero maxAgeMs', { maxAgeMs: 0 }],
    ['an unknown fail mode', { replayFailMode: 'maybe' as 'open' }],
    ['a realm with a quote', { realm: 'a"b' }],
  ])('refuses %s', (_what, options) => {
    expect(() => new DpopVerifier(options)).toThrow(ConfigError);
  });
});
