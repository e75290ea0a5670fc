import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  mintToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  testJwtOptions,
  testKeys,
} from '@tokenwarden/testing';
import { verifyJwt, type JwtVerifyPolicy, type VerifyResult } from '../../src/verify/jwt';
import { KeyRing } from '../../src/verify/key-ring';
import { b64, claimsAt, compact, hs256 } from '../support';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

function policy(overrides: Partial<JwtVerifyPolicy> = {}): JwtVerifyPolicy {
  const options = testJwtOptions();
  return {
    ring: new KeyRing(options.keys, options.algorithms),
    algorithms: options.algorithms,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    maxLifetimeMs: 3_600_000,
    clockToleranceMs: 5_000,
    maxClaimLength: 256,
    permissionsClaim: undefined,
    ...overrides,
  };
}

const base = policy();

/** An HS256 token with the test secret and exactly these claims. */
function signed(claims: Readonly<Record<string, unknown>>): string {
  return compact({ alg: 'HS256', typ: 'JWT', kid: 'hs-1' }, claims, hs256(testKeys().hs256));
}

function codeOf(result: VerifyResult): string {
  return result.ok ? 'ok' : result.failure.code;
}

function verified(result: VerifyResult) {
  if (!result.ok) throw new Error(`expected success, got ${result.failure.code}`);
  return result.token;
}

describe('verifyJwt: valid tokens', () => {
  it.each(['HS256', 'RS256', 'ES256'] as const)(
    'verifies %s and returns the claims in ms',
    (alg) => {
      const token = mintToken({
        alg,
        now: NOW,
        claims: { sub: 'alice', jti: 'j-1', scope: 'a b' },
      });
      const result = verified(verifyJwt(token, base, NOW));
      expect(result).toMatchObject({
        tokenId: 'j-1',
        subject: 'alice',
        client: 'web-app',
        issuer: TEST_ISSUER,
        scopes: ['a', 'b'],
        issuedAt: NOW,
        expiresAt: NOW + 300_000,
        kid: alg === 'HS256' ? 'hs-1' : alg === 'RS256' ? 'rs-1' : 'es-1',
      });
      expect(result.claims.sub).toBe('alice');
    },
  );

  it('accepts an audience array containing the accepted audience', () => {
    const token = signed(claimsAt(NOW, { aud: ['other-api', TEST_AUDIENCE] }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('ok');
  });

  it('accepts any of several configured issuers', () => {
    const token = signed(claimsAt(NOW, { iss: 'https://second.test/' }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('issuer_invalid');
    const two = policy({ issuer: [TEST_ISSUER, 'https://second.test/'] });
    expect(codeOf(verifyJwt(token, two, NOW))).toBe('ok');
  });

  it('uses the single key of a one-key ring for a token without kid', () => {
    const secret = randomBytes(32);
    const one = policy({
      ring: new KeyRing([{ kid: 'only', alg: 'HS256', key: secret }], ['HS256']),
      algorithms: ['HS256'],
    });
    const token = compact({ alg: 'HS256', typ: 'JWT' }, claimsAt(NOW), hs256(secret));
    expect(verified(verifyJwt(token, one, NOW)).kid).toBe('only');
    // The three-key test ring cannot guess.
    const noKid = compact({ alg: 'HS256' }, claimsAt(NOW), hs256(testKeys().hs256));
    expect(codeOf(verifyJwt(noKid, base, NOW))).toBe('key_unknown');
  });
});

describe('verifyJwt: scopes', () => {
  it('splits `scope` on spaces and ignores empty parts', () => {
    const token = signed(claimsAt(NOW, { scope: ' a  b:read c ' }));
    expect(verified(verifyJwt(token, base, NOW)).scopes).toEqual(['a', 'b:read', 'c']);
  });

  it('ignores a __proto__ member in the payload', () => {
    const raw = JSON.stringify(claimsAt(NOW, { scope: undefined })).replace(
      /^\{/,
      '{"__proto__":{"scope":"admin","permissions":["admin"]},',
    );
    const token = compact({ alg: 'HS256', kid: 'hs-1' }, b64(raw), hs256(testKeys().hs256));
    const withPermissions = policy({ permissionsClaim: 'permissions' });
    expect(verified(verifyJwt(token, withPermissions, NOW)).scopes).toEqual([]);
  });

  it('gives no scopes when `scope` is absent', () => {
    const token = signed(claimsAt(NOW, { scope: undefined }));
    expect(verified(verifyJwt(token, base, NOW)).scopes).toEqual([]);
  });

  it.each([
    ['an array', ['a', 'b']],
    ['a number', 42],
    ['a string with a control character', 'a\nb'],
    ['an over-long string', 'a'.repeat(256 * 16 + 1)],
  ])('refuses `scope` that is %s', (_name, scope) => {
    const token = signed(claimsAt(NOW, { scope }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('token_claims_invalid');
  });

  it('adds the permissions claim when configured', () => {
    const withPermissions = policy({ permissionsClaim: 'permissions' });
    const token = signed(claimsAt(NOW, { scope: 'a', permissions: ['orders:write', 'b'] }));
    expect(verified(verifyJwt(token, withPermissions, NOW)).scopes).toEqual([
      'a',
      'orders:write',
      'b',
    ]);
    // Not configured: the claim is just a claim.
    expect(verified(verifyJwt(token, base, NOW)).scopes).toEqual(['a']);
  });

  it('reads scopes from the permissions claim alone', () => {
    const withPermissions = policy({ permissionsClaim: 'permissions' });
    const token = signed(claimsAt(NOW, { scope: undefined, permissions: ['x'] }));
    expect(verified(verifyJwt(token, withPermissions, NOW)).scopes).toEqual(['x']);
  });

  it('reads a permissions claim written as a space-delimited string', () => {
    const withPermissions = policy({ permissionsClaim: 'permissions' });
    const token = signed(claimsAt(NOW, { scope: undefined, permissions: ' x  y:write ' }));
    expect(verified(verifyJwt(token, withPermissions, NOW)).scopes).toEqual(['x', 'y:write']);
  });

  it.each([
    ['a number', 42],
    ['a string with a control character', 'a\nb'],
    ['an array holding a number', ['a', 1]],
    ['an array holding a name with a space', ['a b']],
    ['an array holding an empty name', ['']],
    ['an over-long array', Array.from({ length: 1001 }, (_, i) => `p${i}`)],
  ])('refuses a permissions claim that is %s', (_name, permissions) => {
    const withPermissions = policy({ permissionsClaim: 'permissions' });
    const token = signed(claimsAt(NOW, { permissions }));
    expect(codeOf(verifyJwt(token, withPermissions, NOW))).toBe('token_claims_invalid');
  });
});

describe('verifyJwt: client', () => {
  it('reads client_id', () => {
    const token = signed(claimsAt(NOW, { client_id: 'svc', azp: 'other' }));
    expect(verified(verifyJwt(token, base, NOW)).client).toBe('svc');
  });

  it('falls back to azp', () => {
    const token = signed(claimsAt(NOW, { client_id: undefined, azp: 'spa' }));
    expect(verified(verifyJwt(token, base, NOW)).client).toBe('spa');
  });

  it('leaves the client undefined when neither is present', () => {
    const token = signed(claimsAt(NOW, { client_id: undefined }));
    expect(verified(verifyJwt(token, base, NOW)).client).toBeUndefined();
  });

  it.each([
    ['a number', 7],
    ['empty', ''],
    ['holding NUL', 'a\u0000b'],
  ])('refuses a client_id that is %s', (_name, client_id) => {
    const token = signed(claimsAt(NOW, { client_id }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('token_claims_invalid');
  });
});

describe('verifyJwt: time, with an explicit now', () => {
  const token = signed(claimsAt(NOW)); // iat NOW, exp NOW + 300 s

  it('accepts a token up to the tolerance after exp and refuses it at the tolerance', () => {
    const exp = NOW + 300_000;
    expect(codeOf(verifyJwt(token, base, exp - 1))).toBe('ok');
    expect(codeOf(verifyJwt(token, base, exp + 4_999))).toBe('ok');
    expect(codeOf(verifyJwt(token, base, exp + 5_000))).toBe('token_expired');
  });

  it('refuses at exp itself when the tolerance is zero', () => {
    const strict = policy({ clockToleranceMs: 0 });
    const exp = NOW + 300_000;
    expect(codeOf(verifyJwt(token, strict, exp - 1))).toBe('ok');
    expect(codeOf(verifyJwt(token, strict, exp))).toBe('token_expired');
  });

  it('accepts an iat up to the tolerance in the future and refuses one beyond it', () => {
    expect(codeOf(verifyJwt(token, base, NOW - 5_000))).toBe('ok');
    expect(codeOf(verifyJwt(token, base, NOW - 5_001))).toBe('token_not_yet_valid');
    const strict = policy({ clockToleranceMs: 0 });
    expect(codeOf(verifyJwt(token, strict, NOW))).toBe('ok');
    expect(codeOf(verifyJwt(token, strict, NOW - 1))).toBe('token_not_yet_valid');
  });

  it('applies the tolerance to nbf', () => {
    const nbf = signed(claimsAt(NOW, { iat: NOW_S - 10, nbf: NOW_S + 30, exp: NOW_S + 200 }));
    expect(codeOf(verifyJwt(nbf, base, NOW + 25_000))).toBe('ok');
    expect(codeOf(verifyJwt(nbf, base, NOW + 24_000))).toBe('token_not_yet_valid');
  });

  it('refuses exp not after iat', () => {
    const backwards = signed(claimsAt(NOW, { iat: NOW_S + 3, exp: NOW_S + 2 }));
    expect(codeOf(verifyJwt(backwards, base, NOW))).toBe('token_claims_invalid');
    const same = signed(claimsAt(NOW, { iat: NOW_S, exp: NOW_S }));
    expect(codeOf(verifyJwt(same, base, NOW - 1_000))).toBe('token_claims_invalid');
  });
});

describe('verifyJwt: maximum lifetime', () => {
  it('accepts exp - iat equal to maxLifetimeMs and refuses one second more', () => {
    const atMax = signed(claimsAt(NOW, { exp: NOW_S + 3600 }));
    const above = signed(claimsAt(NOW, { exp: NOW_S + 3601 }));
    expect(codeOf(verifyJwt(atMax, base, NOW))).toBe('ok');
    expect(codeOf(verifyJwt(above, base, NOW))).toBe('token_lifetime_exceeded');
  });

  it('follows a configured maxLifetimeMs', () => {
    const short = policy({ maxLifetimeMs: 60_000 });
    expect(codeOf(verifyJwt(signed(claimsAt(NOW, { exp: NOW_S + 60 })), short, NOW))).toBe('ok');
    expect(codeOf(verifyJwt(signed(claimsAt(NOW, { exp: NOW_S + 61 })), short, NOW))).toBe(
      'token_lifetime_exceeded',
    );
  });

  it('refuses a far-future exp as a lifetime problem', () => {
    const token = signed(claimsAt(NOW, { exp: 1e300 }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('token_lifetime_exceeded');
  });
});

describe('verifyJwt: claim checks', () => {
  it.each([
    ['exp missing', { exp: undefined }, 'token_claims_invalid'],
    ['iat missing', { iat: undefined }, 'token_claims_invalid'],
    ['exp a string', { exp: String(NOW_S + 300) }, 'token_claims_invalid'],
    ['iat negative', { iat: -1 }, 'token_claims_invalid'],
    ['nbf a string', { nbf: String(NOW_S) }, 'token_claims_invalid'],
    ['sub missing', { sub: undefined }, 'token_claims_invalid'],
    ['sub empty', { sub: '' }, 'token_claims_invalid'],
    ['sub a number', { sub: 12 }, 'token_claims_invalid'],
    ['sub above maxClaimLength', { sub: 's'.repeat(257) }, 'token_claims_invalid'],
    ['jti missing', { jti: undefined }, 'token_claims_invalid'],
    ['jti with DEL', { jti: 'a\u007f' }, 'token_claims_invalid'],
    ['iss missing', { iss: undefined }, 'issuer_invalid'],
    ['iss wrong', { iss: 'https://evil.test/' }, 'issuer_invalid'],
    ['aud missing', { aud: undefined }, 'audience_invalid'],
    ['aud wrong', { aud: 'other-api' }, 'audience_invalid'],
  ])('%s → %s', (_name, overrides, code) => {
    const token = signed(claimsAt(NOW, overrides));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe(code);
  });

  it('accepts sub of exactly maxClaimLength', () => {
    const token = signed(claimsAt(NOW, { sub: 's'.repeat(256) }));
    expect(codeOf(verifyJwt(token, base, NOW))).toBe('ok');
  });
});

describe('verifyJwt: header checks', () => {
  const hs = hs256(testKeys().hs256);
  const claims = claimsAt(NOW);

  it.each([
    ['alg none, no signature', `${b64({ alg: 'none' })}.${b64(claims)}.`, 'algorithm_not_allowed'],
    ['alg missing', compact({ kid: 'hs-1' }, claims, hs), 'algorithm_not_allowed'],
    [
      'alg not a string',
      compact({ alg: ['HS256'], kid: 'hs-1' }, claims, hs),
      'algorithm_not_allowed',
    ],
    [
      'alg HS384, not in the allowlist',
      compact({ alg: 'HS384', kid: 'hs-1' }, claims, hs),
      'algorithm_not_allowed',
    ],
    [
      'alg RS256 under the HMAC kid',
      compact({ alg: 'RS256', kid: 'hs-1' }, claims, hs),
      'algorithm_not_allowed',
    ],
    [
      'kid of 10k characters',
      compact({ alg: 'HS256', kid: 'k'.repeat(10_000) }, claims, hs),
      'token_malformed',
    ],
    ['kid a number', compact({ alg: 'HS256', kid: 1 }, claims, hs), 'token_malformed'],
    ['kid unknown', compact({ alg: 'HS256', kid: 'hs-2' }, claims, hs), 'key_unknown'],
    ['crit', compact({ alg: 'HS256', kid: 'hs-1', crit: ['x'] }, claims, hs), 'token_malformed'],
    ['b64', compact({ alg: 'HS256', kid: 'hs-1', b64: true }, claims, hs), 'token_malformed'],
    [
      'jwk',
      compact({ alg: 'HS256', kid: 'hs-1', jwk: { kty: 'oct' } }, claims, hs),
      'token_malformed',
    ],
    [
      'jku',
      compact({ alg: 'HS256', kid: 'hs-1', jku: 'https://x' }, claims, hs),
      'token_malformed',
    ],
    [
      'x5u',
      compact({ alg: 'HS256', kid: 'hs-1', x5u: 'https://x' }, claims, hs),
      'token_malformed',
    ],
    [
      'empty signature',
      `${b64({ alg: 'HS256', kid: 'hs-1' })}.${b64(claims)}.`,
      'invalid_signature',
    ],
  ])('%s → %s', (_name, token, code) => {
    expect(codeOf(verifyJwt(token, base, NOW))).toBe(code);
  });
});

describe('verifyJwt: explicit token types (RFC 8725 §3.11, RFC 9068)', () => {
  const hs = hs256(testKeys().hs256);
  const claims = claimsAt(NOW);
  /** A token signed with the deployment's own key, valid in every claim, with this `typ`. */
  const typed = (typ: unknown) => compact({ alg: 'HS256', typ, kid: 'hs-1' }, claims, hs);

  it.each([
    ['a DPoP proof type', 'dpop+jwt'],
    ['a DPoP proof type, as a media type', 'application/dpop+jwt'],
    ['a logout token type', 'logout+jwt'],
    ['a security event token type', 'secevent+jwt'],
    ['an ID token type', 'id_token+jwt'],
    ['JWE', 'JWE'],
    ['a media type with a parameter', 'application/at+jwt; charset=utf-8'],
    ['an empty string', ''],
    ['a number', 1],
    ['null', null],
    ['a list', ['at+jwt']],
  ])('refuses a token whose typ is %s, though its signature and claims are good', (_n, typ) => {
    expect(verifyJwt(typed(typ), base, NOW)).toEqual({
      ok: false,
      failure: { code: 'token_malformed', detail: 'typ names another kind of token' },
    });
  });

  it.each([
    'JWT',
    'jwt',
    'at+jwt',
    'AT+JWT',
    'application/at+jwt',
    'Application/At+JWT',
    'application/jwt',
  ])('accepts typ %s', (typ) => {
    expect(codeOf(verifyJwt(typed(typ), base, NOW))).toBe('ok');
  });

  it('accepts a token without typ', () => {
    expect(codeOf(verifyJwt(compact({ alg: 'HS256', kid: 'hs-1' }, claims, hs), base, NOW))).toBe(
      'ok',
    );
  });

  it('accepts the further types a policy lists, with or without application/, in any case', () => {
    const policyWithTypes = policy({
      acceptedTypes: new Set(['application/jwt', 'application/at+jwt', 'application/example+jwt']),
    });
    for (const typ of ['example+jwt', 'Application/Example+JWT', 'at+jwt']) {
      expect(codeOf(verifyJwt(typed(typ), policyWithTypes, NOW))).toBe('ok');
    }
    expect(codeOf(verifyJwt(typed('dpop+jwt'), policyWithTypes, NOW))).toBe('token_malformed');
    expect(codeOf(verifyJwt(typed('example+jwt'), base, NOW))).toBe('token_malformed');
  });
});

describe('verifyJwt: never throws', () => {
  it('turns any input into a failure without throwing and never echoes it', () => {
    const parts = ['', 'a', 'e30', 'eyJhbGciOiJIUzI1NiJ9', '!!', 'AAAA', '.', '..', 'null'];
    for (let i = 0; i < 500; i++) {
      const count = 1 + (i % 5);
      const input = Array.from(
        { length: count },
        (_, j) => parts[(i * 7 + j * 3) % parts.length],
      ).join(i % 2 ? '.' : '');
      const junk = i % 3 === 0 ? `${input}${randomBytes(i % 40).toString('base64url')}` : input;
      let result: VerifyResult | undefined;
      expect(() => {
        result = verifyJwt(junk, base, NOW);
      }).not.toThrow();
      expect(result?.ok).toBe(false);
      if (junk.length > 8) expect(JSON.stringify(result)).not.toContain(junk);
    }
  });
});

describe('verifyJwt: members named twice and byte-order marks', () => {
  const secret = testKeys().hs256;
  const hs = hs256(secret);
  const claimsJson = JSON.stringify(claimsAt(NOW));
  /** A correctly signed token whose header and payload are these raw JSON texts. */
  const raw = (header: string, payload: string) => compact(b64(header), b64(payload), hs);
  const header = '{"alg":"HS256","typ":"JWT","kid":"hs-1"}';

  it('accepts the control token built the same way', () => {
    expect(codeOf(verifyJwt(raw(header, claimsJson), base, NOW))).toBe('ok');
  });

  it.each([
    ['alg twice (none, then HS256)', '{"alg":"none","alg":"HS256","kid":"hs-1"}'],
    ['kid twice', '{"alg":"HS256","kid":"rs-1","kid":"hs-1"}'],
    ['alg twice, once spelled with an escape', '{"\\u0061lg":"none","alg":"HS256","kid":"hs-1"}'],
  ])('refuses a header with %s', (_name, text) => {
    const result = verifyJwt(raw(text, claimsJson), base, NOW);
    expect(result).toEqual({
      ok: false,
      failure: { code: 'token_malformed', detail: 'header: a member named twice' },
    });
  });

  it.each([
    ['sub twice', claimsJson.replace('"sub":', '"sub":"admin","sub":')],
    ['exp twice', claimsJson.replace('"exp":', `"exp":${NOW_S + 999_999},"exp":`)],
    ['a member twice inside a nested object', claimsJson.replace('{', '{"ext":{"a":1,"a":2},')],
  ])('refuses a payload with %s', (_name, text) => {
    const result = verifyJwt(raw(header, text), base, NOW);
    expect(result).toEqual({
      ok: false,
      failure: { code: 'token_malformed', detail: 'payload: a member named twice' },
    });
  });

  it('accepts the same name in two different objects, and names inside strings', () => {
    const text = claimsJson.replace(
      '{',
      '{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}],"d":"\\"x\\":1,\\"x\\":2",',
    );
    expect(codeOf(verifyJwt(raw(header, text), base, NOW))).toBe('ok');
  });

  it('refuses a byte-order mark before the header or payload JSON', () => {
    expect(codeOf(verifyJwt(raw(`\ufeff${header}`, claimsJson), base, NOW))).toBe(
      'token_malformed',
    );
    expect(codeOf(verifyJwt(raw(header, `\ufeff${claimsJson}`), base, NOW))).toBe(
      'token_malformed',
    );
  });
});

describe('verifyJwt: one spelling per token', () => {
  /** The same bytes, spelled with other unused low bits in the last base64url character. */
  function respell(segment: string): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(segment[segment.length - 1]!);
    const unused = [0, 0, 4, 2][segment.length % 4]!; // bits of the last character that carry nothing
    const other = alphabet[last ^ ((1 << unused) - 1)]!;
    return `${segment.slice(0, -1)}${other}`;
  }

  it.each(['RS256', 'ES256', 'HS256'] as const)(
    'refuses a %s signature respelled with other unused bits (same bytes)',
    (alg) => {
      const token = mintToken({ alg, now: NOW });
      const [h, p, s] = token.split('.') as [string, string, string];
      const other = respell(s);
      expect(other).not.toBe(s);
      expect(Buffer.from(other, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
      expect(codeOf(verifyJwt(token, base, NOW))).toBe('ok');
      expect(verifyJwt(`${h}.${p}.${other}`, base, NOW)).toEqual({
        ok: false,
        failure: { code: 'token_malformed', detail: 'non-canonical base64url' },
      });
    },
  );

  it('refuses a segment whose length no byte string has (4n + 1)', () => {
    const token = mintToken({ now: NOW });
    const [h, p, s] = token.split('.') as [string, string, string];
    const padded = p.length % 4 === 0 ? `${p}A` : `${p}${'A'.repeat(5 - (p.length % 4))}`;
    expect(padded.length % 4).toBe(1);
    expect(codeOf(verifyJwt(`${h}.${padded}.${s}`, base, NOW))).toBe('token_malformed');
  });
});
