import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { testKeys } from '@tokenwarden/testing';
import { verifyJwt, type JwtVerifyPolicy, type VerifyResult } from '../../src/verify/jwt';
import { KeyRing, type VerificationKey } from '../../src/verify/key-ring';
import { claimsAt, compact, hs256 } from '../support';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

const ed25519 = generateKeyPairSync('ed25519');
const ed448 = generateKeyPairSync('ed448');
const other = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function eddsa(key: KeyObject): (input: string) => string {
  return (input) => sign(null, Buffer.from(input), key).toString('base64url');
}

const keys: VerificationKey[] = [
  { kid: 'ed-1', alg: 'EdDSA', key: ed25519.publicKey },
  { kid: 'ed448-1', alg: 'EdDSA', key: ed448.publicKey },
  { kid: 'es-1', alg: 'ES256', key: ec.publicKey },
  { kid: 'hs-1', alg: 'HS256', key: testKeys().hs256 },
];

function policy(overrides: Partial<JwtVerifyPolicy> = {}): JwtVerifyPolicy {
  return {
    ring: new KeyRing(keys, ['EdDSA', 'ES256', 'HS256']),
    algorithms: ['EdDSA', 'ES256', 'HS256'],
    issuer: 'https://issuer.test/',
    audience: 'tokenwarden-test-api',
    maxLifetimeMs: 3_600_000,
    clockToleranceMs: 5_000,
    maxClaimLength: 256,
    permissionsClaim: undefined,
    ...overrides,
  };
}

const codeOf = (result: VerifyResult) => (result.ok ? 'ok' : result.failure.code);
const edToken = (claims: Record<string, unknown>, kid = 'ed-1', key = ed25519.privateKey) =>
  compact({ alg: 'EdDSA', typ: 'at+jwt', kid }, claims, eddsa(key));

describe('verifyJwt: EdDSA (node:crypto, not jsonwebtoken)', () => {
  it('verifies an Ed25519 and an Ed448 token and returns the claims', () => {
    for (const [kid, key] of [
      ['ed-1', ed25519.privateKey],
      ['ed448-1', ed448.privateKey],
    ] as const) {
      const result = verifyJwt(
        edToken(claimsAt(NOW, { jti: `j-${kid}`, scope: 'a b' }), kid, key),
        policy(),
        NOW,
      );
      if (!result.ok) throw new Error(`expected success, got ${result.failure.code}`);
      expect(result.token).toMatchObject({ tokenId: `j-${kid}`, scopes: ['a', 'b'], kid });
    }
  });

  it('refuses a signature by another key, a changed payload and a signature of the wrong size', () => {
    expect(codeOf(verifyJwt(edToken(claimsAt(NOW), 'ed-1', other.privateKey), policy(), NOW))).toBe(
      'invalid_signature',
    );
    const [h, , s] = edToken(claimsAt(NOW)).split('.');
    const changed = Buffer.from(JSON.stringify(claimsAt(NOW, { scope: 'admin' }))).toString(
      'base64url',
    );
    expect(codeOf(verifyJwt(`${h}.${changed}.${s}`, policy(), NOW))).toBe('invalid_signature');
    const short = Buffer.from(s as string, 'base64url')
      .subarray(0, 63)
      .toString('base64url');
    const [h2, p2] = edToken(claimsAt(NOW)).split('.');
    expect(codeOf(verifyJwt(`${h2}.${p2}.${short}`, policy(), NOW))).toBe('invalid_signature');
    // An Ed25519 signature under the Ed448 key's kid: wrong size for that curve.
    expect(codeOf(verifyJwt(edToken(claimsAt(NOW), 'ed448-1'), policy(), NOW))).toBe(
      'invalid_signature',
    );
  });

  it('takes the algorithm from the key: a header alg that disagrees is refused before any crypto', () => {
    // EdDSA header naming an ES256 key, and ES256/HS256 headers naming the EdDSA key.
    const onEc = compact({ alg: 'EdDSA', kid: 'es-1' }, claimsAt(NOW), eddsa(ed25519.privateKey));
    expect(codeOf(verifyJwt(onEc, policy(), NOW))).toBe('algorithm_not_allowed');
    const esHeader = compact(
      { alg: 'ES256', kid: 'ed-1' },
      claimsAt(NOW),
      eddsa(ed25519.privateKey),
    );
    expect(codeOf(verifyJwt(esHeader, policy(), NOW))).toBe('algorithm_not_allowed');
    const hsHeader = compact({ alg: 'HS256', kid: 'ed-1' }, claimsAt(NOW), hs256('x'.repeat(32)));
    expect(codeOf(verifyJwt(hsHeader, policy(), NOW))).toBe('algorithm_not_allowed');
    // EdDSA outside the allowlist is refused even with a good signature.
    const onlyEs = policy({
      algorithms: ['ES256'],
      ring: new KeyRing([{ kid: 'ed-1', alg: 'EdDSA', key: ed25519.publicKey }], ['EdDSA']),
    });
    expect(codeOf(verifyJwt(edToken(claimsAt(NOW)), onlyEs, NOW))).toBe('algorithm_not_allowed');
  });

  it('applies exp, nbf, iat, aud, iss and lifetime exactly as for the other algorithms', () => {
    const cases: [string, Record<string, unknown>, number][] = [
      ['valid', claimsAt(NOW), NOW],
      ['just inside the tolerance after exp', claimsAt(NOW), NOW + 300_000 + 4_999],
      ['at the tolerance after exp', claimsAt(NOW), NOW + 305_000],
      ['nbf inside the tolerance', claimsAt(NOW, { nbf: NOW_S + 5 }), NOW],
      ['nbf beyond the tolerance', claimsAt(NOW, { nbf: NOW_S + 6 }), NOW],
      ['iat in the future', claimsAt(NOW, { iat: NOW_S + 60, exp: NOW_S + 120 }), NOW],
      [
        'an audience array with the audience',
        claimsAt(NOW, { aud: ['x', 'tokenwarden-test-api'] }),
        NOW,
      ],
      ['another audience', claimsAt(NOW, { aud: 'another-api' }), NOW],
      ['no audience', claimsAt(NOW, { aud: undefined }), NOW],
      ['another issuer', claimsAt(NOW, { iss: 'https://evil.test/' }), NOW],
      ['lifetime above the maximum', claimsAt(NOW, { exp: NOW_S + 3_601 }), NOW],
      ['exp not a number', claimsAt(NOW, { exp: String(NOW_S + 60) }), NOW],
    ];
    const results = cases.map(([name, claims, at]) => [
      name,
      codeOf(verifyJwt(edToken(claims), policy(), at)),
      codeOf(
        verifyJwt(
          compact({ alg: 'HS256', kid: 'hs-1' }, claims, hs256(testKeys().hs256)),
          policy(),
          at,
        ),
      ),
    ]);
    for (const [name, ed, hs] of results) expect([name, ed]).toEqual([name, hs]);
    expect(results.map(([, ed]) => ed)).toEqual([
      'ok',
      'ok',
      'token_expired',
      'ok',
      'token_not_yet_valid',
      'token_not_yet_valid',
      'ok',
      'audience_invalid',
      'audience_invalid',
      'issuer_invalid',
      'token_lifetime_exceeded',
      'token_claims_invalid',
    ]);
  });
});

describe('KeyRing: EdDSA keys', () => {
  it('binds EdDSA to Ed25519 or Ed448 keys only, and an Ed25519 key to EdDSA only', () => {
    expect(() => new KeyRing([{ kid: 'k', alg: 'EdDSA', key: ec.publicKey }], ['EdDSA'])).toThrow(
      /EdDSA needs an Ed25519 or Ed448 key/,
    );
    expect(
      () => new KeyRing([{ kid: 'k', alg: 'ES256', key: ed25519.publicKey }], ['ES256']),
    ).toThrow(/EC key on prime256v1/);
    expect(() => new KeyRing([{ kid: 'k', alg: 'EdDSA', key: 'x'.repeat(64) }], ['EdDSA'])).toThrow(
      /not a readable public key/,
    );
    // A private key is accepted and only its public half is kept.
    const ring = new KeyRing([{ kid: 'k', alg: 'EdDSA', key: ed25519.privateKey }], ['EdDSA']);
    expect(ring.select('k')?.keyObject.type).toBe('public');
  });
});
