import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink, MemoryStore, type AuditEvent } from '@tokenwarden/core';
import { RedisReplayCache, RedisUsageLimiter } from '@tokenwarden/redis';
import {
  claimsFor,
  deleteKeys,
  dpopClientKey,
  dpopProof,
  json,
  mintToken,
  newSigner,
  startProvider,
  testJwtOptions,
  type DpopClientKey,
  type FakeProvider,
  type Signer,
} from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';

/**
 * Identity providers, DPoP and usage limits through every adapter, with the same answers:
 * tokens of two OpenID providers (discovery and JWKS served by local HTTP servers) next to the
 * deployment's own, a provider that is down, DPoP-bound tokens with proofs checked against a
 * Redis replay cache, and per-credential limits counted in Redis.
 */
const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const PREFIX = `tw-identity-${randomBytes(4).toString('hex')}:`;
const ORIGIN = 'https://api.example.com';
const SUBJECT_LIMIT = 5;

let idpA: FakeProvider;
let idpB: FakeProvider;
let down: FakeProvider;
let signerA: Signer;
let signerB: Signer;
let client: DpopClientKey;

function serveProvider(provider: FakeProvider, signer: Signer): void {
  provider.route(
    '/.well-known/openid-configuration',
    json({ issuer: provider.origin, jwks_uri: `${provider.origin}/jwks` }),
  );
  provider.route('/jwks', json({ keys: [signer.jwk()] }));
}

beforeAll(async () => {
  [idpA, idpB, down] = await Promise.all([startProvider(), startProvider(), startProvider()]);
  signerA = newSigner('RS256');
  signerB = newSigner('ES256');
  serveProvider(idpA, signerA);
  serveProvider(idpB, signerB);
  down.route('/.well-known/openid-configuration', json({ error: 'maintenance' }, 503));
  client = dpopClientKey();
});

afterAll(async () => {
  await Promise.all([idpA.close(), idpB.close(), down.close()]);
  await deleteKeys(PORT, PREFIX);
});

describe.each(DRIVERS)('identity providers, DPoP and usage limits through $name', (driver) => {
  let app: RunningApp;
  let sink: MemorySink;
  const run = randomUUID();
  // Given to the warden, so owned by the test: closed after the app.
  const replayCache = new RedisReplayCache({ url: REDIS_URL, prefix: `${PREFIX}${run}:` });
  const limiter = new RedisUsageLimiter({ url: REDIS_URL, prefix: `${PREFIX}${run}:` });

  beforeAll(async () => {
    sink = new MemorySink();
    app = await driver.start({
      jwt: testJwtOptions(),
      issuers: [
        { issuer: idpA.origin, audience: 'orders-api', algorithms: ['RS256'] },
        { issuer: idpB.origin, audience: 'billing-api', algorithms: ['ES256'] },
        {
          issuer: down.origin,
          audience: 'orders-api',
          algorithms: ['RS256'],
          keySource: { timeoutMs: 500 },
        },
      ],
      dpop: {
        publicOrigin: ORIGIN,
        replayCache,
      },
      limits: {
        rules: [{ name: 'per-subject', by: 'subject', limit: SUBJECT_LIMIT, windowMs: 60_000 }],
        limiter,
      },
      store: new MemoryStore(),
      purposes: ['marketing', 'billing'],
      audit: { sinks: [sink], fingerprintKey: randomBytes(32), flushIntervalMs: 1 },
      logger: { warn() {}, error() {} },
    });
  });
  afterAll(async () => {
    await app.close();
    await Promise.all([replayCache.close(), limiter.close()]);
  });

  /** A subject of its own per test, so the usage limit of one test never spills into another. */
  const subject = () => `user-${randomUUID()}`;
  const get = (path: string) => request(app.server).get(path);

  it("accepts each provider's tokens for its own audience, and the deployment's own", async () => {
    const now = Date.now();
    const fromA = signerA.sign(
      claimsFor(idpA.origin, 'orders-api', now, { sub: subject(), scope: 'customers:read' }),
    );
    const fromB = signerB.sign(
      claimsFor(idpB.origin, 'billing-api', now, { sub: subject(), scope: 'customers:read' }),
    );
    for (const token of [fromA, fromB, mintToken({ claims: { sub: subject() } })]) {
      const res = await get('/customers/42').set('authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe(`"per-subject";q=${SUBJECT_LIMIT};w=60`);
      expect(res.headers['ratelimit']).toMatch(
        new RegExp(`^"per-subject";r=${SUBJECT_LIMIT - 1};t=\\d+$`),
      );
    }
  });

  it("never accepts one provider's key for another, nor another provider's audience", async () => {
    const now = Date.now();
    // Signed by B's key, claiming to come from A (B's key id is unknown to A).
    const forged = signerB.sign(claimsFor(idpA.origin, 'orders-api', now, { sub: subject() }));
    const forgedRes = await get('/plain').set('authorization', `Bearer ${forged}`);
    expect(forgedRes.status).toBe(401);
    expect(['key_unknown', 'algorithm_not_allowed', 'invalid_signature']).toContain(
      forgedRes.body.code,
    );
    const wrongAudience = signerA.sign(
      claimsFor(idpA.origin, 'billing-api', now, { sub: subject() }),
    );
    const audienceRes = await get('/plain').set('authorization', `Bearer ${wrongAudience}`);
    expect(audienceRes.status).toBe(401);
    expect(audienceRes.body.code).toBe('audience_invalid');
    const stranger = newSigner('RS256');
    const unknownIssuer = stranger.sign(
      claimsFor('https://idp.elsewhere.test/', 'orders-api', now, { sub: subject() }),
    );
    const issuerRes = await get('/plain').set('authorization', `Bearer ${unknownIssuer}`);
    expect(issuerRes.status).toBe(401);
  });

  it('answers 503 key_source_unavailable, quickly, while a provider is down', async () => {
    const token = newSigner('RS256').sign(
      claimsFor(down.origin, 'orders-api', Date.now(), { sub: subject() }),
    );
    const started = Date.now();
    const res = await get('/plain').set('authorization', `Bearer ${token}`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('key_source_unavailable');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('accepts a DPoP-bound token with a fresh proof, and refuses its replay', async () => {
    const token = mintToken({
      claims: { sub: subject(), scope: 'payouts:read', cnf: { jkt: client.jkt } },
    });
    const proof = dpopProof(client, {
      htm: 'GET',
      htu: `${ORIGIN}/payouts`,
      accessToken: token,
    });
    const first = await get('/payouts').set('authorization', `DPoP ${token}`).set('dpop', proof);
    expect(first.status).toBe(200);
    const again = await get('/payouts').set('authorization', `DPoP ${token}`).set('dpop', proof);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('dpop_proof_replayed');
    expect(again.headers['www-authenticate']).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
  });

  it.each([
    ['a proof for another URL', { htu: `${ORIGIN}/invoices` }, 'dpop_proof_invalid'],
    ['a proof for another method', { htm: 'POST' }, 'dpop_proof_invalid'],
    ['a proof without ath', { accessToken: undefined }, 'dpop_proof_invalid'],
    ['a proof with alg none', { header: { alg: 'none' } }, 'dpop_proof_invalid'],
    ['a proof from another key', { foreign: true }, 'dpop_binding_mismatch'],
    ['a proof signed by a key other than its jwk', { signer: true }, 'dpop_proof_invalid'],
  ] as const)('refuses %s', async (_name, change, code) => {
    const token = mintToken({
      claims: { sub: subject(), scope: 'payouts:read', cnf: { jkt: client.jkt } },
    });
    const foreign = 'foreign' in change ? dpopClientKey() : client;
    const proof = dpopProof(foreign, {
      htm: 'htm' in change ? change.htm : 'GET',
      htu: 'htu' in change ? change.htu : `${ORIGIN}/payouts`,
      ...('accessToken' in change ? {} : { accessToken: token }),
      ...('header' in change ? { header: change.header } : {}),
      ...('signer' in change ? { signer: dpopClientKey() } : {}),
    });
    const res = await get('/payouts').set('authorization', `DPoP ${token}`).set('dpop', proof);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(code);
    expect(res.headers['www-authenticate']).toMatch(/^DPoP /);
  });

  it('refuses Bearer tokens on a DPoP route, and a DPoP-bound token sent as Bearer anywhere', async () => {
    const plain = mintToken({ claims: { sub: subject(), scope: 'payouts:read' } });
    const res = await get('/payouts').set('authorization', `Bearer ${plain}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('dpop_required');
    const bound = mintToken({ claims: { sub: subject(), cnf: { jkt: client.jkt } } });
    const boundRes = await get('/plain').set('authorization', `Bearer ${bound}`);
    expect(boundRes.status).toBe(401);
    expect(boundRes.body.code).toBe('dpop_required');
    // Routes that do not require DPoP still take Bearer tokens, and offer both schemes.
    expect((await get('/plain').set('authorization', `Bearer ${plain}`)).status).toBe(200);
    const missing = await get('/plain');
    expect(missing.headers['www-authenticate']).toMatch(
      /^Bearer realm="api", DPoP realm="api", algs="/,
    );
  });

  it('stops a credential at its usage limit with 429, Retry-After and RateLimit headers, and audits it', async () => {
    const sub = subject();
    const token = mintToken({ claims: { sub } });
    const statuses: number[] = [];
    let limited: request.Response | undefined;
    for (let i = 0; i < SUBJECT_LIMIT + 2; i++) {
      const res = await get('/plain').set('authorization', `Bearer ${token}`);
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses).toEqual([
      ...Array<number>(SUBJECT_LIMIT).fill(200),
      ...Array<number>(2).fill(429),
    ]);
    expect(limited!.body).toMatchObject({ code: 'usage_limit_exceeded', status: 429 });
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited!.headers['ratelimit']).toMatch(/^"per-subject";r=0;t=\d+$/);
    // Another subject is not affected.
    const other = mintToken({ claims: { sub: subject() } });
    expect((await get('/plain').set('authorization', `Bearer ${other}`)).status).toBe(200);
    await app.warden.flushAudit();
    const events = sink.events.filter((e: AuditEvent) => e.subject === sub);
    expect(events.map((e) => e.reason)).toEqual([
      ...Array<string>(SUBJECT_LIMIT).fill('authorized'),
      ...Array<string>(2).fill('usage_limit_exceeded'),
    ]);
    const metrics = await app.warden.metrics.render();
    expect(metrics).toMatch(
      /tokenwarden_usage_limit_checks_total\{rule="per-subject",outcome="limited"\} [1-9]/,
    );
    expect(metrics).toMatch(/tokenwarden_dpop_checks_total\{result="fail"\} [1-9]/);
    expect(metrics).toMatch(
      /tokenwarden_key_source_fetches_total\{source="discovery",outcome="error"\} [1-9]/,
    );
  });
});
