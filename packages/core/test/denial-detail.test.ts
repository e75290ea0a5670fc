/**
 * Why was I refused: a denial of a credential that failed verification names the check that
 * failed in the problem body's `detail` and the audit event's `detail.failure`, in claim names
 * and rules only. Claim values, key ids and token text never reach the body, the headers or the
 * audit trail, however secret they look.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  createWarden,
  MemorySink,
  MemoryStore,
  type Decision,
  type DenyDecision,
  type Warden,
} from '@tokenwarden/core';
import { mintToken, testJwtOptions, type MintOptions } from '@tokenwarden/testing';
import { Denials } from '../src/pipeline/denials';
import { VERIFY_DETAILS } from '../src/verify/details';
import { bearer, view } from './support';

/** Looks like a secret; must never leave the token. */
const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;

const wardens: Warden[] = [];
afterEach(async () => {
  for (const warden of wardens.splice(0)) await warden.close();
});

function deployment() {
  const sink = new MemorySink();
  const warden = createWarden({
    jwt: testJwtOptions(),
    store: new MemoryStore(),
    audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
    metrics: false,
  });
  wardens.push(warden);
  return { warden, sink };
}

function denied(decision: Decision): DenyDecision {
  if (decision.outcome !== 'deny') throw new Error('expected a denial');
  return decision;
}

const now = Date.now();
const iat = Math.floor(now / 1000);

/** Each token carries the secret in claims the check reads, and in others it does not. */
const CASES: readonly [string, MintOptions, string, string][] = [
  [
    'no jti',
    { claims: { jti: undefined, sub: `${SECRET}-sub`, note: SECRET } },
    'token_claims_invalid',
    'jti missing (requireTokenId: false accepts tokens without one)',
  ],
  [
    'an over-long jti',
    { claims: { jti: `${SECRET}-`.repeat(20) } },
    'token_claims_invalid',
    'jti invalid: must be 1 to maxClaimLength characters, no control characters',
  ],
  [
    'a sub with a control character',
    { claims: { sub: `${SECRET}\u0000` } },
    'token_claims_invalid',
    'sub invalid: must be 1 to maxClaimLength characters, no control characters',
  ],
  [
    'a client_id that is not a string',
    { claims: { client_id: { secret: SECRET } } },
    'token_claims_invalid',
    'client claim invalid: must be 1 to maxClaimLength characters, no control characters',
  ],
  [
    'scope as a list',
    { claims: { scope: [`${SECRET}:read`] } },
    'token_claims_invalid',
    'scope is not a space-delimited string (scopeClaimFormat)',
  ],
  [
    'another audience',
    { claims: { aud: `https://${SECRET}.example/` } },
    'audience_invalid',
    'aud not accepted',
  ],
  ['no audience', { claims: { aud: undefined, sub: SECRET } }, 'audience_invalid', 'aud missing'],
  [
    'another issuer',
    { claims: { iss: `https://${SECRET}.example/` } },
    'issuer_invalid',
    'iss not accepted',
  ],
  ['an unknown kid', { header: { kid: `${SECRET}-kid` } }, 'key_unknown', 'no key for kid'],
  [
    'a lifetime above the maximum',
    { now, lifetimeSeconds: 7200, claims: { sub: SECRET } },
    'token_lifetime_exceeded',
    'exp - iat exceeds the maximum lifetime (maxLifetimeMs)',
  ],
  [
    'an expiry in the past',
    { claims: { iat: iat - 600, exp: iat - 300, sub: SECRET } },
    'token_expired',
    'exp passed',
  ],
  [
    'a typ of another kind of token',
    { header: { typ: `${SECRET}+jwt` } },
    'token_malformed',
    'typ names another kind of token',
  ],
];

describe('denials name the failed check, never a value', () => {
  it.each(CASES)('%s', async (_name, mint, code, detail) => {
    const { warden, sink } = deployment();
    const token = mintToken(mint);
    const decision = denied(await warden.check(bearer(token)));
    expect(decision).toMatchObject({ code, detail, body: { code, detail } });
    await warden.flushAudit();
    expect(sink.events).toHaveLength(1);
    const event = sink.events[0]!;
    expect(event).toMatchObject({ outcome: 'deny', reason: code, detail: { failure: detail } });
    // The challenge keeps the fixed title; the detail goes to the body only.
    expect(decision.headers['www-authenticate']).not.toContain(detail);
    const seen = JSON.stringify({ body: decision.body, headers: decision.headers, event });
    expect(seen).not.toContain(SECRET);
    for (const part of token.split('.')) expect(seen).not.toContain(part);
  });

  it('keeps a bad signature to its name', async () => {
    const { warden, sink } = deployment();
    const token = mintToken({ claims: { sub: SECRET } });
    const tampered = `${token.slice(0, -6)}AAAAAA`;
    const decision = denied(await warden.check(bearer(tampered)));
    expect(decision.body).toMatchObject({
      code: 'invalid_signature',
      detail: 'signature mismatch',
    });
    await warden.flushAudit();
    expect(JSON.stringify([decision, sink.events])).not.toContain(SECRET);
  });

  it('gives no detail where no verifier failed (a missing token)', async () => {
    const { warden, sink } = deployment();
    const decision = denied(await warden.check(view()));
    expect(decision.code).toBe('token_missing');
    expect(decision.detail).toBeUndefined();
    expect('detail' in decision.body).toBe(false);
    await warden.flushAudit();
    expect(sink.events[0]?.detail).toBeUndefined();
  });
});

describe('Denials with a detail', () => {
  const denials = new Denials('api', undefined);

  it('builds each (code, detail) denial once and shares it', () => {
    const first = denials.failed({ code: 'token_claims_invalid', detail: 'sub missing' });
    const again = denials.failed({ code: 'token_claims_invalid', detail: 'sub missing' });
    const other = denials.failed({
      code: 'token_claims_invalid',
      detail: 'iat missing or not a number',
    });
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(first).toMatchObject({
      status: 401,
      detail: 'sub missing',
      body: { code: 'token_claims_invalid', detail: 'sub missing' },
    });
    // The plain denial of the code has no detail and is another object.
    expect(denials.of('token_claims_invalid').detail).toBeUndefined();
    expect(denials.of('token_claims_invalid')).not.toBe(first);
  });

  it('answers every detail of the fixed list as it is, each at most one short line', () => {
    for (const detail of VERIFY_DETAILS) {
      const decision = denials.failed({ code: 'token_malformed', detail });
      expect(decision.body.detail).toBe(detail);
      expect(detail).toMatch(/^[\x20-\x7e]{1,100}$/);
    }
    expect(new Set(VERIFY_DETAILS).size).toBe(VERIFY_DETAILS.length);
  });
});
