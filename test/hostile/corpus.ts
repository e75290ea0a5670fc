/**
 * The hostile corpus replayed over HTTP against every adapter: tokens and requests drawn from
 * RFC 8725 (JWT best current practice), RFC 7515/7519 (JWS, JWT), RFC 6750 (Bearer), OWASP ASVS 5
 * V9 (self-contained tokens) and V10 (OAuth resource servers), the attack modes of jwt_tool, and
 * what jsonwebtoken itself lets through. Every case names the status and error code it must get;
 * none may reach a route handler. Keys and tokens are generated per run.
 */
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { constants } from 'node:crypto';
import {
  ApiKeys,
  generateCredential,
  MemoryCredentialStore,
  type ErrorCode,
  type Warden,
} from '@tokenwarden/core/internal';
import { keyPair, TEST_AUDIENCE, TEST_ISSUER, testKeys } from '@tokenwarden/testing';

/** Request headers; an array value sends the header once per value. */
export type Headers = Readonly<Record<string, string | readonly string[]>>;

/** One hostile request and the refusal it must get. */
export interface HostileCase {
  readonly name: string;
  /** Where the attack comes from (RFC section, ASVS requirement, jwt_tool mode, library gap). */
  readonly source: string;
  /** Request path. Default: `/customers/c1` (needs scope `customers:read`). */
  readonly path?: string;
  /** Request headers (an array sends the header once per value), or a function minting them at send time. */
  readonly headers?: Headers | (() => Headers);
  /** A raw HTTP/1.1 request, for what an HTTP client refuses to send (parsed by Node itself). */
  readonly raw?: string;
  /** Expected status. */
  readonly status: 400 | 401 | 403 | 431;
  /** Expected problem `code`; `undefined` when Node's HTTP parser answers before any middleware. */
  readonly code?: ErrorCode;
  /** State the attack tries to get around (a revocation, a withdrawal), set before the request. */
  readonly setup?: (warden: Warden) => Promise<void>;
  /** Token-like strings of the case: never to appear in anything the middleware writes. */
  readonly secrets: readonly string[];
}

/** The normal path, for the timing comparison: a valid token on the same route. */
export interface Corpus {
  readonly cases: readonly HostileCase[];
  /** A fresh valid token (the control), for `/customers/c1`. */
  validToken(): string;
  /** Key material used by the run (secrets, private keys), to scan outputs for. */
  readonly keyMaterial: readonly string[];
  /** Tokens minted at send time by cases whose times must be fresh, and the run's API keys. */
  readonly minted: readonly string[];
  /** The API-key store the apps accept keys from (`apiKeys: { store }`). */
  readonly apiKeyStore: MemoryCredentialStore;
  /** Creates the run's API keys; call once before sending. */
  prepare(): Promise<void>;
}

const b64 = (value: unknown): string =>
  Buffer.isBuffer(value)
    ? value.toString('base64url')
    : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString(
        'base64url',
      );

type Signer = (input: string) => Buffer;
const hmac =
  (secret: string | Buffer, hash = 'sha256'): Signer =>
  (input) =>
    createHmac(hash, secret).update(input).digest();
const rsa =
  (key: KeyObject, hash = 'sha256'): Signer =>
  (input) =>
    sign(hash, Buffer.from(input), key);
const pss =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', Buffer.from(input), {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
const ecdsa =
  (key: KeyObject, encoding: 'ieee-p1363' | 'der' = 'ieee-p1363', hash = 'sha256'): Signer =>
  (input) =>
    sign(hash, Buffer.from(input), { key, dsaEncoding: encoding });

/** `header.payload.signature`; header and payload are values or raw JSON text. */
function jws(header: unknown, payload: unknown, signer: Signer | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${typeof signer === 'string' ? signer : b64(signer(input))}`;
}

/** Builds the corpus for tokens issued now (the servers run on the system clock). */
export function buildCorpus(run: string): Corpus {
  const keys = testKeys();
  const now = Math.floor(Date.now() / 1000);
  const attacker = keyPair('rsa', { modulusLength: 2048 });
  const attackerEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsaPem = keys.rs256.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const rsaDer = keys.rs256.publicKey.export({ type: 'spki', format: 'der' });
  const ecPem = keys.es256.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const rsaJwk = keys.rs256.publicKey.export({ format: 'jwk' });
  let seq = 0;
  const id = () => `${run}-${(seq += 1)}`;
  const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      sub: `hostile-${run}`,
      jti: `jti-${id()}`,
      iat: now,
      exp: now + 300,
      scope: 'customers:read',
      client_id: 'web-app',
      ...extra,
    };
    for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
    return out;
  };
  const HS = { alg: 'HS256', typ: 'JWT', kid: 'hs-1' };
  const RS = { alg: 'RS256', typ: 'JWT', kid: 'rs-1' };
  const ES = { alg: 'ES256', typ: 'JWT', kid: 'es-1' };
  const hs = hmac(keys.hs256);
  const rs = rsa(keys.rs256.privateKey);
  const es = ecdsa(keys.es256.privateKey);
  /** Correctly HS256-signed with the trusted secret, so only the named defect is wrong. */
  const hsToken = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    jws({ ...HS, ...header }, claims(extra), hs);
  /** Correctly signed, with this raw JSON text as the payload. */
  const hsRaw = (json: string, header: unknown = HS) => jws(header, json, hs);
  /** Correctly signed, with this raw JSON text as the header. */
  const hsRawHeader = (json: string) => jws(json, claims(), hs);
  /** The claims as JSON text with `"name":<json>` written verbatim (1e400, duplicates…). */
  const claimsWith = (name: string, json: string) =>
    JSON.stringify({ ...claims(), [name]: 0 }).replace(`"${name}":0`, `"${name}":${json}`);
  const valid = () => hsToken();
  const seg = (token: string, index: number, value: string) => {
    const parts = token.split('.');
    parts[index] = value;
    return parts.join('.');
  };
  const sigOf = (token: string) => Buffer.from(token.split('.')[2]!, 'base64url');

  const cases: HostileCase[] = [];
  const minted: string[] = [];
  const add = (
    name: string,
    source: string,
    token: string,
    status: 401 | 403,
    code: ErrorCode,
    extra: Partial<HostileCase> = {},
  ) =>
    cases.push({
      name,
      source,
      headers: { authorization: `Bearer ${token}` },
      status,
      code,
      secrets: [token],
      ...extra,
    });
  const deny = (name: string, source: string, token: string, code: ErrorCode) =>
    add(name, source, token, 401, code);

  // ── Algorithm (RFC 8725 §2.1, §3.1; ASVS 9.1.2; jwt_tool -X a, -X k) ──────────────────────────
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    deny(
      `alg ${alg}, empty signature`,
      'jwt_tool -X a',
      jws({ alg }, claims(), ''),
      'algorithm_not_allowed',
    );
  }
  deny(
    'alg none with a valid HMAC',
    'RFC 8725 §2.1',
    jws({ ...HS, alg: 'none' }, claims(), hs),
    'algorithm_not_allowed',
  );
  deny('alg empty string', 'RFC 7515 §4.1.1', hsToken({}, { alg: '' }), 'algorithm_not_allowed');
  deny(
    'alg missing',
    'RFC 7515 §4.1.1',
    jws({ typ: 'JWT', kid: 'hs-1' }, claims(), hs),
    'algorithm_not_allowed',
  );
  deny('alg null', 'RFC 7515 §4.1.1', hsToken({}, { alg: null }), 'algorithm_not_allowed');
  deny('alg an array', 'RFC 7515 §4.1.1', hsToken({}, { alg: ['HS256'] }), 'algorithm_not_allowed');
  deny(
    'alg lower case hs256',
    'RFC 7518 §3.1',
    hsToken({}, { alg: 'hs256' }),
    'algorithm_not_allowed',
  );
  deny(
    'alg with a trailing space',
    'RFC 7515 §4.1.1',
    hsToken({}, { alg: 'HS256 ' }),
    'algorithm_not_allowed',
  );
  deny(
    'HS512 with the trusted secret (not allowed)',
    'ASVS 9.1.2',
    jws({ ...HS, alg: 'HS512' }, claims(), hmac(keys.hs256, 'sha512')),
    'algorithm_not_allowed',
  );
  deny(
    'HS384 with the trusted secret (not allowed)',
    'ASVS 9.1.2',
    jws({ ...HS, alg: 'HS384' }, claims(), hmac(keys.hs256, 'sha384')),
    'algorithm_not_allowed',
  );
  deny(
    'RS512 with the trusted key (not allowed)',
    'ASVS 9.1.2',
    jws({ ...RS, alg: 'RS512' }, claims(), rsa(keys.rs256.privateKey, 'sha512')),
    'algorithm_not_allowed',
  );
  deny(
    'PS256 with the trusted RSA key (not allowed)',
    'RFC 8725 §3.1',
    jws({ ...RS, alg: 'PS256' }, claims(), pss(keys.rs256.privateKey)),
    'algorithm_not_allowed',
  );
  deny(
    'ES384 (not allowed)',
    'ASVS 9.1.2',
    jws({ ...ES, alg: 'ES384' }, claims(), ecdsa(keys.es256.privateKey, 'ieee-p1363', 'sha384')),
    'algorithm_not_allowed',
  );
  deny(
    'EdDSA (not allowed)',
    'ASVS 9.1.2',
    jws({ alg: 'EdDSA', kid: 'es-1' }, claims(), 'AAAA'),
    'algorithm_not_allowed',
  );
  deny(
    'alg dir (a JWE algorithm)',
    'RFC 8725 §3.1',
    jws({ alg: 'dir', enc: 'A128GCM' }, claims(), 'AAAA'),
    'algorithm_not_allowed',
  );
  deny(
    'alg RSA-OAEP (a JWE algorithm)',
    'RFC 8725 §3.1',
    jws({ alg: 'RSA-OAEP', kid: 'rs-1' }, claims(), 'AAAA'),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 keyed with the RSA public PEM, kid rs-1',
    'jwt_tool -X k',
    jws({ ...HS, kid: 'rs-1' }, claims(), hmac(rsaPem)),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 keyed with the RSA public PEM, kid hs-1',
    'jwt_tool -X k',
    jws(HS, claims(), hmac(rsaPem)),
    'invalid_signature',
  );
  deny(
    'HS256 keyed with the RSA public PEM, no trailing newline',
    'jwt_tool -X k',
    jws({ ...HS, kid: 'rs-1' }, claims(), hmac(rsaPem.trim())),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 keyed with the RSA public key DER',
    'RFC 8725 §2.1',
    jws({ ...HS, kid: 'rs-1' }, claims(), hmac(rsaDer)),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 keyed with the RSA modulus (JWK n)',
    'RFC 8725 §2.1',
    jws({ ...HS, kid: 'rs-1' }, claims(), hmac(String(rsaJwk.n))),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 keyed with the EC public PEM, kid es-1',
    'jwt_tool -X k',
    jws({ ...HS, kid: 'es-1' }, claims(), hmac(ecPem)),
    'algorithm_not_allowed',
  );
  deny(
    'RS256 by an attacker key under kid hs-1',
    'RFC 8725 §3.1',
    jws({ ...RS, kid: 'hs-1' }, claims(), rsa(attacker.privateKey)),
    'algorithm_not_allowed',
  );
  deny(
    'ES256 by the trusted EC key under kid rs-1',
    'RFC 8725 §3.1',
    jws({ ...ES, kid: 'rs-1' }, claims(), es),
    'algorithm_not_allowed',
  );
  deny(
    'RS256 by the trusted RSA key under kid es-1',
    'RFC 8725 §3.1',
    jws({ ...RS, kid: 'es-1' }, claims(), rs),
    'algorithm_not_allowed',
  );
  deny(
    'HS256 with an empty secret',
    'jwt_tool -X b',
    jws(HS, claims(), hmac('')),
    'invalid_signature',
  );
  deny(
    'HS256 with a dictionary secret',
    'jwt_tool -C',
    jws(HS, claims(), hmac('secret')),
    'invalid_signature',
  );
  deny(
    'HS256 keyed with the kid itself',
    'jwt_tool -C',
    jws(HS, claims(), hmac('hs-1')),
    'invalid_signature',
  );
  deny(
    'HS256 with an attacker secret and no kid',
    'RFC 8725 §3.1',
    jws({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('attacker-secret-0123456789abcdef')),
    'key_unknown',
  );

  // ── Signatures (ASVS 9.1.1; jwt_tool -X n, psychic signature CVE-2022-21449) ───────────────────
  const v = valid();
  deny(
    'signature stripped, trailing dot kept',
    'jwt_tool -X n',
    seg(v, 2, ''),
    'invalid_signature',
  );
  // One character encodes no whole byte (RFC 4648 §3.5): not a base64url segment at all.
  deny('signature a single character', 'ASVS 9.1.1', seg(v, 2, 'A'), 'token_malformed');
  deny(
    'HMAC signature all zeros',
    'ASVS 9.1.1',
    seg(v, 2, b64(Buffer.alloc(32))),
    'invalid_signature',
  );
  deny(
    'HMAC signature with one bit flipped',
    'ASVS 9.1.1',
    seg(v, 2, b64(Buffer.from(sigOf(v).map((x, i) => (i === 5 ? x ^ 1 : x))))),
    'invalid_signature',
  );
  deny(
    'HMAC signature truncated to 16 bytes',
    'RFC 7518 §3.2',
    seg(v, 2, b64(sigOf(v).subarray(0, 16))),
    'invalid_signature',
  );
  deny(
    'HMAC signature doubled',
    'ASVS 9.1.1',
    seg(v, 2, b64(Buffer.concat([sigOf(v), sigOf(v)]))),
    'invalid_signature',
  );
  deny(
    'signature of another valid token',
    'ASVS 9.1.1',
    seg(v, 2, valid().split('.')[2]!),
    'invalid_signature',
  );
  deny(
    'scope escalated, old signature',
    'jwt_tool -I',
    seg(v, 1, b64(claims({ scope: 'customers:read customers:write admin' }))),
    'invalid_signature',
  );
  deny(
    'sub changed, old signature',
    'jwt_tool -I',
    seg(v, 1, b64(claims({ sub: 'admin' }))),
    'invalid_signature',
  );
  deny(
    'exp extended, old signature',
    'jwt_tool -I',
    seg(v, 1, b64(claims({ exp: now + 3000 }))),
    'invalid_signature',
  );
  deny(
    'typ changed in the header, old signature',
    'jwt_tool -I',
    seg(v, 0, b64({ ...HS, typ: 'at+jwt' })),
    'invalid_signature',
  );
  deny(
    'kid switched to rs-1, HMAC signature kept',
    'RFC 8725 §3.1',
    seg(v, 0, b64({ ...HS, kid: 'rs-1' })),
    'algorithm_not_allowed',
  );
  const esInput = `${b64(ES)}.${b64(claims())}`;
  const esValid = `${esInput}.${b64(es(esInput))}`;
  const n256 = Buffer.from(
    'FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551',
    'hex',
  );
  deny(
    'ES256 psychic signature r = s = 0',
    'CVE-2022-21449',
    `${esInput}.${b64(Buffer.alloc(64))}`,
    'invalid_signature',
  );
  deny(
    'ES256 r = s = n',
    'CVE-2022-21449',
    `${esInput}.${b64(Buffer.concat([n256, n256]))}`,
    'invalid_signature',
  );
  deny(
    'ES256 r = 0, s = 1',
    'CVE-2022-21449',
    `${esInput}.${b64(Buffer.concat([Buffer.alloc(32), Buffer.alloc(31), Buffer.from([1])]))}`,
    'invalid_signature',
  );
  deny(
    'ES256 DER-encoded signature by the trusted key',
    'jsonwebtoken',
    `${esInput}.${b64(ecdsa(keys.es256.privateKey, 'der')(esInput))}`,
    'invalid_signature',
  );
  deny(
    'ES256 signature truncated to 63 bytes',
    'RFC 7518 §3.4',
    seg(esValid, 2, b64(sigOf(esValid).subarray(0, 63))),
    'invalid_signature',
  );
  deny(
    'ES256 signature with a 65th byte',
    'RFC 7518 §3.4',
    seg(esValid, 2, b64(Buffer.concat([sigOf(esValid), Buffer.from([0])]))),
    'invalid_signature',
  );
  deny(
    'ES256 by an attacker EC key',
    'ASVS 9.1.1',
    jws(ES, claims(), ecdsa(attackerEc.privateKey)),
    'invalid_signature',
  );
  const rsValid = jws(RS, claims(), rs);
  deny(
    'RS256 signature with a trailing zero byte',
    'ASVS 9.1.1',
    seg(rsValid, 2, b64(Buffer.concat([sigOf(rsValid), Buffer.from([0])]))),
    'invalid_signature',
  );
  deny(
    'RS256 signature with a leading zero byte',
    'ASVS 9.1.1',
    seg(rsValid, 2, b64(Buffer.concat([Buffer.from([0]), sigOf(rsValid)]))),
    'invalid_signature',
  );
  deny(
    'RS256 signature missing its last byte',
    'ASVS 9.1.1',
    seg(rsValid, 2, b64(sigOf(rsValid).subarray(0, 255))),
    'invalid_signature',
  );
  deny(
    'RS256 signature all zeros',
    'ASVS 9.1.1',
    seg(rsValid, 2, b64(Buffer.alloc(256))),
    'invalid_signature',
  );
  deny(
    'RS256 signature equal to 1',
    'ASVS 9.1.1',
    seg(rsValid, 2, b64(Buffer.concat([Buffer.alloc(255), Buffer.from([1])]))),
    'invalid_signature',
  );
  deny(
    'RS256 by an attacker key',
    'ASVS 9.1.1',
    jws(RS, claims(), rsa(attacker.privateKey)),
    'invalid_signature',
  );
  // The same signature bytes spelled with other unused low bits in the last character: RSA and
  // ECDSA verifiers decode before comparing, so only a canonical-encoding check refuses them.
  const respell = (segment: string) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const unused = [0, 0, 4, 2][segment.length % 4]!;
    const last = alphabet.indexOf(segment[segment.length - 1]!);
    return `${segment.slice(0, -1)}${alphabet[last ^ ((1 << unused) - 1)]}`;
  };
  deny(
    'RS256 signature respelled (same bytes, other unused bits)',
    'RFC 7515 §2, RFC 4648 §3.5',
    seg(rsValid, 2, respell(rsValid.split('.')[2]!)),
    'token_malformed',
  );
  deny(
    'ES256 signature respelled (same bytes, other unused bits)',
    'RFC 7515 §2, RFC 4648 §3.5',
    seg(esValid, 2, respell(esValid.split('.')[2]!)),
    'token_malformed',
  );

  // ── Header parameters (RFC 7515 §4.1, RFC 8725 §3.10; ASVS 9.1.3; jwt_tool -X s, -X i) ─────────
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
  const bySelf = rsa(attacker.privateKey);
  deny(
    'jku to an attacker JWKS',
    'jwt_tool -X s',
    jws({ ...RS, jku: 'https://evil.test/jwks.json' }, claims(), bySelf),
    'token_malformed',
  );
  deny(
    'jku to the issuer host',
    'jwt_tool -X s',
    jws({ ...RS, jku: `${TEST_ISSUER}.well-known/jwks.json` }, claims(), bySelf),
    'token_malformed',
  );
  deny(
    'x5u to an attacker certificate',
    'RFC 8725 §3.10',
    jws({ ...RS, x5u: 'https://evil.test/cert.pem' }, claims(), bySelf),
    'token_malformed',
  );
  deny(
    'embedded attacker jwk, kid rs-1',
    'jwt_tool -X i',
    jws({ ...RS, jwk: attackerJwk }, claims(), bySelf),
    'token_malformed',
  );
  deny(
    'embedded oct jwk with an HMAC',
    'jwt_tool -X i',
    jws({ ...HS, jwk: { kty: 'oct', k: b64('attacker') } }, claims(), hmac('attacker')),
    'token_malformed',
  );
  deny(
    'x5c with an attacker signature (x5c is never used)',
    'RFC 7515 §4.1.6',
    jws({ ...RS, x5c: ['MIIB'] }, claims(), bySelf),
    'invalid_signature',
  );
  deny('crit naming exp', 'RFC 7515 §4.1.11', hsToken({}, { crit: ['exp'] }), 'token_malformed');
  deny('crit empty array', 'RFC 7515 §4.1.11', hsToken({}, { crit: [] }), 'token_malformed');
  deny('crit a string', 'RFC 7515 §4.1.11', hsToken({}, { crit: 'b64' }), 'token_malformed');
  deny(
    'crit with an unknown extension',
    'jsonwebtoken',
    hsToken({}, { crit: ['urn:x'], 'urn:x': 1 }),
    'token_malformed',
  );
  deny(
    'b64 false with crit',
    'RFC 7797',
    hsToken({}, { b64: false, crit: ['b64'] }),
    'token_malformed',
  );
  deny('b64 true', 'RFC 7797', hsToken({}, { b64: true }), 'token_malformed');
  deny(
    'alg twice: none, then HS256',
    'jsonwebtoken',
    hsRawHeader('{"alg":"none","alg":"HS256","typ":"JWT","kid":"hs-1"}'),
    'token_malformed',
  );
  deny(
    'alg twice: HS256, then none',
    'jsonwebtoken',
    hsRawHeader('{"alg":"HS256","alg":"none","typ":"JWT","kid":"hs-1"}'),
    'token_malformed',
  );
  deny(
    'kid twice',
    'jsonwebtoken',
    hsRawHeader('{"alg":"HS256","kid":"rs-1","kid":"hs-1"}'),
    'token_malformed',
  );
  deny(
    'alg twice, one spelled with a \\u escape',
    'RFC 8725 §3.1',
    hsRawHeader('{"\\u0061lg":"none","alg":"HS256","kid":"hs-1"}'),
    'token_malformed',
  );
  deny(
    'header with a byte-order mark',
    'RFC 8259 §8.1',
    hsRawHeader(`\ufeff${JSON.stringify(HS)}`),
    'token_malformed',
  );
  deny(
    'header with trailing garbage',
    'RFC 7515 §7.2',
    hsRawHeader(`${JSON.stringify(HS)}x`),
    'token_malformed',
  );
  deny('header JSON null', 'RFC 7515 §5.2', hsRawHeader('null'), 'token_malformed');
  deny(
    'header a JSON array',
    'RFC 7515 §5.2',
    hsRawHeader(JSON.stringify([HS])),
    'token_malformed',
  );
  deny('header a JSON string', 'RFC 7515 §5.2', hsRawHeader('"HS256"'), 'token_malformed');
  deny(
    'header with single quotes (JSON5)',
    'RFC 8259',
    hsRawHeader("{'alg':'HS256','kid':'hs-1'}"),
    'token_malformed',
  );
  deny(
    'header nested 2000 arrays deep, attacker-signed',
    'ASVS 9.1.1',
    jws(
      `{"alg":"HS256","kid":"hs-1","x":${'['.repeat(2000)}${']'.repeat(2000)}}`,
      claims(),
      hmac('attacker'),
    ),
    'invalid_signature',
  );
  deny(
    'cty JWT with a nested token as payload',
    'RFC 8725 §2.8',
    jws({ ...HS, cty: 'JWT' }, valid(), hs),
    'token_malformed',
  );
  deny(
    "kid SQL injection ' UNION SELECT",
    'jwt_tool -I (kid)',
    jws({ ...HS, kid: "x' UNION SELECT 'attacker' --" }, claims(), hmac('attacker')),
    'key_unknown',
  );
  deny(
    'kid path traversal to /dev/null, empty key',
    'jwt_tool -I (kid)',
    jws({ ...HS, kid: '../../../../../../dev/null' }, claims(), hmac('')),
    'key_unknown',
  );
  deny(
    'kid command injection',
    'jwt_tool -I (kid)',
    jws({ ...HS, kid: 'hs-1|curl evil.test' }, claims(), hmac('attacker')),
    'key_unknown',
  );
  deny(
    'kid in upper case',
    'RFC 7515 §4.1.4',
    jws({ ...HS, kid: 'HS-1' }, claims(), hs),
    'key_unknown',
  );
  deny(
    'kid with a leading space',
    'RFC 7515 §4.1.4',
    jws({ ...HS, kid: ' hs-1' }, claims(), hs),
    'key_unknown',
  );
  for (const kid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    deny(
      `kid ${kid}`,
      'prototype pollution',
      jws({ ...HS, kid }, claims(), hmac('attacker')),
      'key_unknown',
    );
  }
  deny(
    'kid with NUL',
    'RFC 8725 §3.10',
    jws({ ...HS, kid: 'hs-1\u0000' }, claims(), hs),
    'token_malformed',
  );
  deny(
    'kid of 300 characters',
    'RFC 8725 §3.10',
    jws({ ...HS, kid: 'k'.repeat(300) }, claims(), hs),
    'token_malformed',
  );
  deny(
    'kid an object',
    'RFC 7515 §4.1.4',
    jws({ ...HS, kid: { $ne: null } }, claims(), hs),
    'token_malformed',
  );
  deny(
    'kid an array',
    'RFC 7515 §4.1.4',
    jws({ ...HS, kid: ['hs-1', 'rs-1'] }, claims(), hs),
    'token_malformed',
  );
  // Another kind of JWT, signed by the trusted key, passed off as an access token.
  for (const typ of ['dpop+jwt', 'logout+jwt', 'application/secevent+jwt', 'JWE']) {
    deny(`typ ${typ}`, 'RFC 8725 §3.11, RFC 9068 §2.1', hsToken({}, { typ }), 'token_malformed');
  }
  // A sender-constrained token replayed as a plain Bearer token, without its proof (the apps
  // have no dpop option).
  deny(
    'cnf.jkt (DPoP-bound) sent as Bearer',
    'RFC 9449 §6.1, §7.2',
    hsToken({ cnf: { jkt: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg' } }),
    'dpop_required',
  );

  // ── Time and lifetime (RFC 7519 §4.1.4-6; ASVS 9.2.1; what jsonwebtoken lets through) ─────────
  deny(
    'expired beyond the tolerance',
    'ASVS 9.2.1',
    hsToken({ iat: now - 200, exp: now - 60 }),
    'token_expired',
  );
  deny(
    'exp a numeric string',
    'jsonwebtoken',
    hsToken({ exp: String(now + 300) }),
    'token_claims_invalid',
  );
  deny(
    'exp the string Infinity',
    'jsonwebtoken',
    hsToken({ exp: 'Infinity' }),
    'token_claims_invalid',
  );
  deny(
    'exp 1e400 (Infinity once parsed)',
    'jsonwebtoken',
    hsRaw(claimsWith('exp', '1e400')),
    'token_claims_invalid',
  );
  deny('exp -1e400', 'jsonwebtoken', hsRaw(claimsWith('exp', '-1e400')), 'token_claims_invalid');
  deny('exp null', 'jsonwebtoken', hsToken({ exp: null }), 'token_claims_invalid');
  deny('exp true', 'jsonwebtoken', hsToken({ exp: true }), 'token_claims_invalid');
  deny('exp an array', 'jsonwebtoken', hsToken({ exp: [now + 300] }), 'token_claims_invalid');
  deny('exp an object', 'jsonwebtoken', hsToken({ exp: { $gt: 0 } }), 'token_claims_invalid');
  deny('exp negative', 'RFC 7519 §2', hsToken({ exp: -1 }), 'token_claims_invalid');
  deny('exp a hex string', 'jsonwebtoken', hsToken({ exp: '0x7fffffff' }), 'token_claims_invalid');
  deny('exp missing', 'ASVS 9.2.1', hsToken({ exp: undefined }), 'token_claims_invalid');
  cases.push({
    name: 'exp before iat (both live)',
    source: 'RFC 7519 §4.1.4',
    // Minted at send time: both times must still be within the tolerance when it is checked.
    headers: () => {
      const at = Math.floor(Date.now() / 1000);
      const token = hsToken({ iat: at + 2, exp: at + 1 });
      minted.push(token);
      return { authorization: `Bearer ${token}` };
    },
    status: 401,
    code: 'token_claims_invalid',
    secrets: [],
  });
  deny(
    'iat missing (jsonwebtoken accepts it)',
    'jsonwebtoken',
    hsToken({ iat: undefined }),
    'token_claims_invalid',
  );
  deny('iat a string', 'jsonwebtoken', hsToken({ iat: String(now) }), 'token_claims_invalid');
  deny('iat null', 'jsonwebtoken', hsToken({ iat: null }), 'token_claims_invalid');
  deny('iat 1e400', 'jsonwebtoken', hsRaw(claimsWith('iat', '1e400')), 'token_claims_invalid');
  deny('iat negative', 'RFC 7519 §2', hsToken({ iat: -1 }), 'token_claims_invalid');
  deny(
    'iat an hour in the future',
    'RFC 7519 §4.1.6',
    hsToken({ iat: now + 3600, exp: now + 3900 }),
    'token_not_yet_valid',
  );
  deny(
    'lifetime abuse: iat in 1970, exp soon',
    'jsonwebtoken',
    hsToken({ iat: 0 }),
    'token_lifetime_exceeded',
  );
  deny(
    'lifetime abuse: exp ten years on',
    'jsonwebtoken',
    hsToken({ exp: now + 315_360_000 }),
    'token_lifetime_exceeded',
  );
  deny(
    'lifetime abuse: exp 1e300',
    'jsonwebtoken',
    hsToken({ exp: 1e300 }),
    'token_lifetime_exceeded',
  );
  deny(
    'lifetime abuse: exp MAX_SAFE_INTEGER',
    'jsonwebtoken',
    hsToken({ exp: Number.MAX_SAFE_INTEGER }),
    'token_lifetime_exceeded',
  );
  deny(
    'lifetime one second above the maximum',
    'DESIGN',
    hsToken({ exp: now + 3601 }),
    'token_lifetime_exceeded',
  );
  deny(
    'nbf ten minutes in the future',
    'RFC 7519 §4.1.5',
    hsToken({ nbf: now + 600 }),
    'token_not_yet_valid',
  );
  deny('nbf a string', 'jsonwebtoken', hsToken({ nbf: String(now) }), 'token_claims_invalid');
  deny('nbf null', 'jsonwebtoken', hsToken({ nbf: null }), 'token_claims_invalid');
  deny('nbf 1e400', 'jsonwebtoken', hsRaw(claimsWith('nbf', '1e400')), 'token_claims_invalid');
  deny('nbf an array', 'jsonwebtoken', hsToken({ nbf: [0] }), 'token_claims_invalid');

  // ── Claims (RFC 7519 §4.1; ASVS 9.2.3, 9.2.4; ASVS V10 resource server) ─────────────────────
  deny(
    'iss of another issuer',
    'ASVS 9.2.4',
    hsToken({ iss: 'https://evil.test/' }),
    'issuer_invalid',
  );
  deny(
    'iss without its trailing slash',
    'ASVS 9.2.4',
    hsToken({ iss: TEST_ISSUER.slice(0, -1) }),
    'issuer_invalid',
  );
  deny(
    'iss in upper case',
    'ASVS 9.2.4',
    hsToken({ iss: TEST_ISSUER.toUpperCase() }),
    'issuer_invalid',
  );
  deny(
    'iss an array holding the issuer',
    'RFC 7519 §4.1.1',
    hsToken({ iss: [TEST_ISSUER] }),
    'issuer_invalid',
  );
  deny('iss a number', 'RFC 7519 §4.1.1', hsToken({ iss: 1 }), 'issuer_invalid');
  deny('iss missing', 'ASVS 9.2.4', hsToken({ iss: undefined }), 'issuer_invalid');
  deny('aud of another API', 'ASVS 9.2.3', hsToken({ aud: 'another-api' }), 'audience_invalid');
  deny('aud missing', 'ASVS 9.2.3', hsToken({ aud: undefined }), 'audience_invalid');
  deny('aud an empty array', 'ASVS 9.2.3', hsToken({ aud: [] }), 'audience_invalid');
  deny(
    'aud an array of other APIs',
    'ASVS 9.2.3',
    hsToken({ aud: ['a', 'b'] }),
    'audience_invalid',
  );
  deny(
    'aud in upper case',
    'ASVS 9.2.3',
    hsToken({ aud: TEST_AUDIENCE.toUpperCase() }),
    'audience_invalid',
  );
  deny(
    'aud with a trailing space',
    'ASVS 9.2.3',
    hsToken({ aud: `${TEST_AUDIENCE} ` }),
    'audience_invalid',
  );
  deny('aud a number', 'RFC 7519 §4.1.3', hsToken({ aud: 1 }), 'audience_invalid');
  deny('sub missing', 'ASVS 10.3.3', hsToken({ sub: undefined }), 'token_claims_invalid');
  deny('sub empty', 'ASVS 10.3.3', hsToken({ sub: '' }), 'token_claims_invalid');
  deny('sub a number', 'RFC 7519 §4.1.2', hsToken({ sub: 42 }), 'token_claims_invalid');
  deny('sub an object', 'RFC 7519 §4.1.2', hsToken({ sub: { $ne: '' } }), 'token_claims_invalid');
  deny(
    'sub with a newline (log injection)',
    'ASVS 16',
    hsToken({ sub: 'user\nadmin' }),
    'token_claims_invalid',
  );
  deny(
    'sub of 257 characters',
    'DESIGN',
    hsToken({ sub: 's'.repeat(257) }),
    'token_claims_invalid',
  );
  deny('jti missing', 'RFC 7519 §4.1.7', hsToken({ jti: undefined }), 'token_claims_invalid');
  deny('jti a number', 'RFC 7519 §4.1.7', hsToken({ jti: 7 }), 'token_claims_invalid');
  deny('jti with a carriage return', 'ASVS 16', hsToken({ jti: 'a\rb' }), 'token_claims_invalid');
  deny('client_id a number', 'RFC 8693 §4.3', hsToken({ client_id: 1 }), 'token_claims_invalid');
  deny(
    'client_id with DEL',
    'ASVS 16',
    hsToken({ client_id: 'web\u007fapp' }),
    'token_claims_invalid',
  );
  deny(
    'scope an array',
    'RFC 9068 §2.2.3',
    hsToken({ scope: ['customers:read'] }),
    'token_claims_invalid',
  );
  deny('scope a number', 'RFC 9068 §2.2.3', hsToken({ scope: 1 }), 'token_claims_invalid');
  deny(
    'scope with a NUL',
    'RFC 9068 §2.2.3',
    hsToken({ scope: 'customers:read\u0000' }),
    'token_claims_invalid',
  );
  add('scope missing', 'ASVS 10.3.2', hsToken({ scope: undefined }), 403, 'insufficient_scope');
  add(
    'scope write only',
    'ASVS 10.3.2',
    hsToken({ scope: 'customers:write' }),
    403,
    'insufficient_scope',
  );
  add(
    'scope in upper case',
    'ASVS 10.3.2',
    hsToken({ scope: 'CUSTOMERS:READ' }),
    403,
    'insufficient_scope',
  );
  add(
    'scope wildcard customers:*',
    'ASVS 10.3.2',
    hsToken({ scope: 'customers:*' }),
    403,
    'insufficient_scope',
  );
  add(
    'scope prefix customers',
    'ASVS 10.3.2',
    hsToken({ scope: 'customers' }),
    403,
    'insufficient_scope',
  );
  add(
    'scope comma-joined',
    'RFC 6749 §3.3',
    hsToken({ scope: 'customers:read,customers:write' }),
    403,
    'insufficient_scope',
  );
  add(
    'scope in scp (not read)',
    'RFC 9068 §2.2.3',
    hsToken({ scope: undefined, scp: ['customers:read'] }),
    403,
    'insufficient_scope',
  );
  add(
    'scope in permissions (not configured)',
    'RFC 9068',
    hsToken({ scope: undefined, permissions: ['customers:read'] }),
    403,
    'insufficient_scope',
  );

  // ── Payload (RFC 7519 §7.2; what jsonwebtoken lets through) ───────────────────────────────────
  deny('payload JSON null', 'jsonwebtoken', hsRaw('null'), 'token_malformed');
  deny('payload JSON true', 'jsonwebtoken', hsRaw('true'), 'token_malformed');
  deny('payload a JSON number', 'jsonwebtoken', hsRaw('42'), 'token_malformed');
  deny('payload a JSON string', 'jsonwebtoken', hsRaw('"customers:read"'), 'token_malformed');
  deny('payload an empty array', 'jsonwebtoken', hsRaw('[]'), 'token_malformed');
  deny(
    'payload an array of claims',
    'jsonwebtoken',
    hsRaw(JSON.stringify([claims()])),
    'token_malformed',
  );
  deny(
    'payload truncated JSON',
    'RFC 7519 §7.2',
    hsRaw(JSON.stringify(claims()).slice(0, -1)),
    'token_malformed',
  );
  deny(
    'payload with a trailing comma',
    'RFC 8259',
    hsRaw(JSON.stringify(claims()).replace(/}$/, ',}')),
    'token_malformed',
  );
  deny(
    'payload with a comment',
    'RFC 8259',
    hsRaw(`/*x*/${JSON.stringify(claims())}`),
    'token_malformed',
  );
  deny(
    'payload with a byte-order mark',
    'RFC 8259 §8.1',
    hsRaw(`\ufeff${JSON.stringify(claims())}`),
    'token_malformed',
  );
  deny('payload empty', 'RFC 7519 §7.2', hsRaw(''), 'token_malformed');
  deny(
    'payload with invalid UTF-8',
    'RFC 8259 §8.1',
    jws(
      HS,
      Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
      hs,
    ),
    'token_malformed',
  );
  deny(
    'sub twice: revoked subject, then another',
    'jsonwebtoken',
    hsRaw(JSON.stringify(claims()).replace('"sub":', '"sub":"admin","sub":')),
    'token_malformed',
  );
  deny(
    'exp twice',
    'jsonwebtoken',
    hsRaw(JSON.stringify(claims()).replace('"exp":', `"exp":${now + 999_999},"exp":`)),
    'token_malformed',
  );
  deny(
    'scope twice',
    'jsonwebtoken',
    hsRaw(JSON.stringify(claims()).replace('"scope":', '"scope":"admin","scope":')),
    'token_malformed',
  );

  // ── Serialisation and encoding (RFC 7515 §3, §7.1; RFC 7516) ──────────────────────────────────
  deny(
    'JWE compact (five parts)',
    'RFC 8725 §3.9',
    `${b64({ alg: 'dir', enc: 'A128GCM' })}..${b64('iv')}.${b64('ct')}.${b64('tag')}`,
    'token_malformed',
  );
  deny('two parts', 'RFC 7515 §7.1', v.split('.').slice(0, 2).join('.'), 'token_malformed');
  deny('four parts', 'RFC 7515 §7.1', `${v}.${v.split('.')[2]}`, 'token_malformed');
  deny('one part', 'RFC 7515 §7.1', v.split('.')[1]!, 'token_malformed');
  deny('only dots', 'RFC 7515 §7.1', '....', 'token_malformed');
  deny(
    "standard base64 '+' in the payload",
    'RFC 7515 §2',
    seg(v, 1, `${v.split('.')[1]}+`),
    'token_malformed',
  );
  deny(
    "standard base64 '/' in the header",
    'RFC 7515 §2',
    seg(v, 0, `/${v.split('.')[0]}`),
    'token_malformed',
  );
  deny(
    "'=' padding on the header",
    'RFC 7515 §2',
    seg(v, 0, `${v.split('.')[0]}=`),
    'token_malformed',
  );
  deny("'~' in the signature", 'RFC 7515 §2', seg(v, 2, `${v.split('.')[2]}~`), 'token_malformed');
  deny(
    'JWS JSON serialisation as the token',
    'RFC 7515 §7.2',
    b64({ payload: b64(claims()), signatures: [] }),
    'token_malformed',
  );
  deny('token of 8193 bytes', 'DESIGN', `${v}${'A'.repeat(8193 - v.length)}`, 'token_too_large');
  deny('token of 12 KB', 'ASVS 13', `${'a'.repeat(6000)}.${'b'.repeat(6000)}.c`, 'token_too_large');

  // ── The Authorization header and where credentials come from (RFC 6750; ASVS V10) ────────────
  const header = (
    name: string,
    source: string,
    headers: Readonly<Record<string, string | readonly string[]>>,
    status: 400 | 401,
    code: ErrorCode,
    path?: string,
  ) =>
    cases.push({
      name,
      source,
      headers,
      status,
      code,
      secrets: [v],
      ...(path === undefined ? {} : { path }),
    });
  header(
    'Bearer with no token',
    'RFC 6750 §2.1',
    { authorization: 'Bearer' },
    401,
    'token_malformed',
  );
  header(
    'Bearer, a tab, the token',
    'RFC 6750 §2.1',
    { authorization: `Bearer\t${v}` },
    401,
    'token_malformed',
  );
  header(
    'Bearer glued to the token',
    'RFC 6750 §2.1',
    { authorization: `Bearer${v}` },
    401,
    'token_malformed',
  );
  header(
    'Basic credentials',
    'RFC 7617',
    { authorization: `Basic ${b64('admin:admin')}` },
    401,
    'token_malformed',
  );
  header(
    'Digest scheme',
    'RFC 7616',
    { authorization: 'Digest username="admin", response="x"' },
    401,
    'token_malformed',
  );
  header('JWT scheme', 'RFC 6750 §2.1', { authorization: `JWT ${v}` }, 401, 'token_malformed');
  header('DPoP scheme', 'RFC 9449 §7.1', { authorization: `DPoP ${v}` }, 401, 'token_malformed');
  header('bare token, no scheme', 'RFC 6750 §2.1', { authorization: v }, 401, 'token_malformed');
  header(
    'the token quoted',
    'RFC 6750 §2.1',
    { authorization: `Bearer "${v}"` },
    401,
    'token_malformed',
  );
  header(
    'two tokens, comma-joined',
    'RFC 9110 §5.3',
    { authorization: `Bearer ${v}, Bearer ${v}` },
    401,
    'token_malformed',
  );
  header(
    'two tokens, space-separated',
    'RFC 6750 §2.1',
    { authorization: `Bearer ${v} ${v}` },
    401,
    'token_malformed',
  );
  header('Bearer null', 'jwt_tool', { authorization: 'Bearer null' }, 401, 'token_malformed');
  header(
    'Bearer undefined',
    'jwt_tool',
    { authorization: 'Bearer undefined' },
    401,
    'token_malformed',
  );
  header(
    'Bearer [object Object]',
    'jwt_tool',
    { authorization: 'Bearer [object Object]' },
    401,
    'token_malformed',
  );
  header(
    'the token percent-encoded',
    'RFC 6750 §2.1',
    { authorization: `Bearer ${v.replaceAll('.', '%2E')}` },
    401,
    'token_malformed',
  );
  header(
    'a Latin-1 letter in the token',
    'RFC 6750 §2.1',
    { authorization: `Bearer ${v}\u00e9` },
    401,
    'token_malformed',
  );
  header(
    'two Authorization headers',
    'RFC 6750 §3.1',
    { authorization: [`Bearer ${v}`, `Bearer ${v}`] },
    400,
    'token_multiple',
  );
  header(
    'a valid and a forged Authorization header',
    'RFC 6750 §3.1',
    { authorization: [`Bearer ${seg(v, 2, 'AAAA')}`, `Bearer ${v}`] },
    400,
    'token_multiple',
  );
  header(
    'header plus ?access_token=',
    'RFC 6750 §2.3',
    { authorization: `Bearer ${v}` },
    400,
    'token_multiple',
    `/customers/c1?access_token=${v}`,
  );
  header(
    'only ?access_token= (query tokens off)',
    'RFC 6750 §5.3',
    {},
    401,
    'token_missing',
    `/customers/c1?access_token=${v}`,
  );
  header(
    '?access_token= twice',
    'RFC 6750 §2.3',
    {},
    401,
    'token_missing',
    `/customers/c1?access_token=${v}&access_token=${v}`,
  );
  header(
    'an access_token cookie (cookies off)',
    'ASVS 10.3',
    { cookie: `access_token=${v}` },
    401,
    'token_missing',
  );
  header('x-access-token header', 'ASVS 10.3', { 'x-access-token': v }, 401, 'token_missing');
  header(
    'Proxy-Authorization: Bearer',
    'RFC 9110 §11.7.2',
    { 'proxy-authorization': `Bearer ${v}` },
    401,
    'token_missing',
  );
  cases.push({
    name: 'token of 20 KB (above Node’s header limit)',
    source: 'ASVS 13',
    headers: { authorization: `Bearer ${'a'.repeat(10_000)}.${'b'.repeat(10_000)}.c` },
    status: 431,
    secrets: [],
  });

  // Requests an HTTP client will not send: Node's parser answers 400 before any middleware.
  const rawRequest = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
  const rawCase = (name: string, source: string, lines: string[], status: 400, code?: ErrorCode) =>
    cases.push({
      name,
      source,
      raw: rawRequest(lines),
      status,
      ...(code ? { code } : {}),
      secrets: [v],
    });
  rawCase(
    'obs-fold continuation of Authorization',
    'RFC 9112 §5.2',
    ['GET /customers/c1 HTTP/1.1', 'Host: x', 'Authorization: Bearer', ` ${v}`],
    400,
  );
  rawCase(
    'NUL in the Authorization value',
    'RFC 9110 §5.5',
    ['GET /customers/c1 HTTP/1.1', 'Host: x', `Authorization: Bearer ${v}\u0000x`],
    400,
  );
  rawCase(
    'space before the colon',
    'RFC 9112 §5.1',
    ['GET /customers/c1 HTTP/1.1', 'Host: x', `Authorization : Bearer ${v}`],
    400,
  );
  rawCase(
    'Content-Length with Transfer-Encoding',
    'RFC 9112 §6.1',
    [
      'POST /customers/c1 HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${v}`,
      'Content-Length: 4',
      'Transfer-Encoding: chunked',
    ],
    400,
  );
  rawCase(
    'two Authorization lines in different case',
    'RFC 6750 §3.1',
    [
      'GET /customers/c1 HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${v}`,
      `authorization: Bearer ${v}`,
      'Connection: close',
    ],
    400,
    'token_multiple',
  );

  // ── Getting around a revocation or a withdrawal (DESIGN guarantees; ASVS 9.2, 10.3) ─────────
  const revokedJti = `revoked-${run}`;
  const esRevoked = jws(ES, claims({ jti: revokedJti }), es);
  const esSig = sigOf(esRevoked);
  const s = BigInt(`0x${esSig.subarray(32).toString('hex')}`);
  const highS = Buffer.from(
    (BigInt(`0x${n256.toString('hex')}`) - s).toString(16).padStart(64, '0'),
    'hex',
  );
  const revoke = (w: Warden) => w.revokeToken(revokedJti, { expiresAt: (now + 300) * 1000 });
  add('revoked token id', 'DESIGN', esRevoked, 401, 'token_revoked', { setup: revoke });
  add(
    'revoked token id, ECDSA signature re-encoded (s → n − s)',
    'RFC 8725 §3.1',
    seg(esRevoked, 2, b64(Buffer.concat([esSig.subarray(0, 32), highS]))),
    401,
    'token_revoked',
    { setup: revoke },
  );
  cases.push({
    name: 'revoked token id, lower-case scheme and three spaces',
    source: 'RFC 9110 §11.1',
    headers: { authorization: `bearer   ${esRevoked}` },
    status: 401,
    code: 'token_revoked',
    setup: revoke,
    secrets: [esRevoked],
  });
  const revokedSub = `hostile-sub-${run}`;
  add(
    'token issued before its subject was revoked',
    'DESIGN',
    hsToken({ sub: revokedSub, iat: now - 5 }),
    401,
    'token_revoked',
    {
      setup: (w) => w.revokeSubject(revokedSub),
    },
  );
  const revokedClient = `hostile-client-${run}`;
  add(
    'token issued before its client was revoked',
    'DESIGN',
    hsToken({ client_id: revokedClient, iat: now - 5 }),
    401,
    'token_revoked',
    {
      setup: (w) => w.revokeClient(revokedClient),
    },
  );
  add(
    'azp naming a revoked client (no client_id)',
    'RFC 8693 §4.3',
    hsToken({ client_id: undefined, azp: revokedClient, iat: now - 5 }),
    401,
    'token_revoked',
    {
      setup: (w) => w.revokeClient(revokedClient),
    },
  );
  const marketing = (extra: Record<string, unknown>) =>
    hsToken({ scope: 'marketing:read', ...extra });
  const withdrawn = `c-withdrawn-${run}`;
  add(
    'profile read after consent was withdrawn',
    'GDPR Art. 7(3)',
    marketing({ iat: now - 5 }),
    403,
    'consent_withdrawn',
    {
      path: `/customers/${withdrawn}/profile`,
      setup: async (w) => {
        await w.grantConsent({ subject: withdrawn, purpose: 'marketing' });
        await w.withdrawConsent({ subject: withdrawn, purpose: 'marketing' });
      },
    },
  );
  const granted = `c-granted-${run}`;
  const grant = async (w: Warden) =>
    void (await w.grantConsent({ subject: granted, purpose: 'marketing' }));
  add(
    'profile of a customer without consent',
    'GDPR Art. 6(1)(a)',
    marketing({}),
    403,
    'consent_missing',
    { path: `/customers/c-none-${run}/profile`, setup: grant },
  );
  add('data subject id with an encoded slash', 'ASVS 10.3', marketing({}), 403, 'consent_missing', {
    path: `/customers/..%2F${granted}/profile`,
    setup: grant,
  });
  add(
    'data subject id with a trailing encoded NUL',
    'ASVS 10.3',
    marketing({}),
    403,
    'data_subject_unresolved',
    { path: `/customers/${granted}%00/profile`, setup: grant },
  );
  add('data subject id in upper case', 'ASVS 10.3', marketing({}), 403, 'consent_missing', {
    path: `/customers/${granted.toUpperCase()}/profile`,
    setup: grant,
  });
  add(
    'own consent claimed in the token (not read)',
    'GDPR Art. 7(1)',
    marketing({ consent: { marketing: true } }),
    403,
    'consent_missing',
    { path: `/customers/c-none-${run}/profile`, setup: grant },
  );

  // ── API keys (`twk_<env>_<32 base62><6 base62 checksum>`; docs/api-keys.md) ─────────────────
  const apiKeyStore = new MemoryCredentialStore();
  const issuer = new ApiKeys({ store: apiKeyStore });
  const issued = { read: '', write: '', revoked: '' };
  const prepare = async () => {
    const create = async (scopes: string[]) =>
      issuer.create({ client: `svc-${run}`, scopes, name: 'hostile corpus' });
    issued.read = (await create(['customers:read'])).key;
    issued.write = (await create(['customers:write'])).key;
    const revoked = await create(['customers:read']);
    await issuer.revoke(revoked.record.keyId);
    issued.revoked = revoked.key;
    minted.push(issued.read, issued.write, issued.revoked);
  };
  const flipAt = (text: string, at: number) =>
    `${text.slice(0, at)}${text[at] === 'a' ? 'b' : 'a'}${text.slice(at + 1)}`;
  const keyCase = (
    name: string,
    value: () => string,
    status: 400 | 401 | 403,
    code: ErrorCode,
    extra: Partial<HostileCase> = {},
  ) =>
    cases.push({
      name: `API key: ${name}`,
      source: 'docs/api-keys.md; ASVS 10.4',
      headers: () => ({ authorization: value() }),
      status,
      code,
      secrets: [],
      ...extra,
    });
  keyCase(
    'checksum character changed',
    () => `Bearer ${flipAt(issued.read, issued.read.length - 1)}`,
    401,
    'token_malformed',
  );
  keyCase('random part changed', () => `Bearer ${flipAt(issued.read, 12)}`, 401, 'token_malformed');
  keyCase(
    'one character short',
    () => `Bearer ${issued.read.slice(0, -1)}`,
    401,
    'token_malformed',
  );
  keyCase('the key twice', () => `Bearer ${issued.read}${issued.read}`, 401, 'token_malformed');
  keyCase('trailing padding', () => `Bearer ${issued.read}=`, 401, 'token_malformed');
  keyCase('upper-case prefix', () => `Bearer TWK_${issued.read.slice(4)}`, 401, 'token_malformed');
  keyCase(
    'refresh-token prefix',
    () => `Bearer ${generateCredential('twr', 'live')}`,
    401,
    'token_malformed',
  );
  keyCase(
    'well-formed, never issued',
    () => `Bearer ${generateCredential('twk', 'live')}`,
    401,
    'key_unknown',
  );
  keyCase(
    'well-formed, another environment',
    () => `Bearer ${generateCredential('twk', 'test')}`,
    401,
    'key_unknown',
  );
  keyCase('revoked', () => `Bearer ${issued.revoked}`, 401, 'token_revoked');
  keyCase('without the route scope', () => `Bearer ${issued.write}`, 403, 'insufficient_scope');
  keyCase('under an ApiKey scheme', () => `ApiKey ${issued.read}`, 401, 'token_malformed');
  keyCase('as Basic credentials', () => `Basic ${b64(`${issued.read}:`)}`, 401, 'token_malformed');
  keyCase('in the header and the query', () => `Bearer ${issued.read}`, 400, 'token_multiple', {
    path: '/customers/c1?access_token=twk_x',
  });

  return {
    cases,
    minted,
    apiKeyStore,
    prepare,
    validToken: valid,
    keyMaterial: [
      keys.hs256.toString('hex'),
      keys.hs256.toString('base64'),
      keys.hs256.toString('base64url'),
      ...[
        keys.rs256.privateKey,
        keys.es256.privateKey,
        attacker.privateKey,
        attackerEc.privateKey,
      ].flatMap((key) => {
        const jwk = key.export({ format: 'jwk' });
        const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
        // Any one line of a private key's PEM body is secret enough to look for.
        const lines = pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
        return [String(jwk.d), ...lines];
      }),
    ],
  };
}

/** A fresh id for the run, so store state of one run never meets another's. */
export function runId(): string {
  return randomUUID().slice(0, 8);
}
