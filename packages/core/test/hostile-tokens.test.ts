import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createWarden, MemorySink, type ErrorCode, type RequestView } from '@tokenwarden/core';
import { keyPair, mintToken, testJwtOptions, testKeys } from '@tokenwarden/testing';
import { b64, bearer, claimsAt, compact, hs256, memoryLogger, rs256, view } from './support';

/**
 * Hostile credentials, each run through the whole pipeline. Every one must be denied with 401
 * (400 for two credentials) and the expected code: never allowed, never a 5xx, never a throw, and
 * never echoing the token or a claim value back.
 */

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;
const SUB = 'subject-7f3a9c';
const JTI = 'jti-5be1d0a4';

const sink = new MemorySink();
const warden = createWarden({
  jwt: testJwtOptions(),
  clock: { now: () => NOW },
  audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
  logger: memoryLogger(),
});
afterAll(() => warden.close());

const hsKey = testKeys().hs256;
const signHs = hs256(hsKey);
const HS = { alg: 'HS256', typ: 'JWT', kid: 'hs-1' } as const;
const good = claimsAt(NOW);
const attacker = keyPair('rsa', { modulusLength: 2048 });
const rsaPublicPem = testKeys()
  .rs256.publicKey.export({ type: 'spki', format: 'pem' })
  .toString('utf8');

/** A correctly HS256-signed token with these claims (so only the named defect is wrong). */
function hsToken(claims: unknown, header: Readonly<Record<string, unknown>> = {}): string {
  return compact({ ...HS, ...header }, claims, signHs);
}
/** A correctly signed token whose payload is this raw JSON text. */
function hsRaw(json: string): string {
  return compact(HS, b64(json), signHs);
}
/** A payload segment that is valid UTF-8 except for the bytes C3 28 inside `sub`. */
function invalidUtf8Payload(): string {
  const [before, after] = JSON.stringify({ ...good, sub: '\u0001' }).split('\\u0001') as [
    string,
    string,
  ];
  return b64(Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28]), Buffer.from(after)]));
}
function withSegment(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

interface Row {
  readonly name: string;
  readonly request: RequestView;
  readonly token: string;
  readonly status: 400 | 401;
  readonly code: ErrorCode;
  /**
   * The request carries another scheme's credential, not a Bearer one: its challenge has no
   * error code (RFC 6750 §3.1).
   */
  readonly otherScheme?: boolean;
}

const rows: Row[] = [];
function deny(name: string, token: string, code: ErrorCode): void {
  rows.push({ name, request: bearer(token), token, status: 401, code });
}
function denyHeader(name: string, header: string, code: ErrorCode, token = ''): void {
  rows.push({
    name,
    request: view({ headers: { authorization: header } }),
    token,
    status: 401,
    code,
  });
}
function denyOtherScheme(name: string, header: string, token = ''): void {
  rows.push({
    name,
    request: view({ headers: { authorization: header } }),
    token,
    status: 401,
    code: 'token_malformed',
    otherScheme: true,
  });
}

const valid = hsToken(good);

// alg none, in several casings, with and without a signature.
for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
  deny(
    `alg ${alg} without signature`,
    `${b64({ alg, typ: 'JWT' })}.${b64(good)}.`,
    'algorithm_not_allowed',
  );
  deny(
    `alg ${alg} with a signature`,
    compact({ alg, typ: 'JWT', kid: 'hs-1' }, good, signHs),
    'algorithm_not_allowed',
  );
  deny(
    `alg ${alg} with a junk signature, no kid`,
    `${b64({ alg })}.${b64(good)}.AAAA`,
    'algorithm_not_allowed',
  );
}

// HS/RS key confusion: HMAC with the RSA public key PEM as the secret.
deny(
  'HS256 signed with the RSA public PEM, kid rs-1',
  compact({ ...HS, kid: 'rs-1' }, good, hs256(rsaPublicPem)),
  'algorithm_not_allowed',
);
deny(
  'HS256 signed with the RSA public PEM, kid hs-1',
  compact(HS, good, hs256(rsaPublicPem)),
  'invalid_signature',
);
deny(
  'HS256 signed with the RSA public PEM, no kid',
  compact({ alg: 'HS256', typ: 'JWT' }, good, hs256(rsaPublicPem)),
  'key_unknown',
);
deny(
  'RS256 by an attacker key under the HMAC kid hs-1',
  compact({ alg: 'RS256', kid: 'hs-1' }, good, rs256(attacker.privateKey)),
  'algorithm_not_allowed',
);

// kid abuse.
deny('kid path traversal', hsToken(good, { kid: '../../etc/passwd' }), 'key_unknown');
// 10k characters make the token larger than the 8 KB cap: refused before any parsing.
deny('kid of 10k characters', hsToken(good, { kid: 'k'.repeat(10_000) }), 'token_too_large');
deny('kid of 300 characters', hsToken(good, { kid: 'k'.repeat(300) }), 'token_malformed');
deny('kid a number', hsToken(good, { kid: 1 }), 'token_malformed');
deny('kid a boolean', hsToken(good, { kid: true }), 'token_malformed');
deny('kid null', hsToken(good, { kid: null }), 'token_malformed');
deny('kid an array', hsToken(good, { kid: ['hs-1'] }), 'token_malformed');
deny('kid an object', hsToken(good, { kid: { id: 'hs-1' } }), 'token_malformed');
deny('kid empty', hsToken(good, { kid: '' }), 'token_malformed');
deny('kid with NUL', hsToken(good, { kid: 'hs-1\u0000' }), 'token_malformed');

// Header-supplied keys and extensions.
const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
deny(
  'embedded jwk, attacker-signed',
  compact({ alg: 'RS256', kid: 'rs-1', jwk: attackerJwk }, good, rs256(attacker.privateKey)),
  'token_malformed',
);
deny(
  'embedded jwk, attacker-signed, no kid',
  compact({ alg: 'RS256', jwk: attackerJwk }, good, rs256(attacker.privateKey)),
  'token_malformed',
);
deny(
  'jku, attacker-signed',
  compact(
    { alg: 'RS256', kid: 'rs-1', jku: 'https://evil.test/jwks.json' },
    good,
    rs256(attacker.privateKey),
  ),
  'token_malformed',
);
deny(
  'x5u, attacker-signed',
  compact(
    { alg: 'RS256', kid: 'rs-1', x5u: 'https://evil.test/cert.pem' },
    good,
    rs256(attacker.privateKey),
  ),
  'token_malformed',
);
deny(
  'jku on an otherwise valid token',
  hsToken(good, { jku: 'https://evil.test/jwks.json' }),
  'token_malformed',
);
deny('crit header', hsToken(good, { crit: ['exp'] }), 'token_malformed');
deny('b64:false', hsToken(good, { b64: false, crit: ['b64'] }), 'token_malformed');
deny('b64:false without crit', hsToken(good, { b64: false }), 'token_malformed');

// Another kind of JWT, signed by the same key, passed off as an access token (RFC 8725 §3.11).
deny('typ dpop+jwt (a DPoP proof)', hsToken(good, { typ: 'dpop+jwt' }), 'token_malformed');
deny('typ logout+jwt (a logout token)', hsToken(good, { typ: 'logout+jwt' }), 'token_malformed');
deny(
  'typ application/secevent+jwt (a security event)',
  hsToken(good, { typ: 'application/secevent+jwt' }),
  'token_malformed',
);

// A DPoP-bound token (cnf.jkt) copied and replayed as a plain Bearer token, no proof.
deny(
  'cnf.jkt, sent as Bearer to a warden without DPoP',
  hsToken({ ...good, cnf: { jkt: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg' } }),
  'dpop_required',
);

// Time and lifetime.
deny(
  'expired',
  mintToken({ now: NOW - 3_600_000, claims: { sub: SUB, jti: JTI } }),
  'token_expired',
);
deny('nbf in the future', hsToken({ ...good, nbf: NOW_S + 600 }), 'token_not_yet_valid');
deny(
  'iat beyond the clock tolerance',
  hsToken({ ...good, iat: NOW_S + 60, exp: NOW_S + 360 }),
  'token_not_yet_valid',
);
deny('exp missing', hsToken({ ...good, exp: undefined }), 'token_claims_invalid');
deny('iat missing', hsToken({ ...good, iat: undefined }), 'token_claims_invalid');
deny('exp a string', hsToken({ ...good, exp: '9999999999' }), 'token_claims_invalid');
deny('iat a string', hsToken({ ...good, iat: String(NOW_S) }), 'token_claims_invalid');
deny(
  'exp 1e400 (Infinity once parsed)',
  hsRaw(JSON.stringify({ ...good, exp: 0 }).replace('"exp":0', '"exp":1e400')),
  'token_claims_invalid',
);
deny(
  'exp -1e400',
  hsRaw(JSON.stringify({ ...good, exp: 0 }).replace('"exp":0', '"exp":-1e400')),
  'token_claims_invalid',
);
deny(
  'exp NaN (not JSON)',
  hsRaw(JSON.stringify({ ...good, exp: 0 }).replace('"exp":0', '"exp":NaN')),
  'token_malformed',
);
deny(
  'lifetime above the maximum',
  mintToken({ now: NOW, lifetimeSeconds: 3601, claims: { sub: SUB, jti: JTI } }),
  'token_lifetime_exceeded',
);

// Claims.
deny('wrong iss', hsToken({ ...good, iss: 'https://evil.test/' }), 'issuer_invalid');
deny('wrong aud', hsToken({ ...good, aud: 'someone-else' }), 'audience_invalid');
deny('aud missing', hsToken({ ...good, aud: undefined }), 'audience_invalid');
deny('jti missing', hsToken({ ...good, jti: undefined }), 'token_claims_invalid');
deny('sub missing', hsToken({ ...good, sub: undefined }), 'token_claims_invalid');
deny('sub empty', hsToken({ ...good, sub: '' }), 'token_claims_invalid');
deny('NUL in sub', hsToken({ ...good, sub: `${SUB}\u0000admin` }), 'token_claims_invalid');
deny('NUL in jti', hsToken({ ...good, jti: `${JTI}\u0000` }), 'token_claims_invalid');

// Signatures.
deny(
  'altered payload with the old signature',
  withSegment(valid, 1, b64({ ...good, scope: 'admin' })),
  'invalid_signature',
);
deny('stripped signature', withSegment(valid, 2, ''), 'invalid_signature');
deny(
  'HS256 signature from another secret',
  compact(HS, good, hs256(randomBytes(32))),
  'invalid_signature',
);
deny(
  'RS256 signature from another key',
  compact({ alg: 'RS256', typ: 'JWT', kid: 'rs-1' }, good, rs256(attacker.privateKey)),
  'invalid_signature',
);
deny(
  'signature of another valid token',
  withSegment(valid, 2, hsToken({ ...good, jti: 'other' }).split('.')[2]!),
  'invalid_signature',
);

// Encoding.
deny(
  "'+' in the header segment",
  withSegment(valid, 0, `${valid.split('.')[0]}+`),
  'token_malformed',
);
deny(
  "'/' in the payload segment",
  withSegment(valid, 1, `/${valid.split('.')[1]}`),
  'token_malformed',
);
deny("'=' padding on the signature", `${valid}=`, 'token_malformed');
deny(
  "'=' padding inside the token",
  withSegment(valid, 0, `${valid.split('.')[0]}=`),
  'token_malformed',
);
deny(
  'whitespace inside the token',
  withSegment(valid, 1, ` ${valid.split('.')[1]}`),
  'token_malformed',
);
deny(
  'a newline inside the token',
  withSegment(valid, 1, `\n${valid.split('.')[1]}`),
  'token_malformed',
);
deny(
  'header not JSON',
  `${b64('not json')}.${b64(good)}.${signHs(`${b64('not json')}.${b64(good)}`)}`,
  'token_malformed',
);
deny('header JSON but an array', `${b64([HS])}.${b64(good)}.AAAA`, 'token_malformed');
deny('payload not JSON', hsRaw('{"sub":'), 'token_malformed');
deny('payload a JSON array', hsToken([good]), 'token_malformed');
deny('payload a JSON string', hsRaw('"subject-7f3a9c"'), 'token_malformed');
deny('payload a JSON number', hsRaw('42'), 'token_malformed');
deny('payload JSON null', hsRaw('null'), 'token_malformed');
deny(
  'payload with invalid UTF-8 (C3 28)',
  compact(HS, invalidUtf8Payload(), signHs),
  'token_malformed',
);
deny(
  'header with invalid UTF-8 (C3 28)',
  `${b64(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]))}.${b64(good)}.AAAA`,
  'token_malformed',
);
deny('two parts', valid.split('.').slice(0, 2).join('.'), 'token_malformed');
deny('four parts', `${valid}.${valid.split('.')[2]}`, 'token_malformed');
deny('one part', valid.split('.')[1]!, 'token_malformed');
deny('only dots', '...', 'token_malformed');
deny('100 KB token', `${'a'.repeat(50_000)}.${'b'.repeat(52_400)}.c`, 'token_too_large');

// The Authorization header itself.
denyHeader('Bearer and a tab', `Bearer\t${valid}`, 'token_malformed', valid);
denyHeader('Bearer with no token', 'Bearer', 'token_malformed');
denyHeader('Bearer, a space and no token', 'Bearer ', 'token_malformed');
denyHeader('Bearer a b', 'Bearer a b', 'token_malformed');
denyHeader('Bearer then two tokens', `Bearer ${valid} ${valid}`, 'token_malformed', valid);
// Another scheme is no Bearer credential at all: still refused, with a challenge without error.
denyOtherScheme('Bearertoken (no space: a scheme of its own)', `Bearer${valid}`, valid);
denyOtherScheme('Basic xyz', 'Basic xyz');
denyOtherScheme('Token scheme', `Token ${valid}`, valid);
denyOtherScheme('DPoP scheme on a warden without DPoP', `DPoP ${valid}`, valid);

// Two credentials.
rows.push({
  name: 'two Authorization headers',
  request: view({ headers: { authorization: [`Bearer ${valid}`, `Bearer ${valid}`] } }),
  token: valid,
  status: 400,
  code: 'token_multiple',
});
rows.push({
  name: 'Authorization header plus ?access_token=',
  request: view({
    path: '/customers/42',
    url: `/customers/42?access_token=${valid}`,
    headers: { authorization: `Bearer ${valid}` },
  }),
  token: valid,
  status: 400,
  code: 'token_multiple',
});
rows.push({
  name: 'Authorization header plus an empty ?access_token=',
  request: view({
    path: '/customers/42',
    url: '/customers/42?access_token=',
    headers: { authorization: `Bearer ${valid}` },
  }),
  token: valid,
  status: 400,
  code: 'token_multiple',
});

/** Strings a denial must never contain. */
function secretsOf(row: Row): string[] {
  const secrets = [SUB, JTI, 'customers:read', 'web-app', 'https://issuer.test/'];
  if (row.token.length > 0) secrets.push(row.token);
  for (const part of row.token.split('.')) if (part.length >= 8) secrets.push(part);
  return secrets;
}

describe('hostile tokens through createWarden().check()', () => {
  it('has a control: the untampered token is allowed', async () => {
    const decision = await warden.check(bearer(valid));
    expect(decision).toMatchObject({ outcome: 'allow', principal: { subject: SUB } });
  });

  it.each(rows)('$name → $status $code', async (row) => {
    await warden.flushAudit();
    const before = sink.events.length;
    const decision = await warden.check(row.request);
    expect(decision.outcome).toBe('deny');
    if (decision.outcome !== 'deny') return;
    expect(decision.status).toBe(row.status);
    expect(decision.code).toBe(row.code);
    expect(decision.body).toMatchObject({ status: row.status, code: row.code });
    if (row.otherScheme === true) {
      expect(decision.headers['www-authenticate']).toBe('Bearer realm="api"');
    } else {
      expect(decision.headers['www-authenticate']).toMatch(
        row.status === 400
          ? /^Bearer realm="api", error="invalid_request"/
          : /^Bearer realm="api", error="invalid_token"/,
      );
    }
    expect(decision.headers['content-type']).toBe('application/problem+json');

    const outside = JSON.stringify({ m: decision.message, h: decision.headers, b: decision.body });
    for (const secret of secretsOf(row)) expect(outside).not.toContain(secret);

    await warden.flushAudit();
    // A credential in the query string is also written down as exposed (by fingerprint only).
    const all = sink.events.slice(before);
    const exposed = all.filter((e) => e.type === 'credential.exposed');
    expect(exposed).toHaveLength(/[?&]access_token=[^&]/.test(row.request.url) ? 1 : 0);
    for (const event of exposed) expect(JSON.stringify(event)).not.toContain(row.token);
    const events = all.filter((e) => e.type !== 'credential.exposed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'access.decision', outcome: 'deny', reason: row.code });
    if (row.token.length > 0) {
      const json = JSON.stringify(events[0]);
      expect(json).not.toContain(row.token);
      for (const part of row.token.split('.')) {
        if (part.length >= 8) expect(json).not.toContain(part);
      }
    }
  });

  it.each([
    ['Bearer', valid],
    ['bearer', valid],
    ['BEARER', valid],
    ['bEaReR', valid],
  ])(
    'allows a valid token under the scheme %s (case-insensitive, RFC 9110)',
    async (scheme, token) => {
      const decision = await warden.check(
        view({ headers: { authorization: `${scheme} ${token}` } }),
      );
      expect(decision).toMatchObject({ outcome: 'allow', reason: 'authorized' });
    },
  );

  it('refuses a DPoP-bound token sent as Bearer on every use, from the token cache too', async () => {
    const bound = hsToken({
      ...good,
      jti: 'jti-bound-1',
      cnf: { jkt: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg' },
    });
    for (let use = 0; use < 3; use++) {
      await expect(warden.check(bearer(bound))).resolves.toMatchObject({
        outcome: 'deny',
        status: 401,
        code: 'dpop_required',
      });
    }
  });

  it('allows a valid token after several spaces (RFC 6750: 1*SP)', async () => {
    const decision = await warden.check(view({ headers: { authorization: `Bearer   ${valid}` } }));
    expect(decision.outcome).toBe('allow');
  });

  it('does not throw for a view whose header getter returns nothing at all', async () => {
    await expect(warden.check(view())).resolves.toMatchObject({
      outcome: 'deny',
      status: 401,
      code: 'token_missing',
    });
    await expect(warden.check(view({ headers: { authorization: [] } }))).resolves.toMatchObject({
      outcome: 'deny',
      status: 401,
      code: 'token_missing',
    });
  });
});
