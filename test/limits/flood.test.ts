import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  callerKey,
  createWarden,
  jwkThumbprint,
  MemoryReplayCache,
  MemoryUsageLimiter,
  UsageLimits,
  type Decision,
  type LimitRule,
  type RequestView,
  type Warden,
} from '@tokenwarden/core/internal';
import { TEST_AUDIENCE, TEST_ISSUER, testJwtOptions, testKeys } from '@tokenwarden/testing';

/**
 * One client floods a warden's in-memory structures at their defaults (a `MemoryReplayCache` of
 * 100,000 ids, a `MemoryUsageLimiter` of 100,000 counters) through the whole pipeline: 200,000
 * valid DPoP proofs, then 200,000 requests that open new usage counters and go over their
 * limits. Without a bound per caller either flood fills its structure and every client gets 503
 * from then on; with it, the flooder is refused (429) and another client's requests keep
 * succeeding throughout.
 */

const ORIGIN = 'https://api.example.com';
const PATH = '/orders';
const FLOOD = 200_000;
/** The other client sends one request per this many flood requests. */
const EVERY = 1_000;
/** About 10 to 20 s each on two busy cores; room for a slower machine. */
const TIMEOUT_MS = 120_000;
const FLOODER = { client_id: 'flood-client', sub: 'flood-client' };
const OTHER = { client_id: 'web-app', sub: 'alice' };

interface ProofKey {
  readonly privateKey: KeyObject;
  readonly jkt: string;
  /** The encoded proof header, the same for every proof of the key. */
  readonly header: string;
}

/** An Ed25519 proof key: the cheapest DPoP algorithm to sign (about 25 µs a proof). */
function proofKey(): ProofKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const header = { typ: 'dpop+jwt', alg: 'EdDSA', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } };
  return {
    privateKey,
    jkt: jwkThumbprint(jwk)!,
    header: Buffer.from(JSON.stringify(header)).toString('base64url'),
  };
}

const TOKEN_HEADER = Buffer.from(
  JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'hs-1' }),
).toString('base64url');
let tokens = 0;
/**
 * A valid HS256 access token of the test issuer, signed here: far cheaper than a JWT library for
 * 50,000 tokens.
 */
function signToken(claims: Record<string, unknown>): string {
  tokens += 1;
  const iat = Math.floor(Date.now() / 1000);
  const payload = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    jti: `t-${tokens}`,
    iat,
    exp: iat + 300,
    scope: 'orders:read',
    ...claims,
  };
  const input = `${TOKEN_HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', testKeys().hs256).update(input).digest('base64url')}`;
}

let proofs = 0;
/** A valid, fresh proof (its own jti) for GET /orders with `token`. */
let lastToken = '';
let lastAth = '';
function proof(key: ProofKey, token: string): string {
  proofs += 1;
  if (token !== lastToken) {
    lastToken = token;
    lastAth = createHash('sha256').update(token).digest('base64url');
  }
  const claims = {
    jti: `p-${proofs}`,
    htm: 'GET',
    htu: ORIGIN + PATH,
    iat: Math.floor(Date.now() / 1000),
    ath: lastAth,
  };
  const input = `${key.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
}

function view(headers: Record<string, string>): RequestView {
  return {
    method: 'GET',
    path: PATH,
    url: PATH,
    route: PATH,
    headerValues: (name) => (headers[name] === undefined ? undefined : [headers[name]!]),
  };
}

function dpopRequest(key: ProofKey, token: string): RequestView {
  return view({ authorization: `DPoP ${token}`, dpop: proof(key, token) });
}

function bearerRequest(token: string): RequestView {
  return view({ authorization: `Bearer ${token}` });
}

const codeOf = (decision: Decision) => (decision.outcome === 'allow' ? 'allow' : decision.code);

function tally(counts: Map<string, number>, code: string): void {
  counts.set(code, (counts.get(code) ?? 0) + 1);
}

describe('one client flooding the in-memory replay cache and usage limiter', () => {
  let warden: Warden | undefined;
  let replayCache: MemoryReplayCache;
  let limiter: MemoryUsageLimiter;

  /** A warden on the default in-memory structures, built here only to look inside them. */
  function rig(rules: readonly LimitRule[]): Warden {
    replayCache = new MemoryReplayCache();
    limiter = new MemoryUsageLimiter();
    warden = createWarden({
      jwt: testJwtOptions(),
      dpop: { publicOrigin: ORIGIN, replayCache },
      limits: new UsageLimits({ rules, limiter }),
      audit: false,
      logger: { warn() {}, error() {} },
    });
    return warden;
  }

  afterEach(async () => {
    await warden?.close();
    await replayCache.close();
    await limiter.close();
  });

  it(
    '200,000 valid DPoP proofs fill only the flooder’s share; the other client keeps passing',
    async () => {
      const warden = rig([{ name: 'token-minute', by: 'token', limit: 3, windowMs: 60_000 }]);
      const flooderKey = proofKey();
      const otherKey = proofKey();
      const token = signToken({ ...FLOODER, cnf: { jkt: flooderKey.jkt } });
      const flooder = new Map<string, number>();
      const other = new Map<string, number>();
      const started = performance.now();
      for (let i = 1; i <= FLOOD; i++) {
        tally(flooder, codeOf(await warden.check(dpopRequest(flooderKey, token))));
        if (i % EVERY === 0) {
          // A fresh token each time: the other client stays within its own usage limit.
          const own = signToken({ ...OTHER, cnf: { jkt: otherKey.jkt } });
          tally(other, codeOf(await warden.check(dpopRequest(otherKey, own))));
        }
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `DPoP flood: ${FLOOD} proofs in ${seconds.toFixed(1)} s; flooder ${JSON.stringify(Object.fromEntries(flooder))}; other client ${JSON.stringify(Object.fromEntries(other))}; replay cache ${replayCache.size} ids`,
      );
      expect(other).toEqual(new Map([['allow', FLOOD / EVERY]]));
      // The flooder's share is a fifth of the cache: 20,000 proofs got past the replay check
      // (its token's usage limit then refused all but 3), every later one was refused as its own.
      expect(flooder).toEqual(
        new Map([
          ['allow', 3],
          ['usage_limit_exceeded', 20_000 - 3],
          ['dpop_proof_limit_exceeded', FLOOD - 20_000],
        ]),
      );
      expect(replayCache.sizeOf(callerKey(FLOODER.client_id, FLOODER.sub))).toBe(20_000);
      expect(replayCache.size).toBe(20_000 + FLOOD / EVERY);
    },
    TIMEOUT_MS,
  );

  it(
    '200,000 requests over its usage limits, on ever new tokens, fill only the flooder’s share',
    async () => {
      // Two counters per token, as with a burst and a steady rule.
      const warden = rig([
        { name: 'token-burst', by: 'token', limit: 1, windowMs: 60_000, algorithm: 'token-bucket' },
        { name: 'token-minute', by: 'token', limit: 10, windowMs: 60_000 },
      ]);
      const flooder = new Map<string, number>();
      const other = new Map<string, number>();
      const started = performance.now();
      let token = '';
      for (let i = 0; i < FLOOD; i++) {
        // Each new token is used twice: once within its limits, once over its burst limit.
        if (i % 2 === 0) token = signToken(FLOODER);
        tally(flooder, codeOf(await warden.check(bearerRequest(token))));
        if ((i + 1) % EVERY === 0) {
          tally(other, codeOf(await warden.check(bearerRequest(signToken(OTHER)))));
        }
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `usage-limit flood: ${FLOOD} requests in ${seconds.toFixed(1)} s; flooder ${JSON.stringify(Object.fromEntries(flooder))}; other client ${JSON.stringify(Object.fromEntries(other))}; limiter ${limiter.size} counters`,
      );
      expect(other).toEqual(new Map([['allow', FLOOD / EVERY]]));
      // The flooder's share is a tenth of the limiter, 10,000 counters: 5,000 tokens counted (the
      // second use of each refused), then every request of a later token refused as its own.
      expect(flooder).toEqual(
        new Map([
          ['allow', 5_000],
          ['usage_limit_exceeded', FLOOD - 5_000],
        ]),
      );
      expect(limiter.sizeOf(callerKey(FLOODER.client_id, FLOODER.sub))).toBe(10_000);
      expect(limiter.size).toBe(10_000 + 2 * (FLOOD / EVERY));
    },
    TIMEOUT_MS,
  );
});
