import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { FakeClock, keyPair } from '@tokenwarden/testing';
import {
  generateSigningKey,
  MemorySigningKeyStore,
  newKeyPair,
  SigningKeyError,
  SigningKeyRing,
  TokenIssuer,
  type AuditEventInput,
  type SigningKeyRingOptions,
  type SigningKeySet,
  type SigningKeyStore,
} from '@tokenwarden/core';
import { publicJwk } from '@tokenwarden/core/internal';
import { verifyJwt, type JwtVerifyPolicy } from '../../src/verify/jwt';
import { createPrometheusMetrics } from '../../src/metrics/prometheus';
import { sample } from '../support';

const MINUTE = 60_000;
const rings: SigningKeyRing[] = [];
afterEach(async () => {
  await Promise.all(rings.splice(0).map((r) => r.close()));
});

function setup(overrides: Partial<SigningKeyRingOptions> = {}) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const events: AuditEventInput[] = [];
  const store = new MemorySigningKeyStore();
  const make = (extra: Partial<SigningKeyRingOptions> = {}) => {
    const ring = new SigningKeyRing({
      store,
      algorithm: 'ES256',
      maxTokenLifetimeMs: 10 * MINUTE,
      clockToleranceMs: 5_000,
      activationDelayMs: MINUTE,
      refreshIntervalMs: 10_000,
      audit: { recordEvent: (e) => events.push(e) },
      clock,
      ...overrides,
      ...extra,
    });
    rings.push(ring);
    return ring;
  };
  const ring = make();
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: ring,
    clients: { app: { scopes: ['a', 'b'] } },
    maxTokenLifetimeMs: 10 * MINUTE,
    audit: { recordEvent: (e) => events.push(e) },
    clock,
  });
  const policy = (selector: SigningKeyRing): JwtVerifyPolicy => ({
    ring: selector,
    algorithms: ['ES256', 'RS256', 'HS256'],
    issuer: 'https://issuer.test/',
    audience: 'api',
    maxLifetimeMs: 10 * MINUTE,
    clockToleranceMs: 5_000,
    maxClaimLength: 256,
    permissionsClaim: undefined,
  });
  const verify = (token: string, selector: SigningKeyRing = ring) =>
    verifyJwt(token, policy(selector), clock.now());
  return { clock, events, store, ring, make, issuer, verify };
}

describe('SigningKeyRing', () => {
  it('creates the first key on start, signs with it and publishes it in the JWKS', async () => {
    const { ring, issuer, verify, events } = setup();
    await ring.start();
    const { token, kid } = issuer.issue({ client: 'app' });
    expect(verify(token)).toMatchObject({ ok: true });
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid, alg: 'ES256', use: 'sig' });
    expect(JSON.stringify(jwks)).not.toContain('"d"');
    expect(events.map((e) => e.type)).toEqual(['signing_key.created', 'token.issued']);
  });

  it('publishes the next key before it signs, keeps the old one until its tokens expire, then retires it', async () => {
    const { ring, issuer, verify, clock, events } = setup();
    await ring.start();
    const before = ring.version;
    const old = issuer.issue({ client: 'app' });
    const next = await ring.rotate({ actor: 'ops' });
    expect(ring.version).toBeGreaterThan(before);
    // Published at once, signs only after the activation delay.
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([old.kid, next.kid]);
    expect(issuer.issue({ client: 'app' }).kid).toBe(old.kid);
    clock.advance(MINUTE);
    const fresh = issuer.issue({ client: 'app' });
    expect(fresh.kid).toBe(next.kid);
    // The old key's last token (issued just before the switch) still verifies.
    clock.advance(-1);
    const lastOld = issuer.issue({ client: 'app' });
    expect(lastOld.kid).toBe(old.kid);
    clock.advance(1);
    clock.advance(10 * MINUTE - 1_000);
    expect(verify(lastOld.token)).toMatchObject({ ok: true });
    expect(verify(fresh.token)).toMatchObject({ ok: true });
    // verifyUntil = activeFrom + max lifetime + tolerance: after it, the old key is refused even
    // before a maintenance pass removes it.
    clock.advance(5_000 + 1_000);
    expect(verify(old.token)).toMatchObject({ ok: false, failure: { code: 'key_unknown' } });
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([next.kid]);
    await ring.maintain();
    expect(ring.keys().map((k) => k.kid)).toEqual([next.kid]);
    const types = events.map((e) => e.type).filter((t) => t.startsWith('signing_key'));
    expect(types).toEqual([
      'signing_key.created',
      'signing_key.created',
      'signing_key.rotated',
      'signing_key.retired',
    ]);
    const rotated = events.find((e) => e.type === 'signing_key.rotated');
    expect(rotated).toMatchObject({
      actor: 'ops',
      detail: { kid: next.kid, previousKid: old.kid },
    });
    expect(JSON.stringify(events)).not.toContain('PRIVATE KEY');
  });

  it('rotates on schedule and reports the rotation and the key age', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    const { ring, clock } = setup({ rotationPeriodMs: 24 * 60 * MINUTE, metrics });
    await ring.start();
    const first = ring.signingKey().kid;
    clock.advance(12 * 60 * MINUTE);
    await ring.maintain();
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_age_seconds')).toBe(12 * 3600);
    expect(ring.keys()).toHaveLength(1);
    clock.advance(12 * 60 * MINUTE);
    await ring.maintain();
    expect(ring.keys()).toHaveLength(2);
    // Scheduled, not yet signing: not a rotation yet.
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_rotations_total')).toBe(0);
    // A second pass before activation does not schedule yet another key.
    await ring.maintain();
    expect(ring.keys()).toHaveLength(2);
    clock.advance(MINUTE);
    expect(ring.signingKey().kid).not.toBe(first);
    await ring.maintain();
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_rotations_total')).toBe(1);
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_age_seconds')).toBe(0);
  });

  it("start()'s timer rotates on schedule and retires the old key, with no call to maintain()", async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    const { ring, clock, events } = setup({
      rotationPeriodMs: 60 * MINUTE,
      activationDelayMs: 20,
      refreshIntervalMs: 20,
      metrics,
    });
    await ring.start();
    const first = ring.signingKey().kid;
    const waitFor = async (done: () => boolean) => {
      const deadline = Date.now() + 3_000;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(done()).toBe(true);
    };
    clock.advance(60 * MINUTE);
    await waitFor(() => ring.keys().length === 2);
    expect(events.find((e) => e.type === 'signing_key.rotated')).toMatchObject({
      actor: 'schedule',
      detail: { previousKid: first },
    });
    clock.advance(1_000);
    const second = ring.signingKey().kid;
    expect(second).not.toBe(first);
    const rotations = async () =>
      sample(await registry.metrics(), 'tokenwarden_signing_key_rotations_total');
    const deadline = Date.now() + 3_000;
    while ((await rotations()) !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await rotations()).toBe(1);
    // Past the longest token lifetime plus tolerance, the timer retires the first key.
    clock.advance(10 * MINUTE + 5_000);
    await waitFor(() => ring.keys().length === 1);
    expect(ring.select(first)).toBeUndefined();
    expect(events.find((e) => e.type === 'signing_key.retired')).toMatchObject({
      actor: 'schedule',
      detail: { kid: first },
    });
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_age_seconds')).toBeLessThan(
      11 * 60,
    );
  });

  it('counts a rotation made elsewhere (another node, the CLI) once the new key takes over', async () => {
    const registry = new Registry();
    const { ring, make, clock } = setup();
    await ring.start();
    const watcher = make({ metrics: createPrometheusMetrics({ registry }) });
    await watcher.start();
    await watcher.maintain();
    await ring.rotate();
    await watcher.maintain();
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_rotations_total')).toBe(0);
    clock.advance(MINUTE);
    await watcher.maintain();
    await watcher.maintain();
    expect(sample(await registry.metrics(), 'tokenwarden_signing_key_rotations_total')).toBe(1);
  });

  it('lets a second node pick up a rotation through the shared store without restart', async () => {
    const { ring, make, issuer, verify, clock } = setup();
    await ring.start();
    const other = make();
    await other.start();
    expect(other.signingKey().kid).toBe(ring.signingKey().kid);
    const next = await ring.rotate();
    // The memory store notifies watchers; the other node now knows the scheduled key.
    await other.refresh();
    expect(other.keys().map((k) => k.kid)).toContain(next.kid);
    clock.advance(MINUTE);
    const token = issuer.issue({ client: 'app' });
    expect(token.kid).toBe(next.kid);
    expect(verify(token.token, other)).toMatchObject({ ok: true });
    expect(other.signingKey().kid).toBe(next.kid);
  });

  it('lets only one of two nodes create the first key', async () => {
    const { ring, make } = setup();
    const other = make();
    await Promise.all([ring.start(), other.start()]);
    expect(ring.keys()).toHaveLength(1);
    expect(other.keys().map((k) => k.kid)).toEqual(ring.keys().map((k) => k.kid));
  });

  it('drops a scheduled key that never signed when rotated again', async () => {
    const { ring } = setup();
    await ring.start();
    const first = ring.signingKey().kid;
    const a = await ring.rotate();
    const b = await ring.rotate();
    expect(ring.keys().map((k) => k.kid)).toEqual([first, b.kid]);
    expect(ring.keys().map((k) => k.kid)).not.toContain(a.kid);
  });

  it('signs at once with immediate rotation', async () => {
    const { ring } = setup();
    await ring.start();
    const next = await ring.rotate({ immediate: true });
    expect(ring.signingKey().kid).toBe(next.kid);
  });

  it.each(['RS256', 'PS256', 'ES384', 'HS256'] as const)(
    'works with %s keys',
    async (algorithm) => {
      const { make, clock } = setup();
      const typed = make({ algorithm });
      await typed.start();
      const issuer = new TokenIssuer({
        issuer: 'https://issuer.test/',
        audience: 'api',
        keys: typed,
        clients: { app: { scopes: ['a'] } },
        clock,
      });
      const { token } = issuer.issue({ client: 'app' });
      const result = verifyJwt(
        token,
        {
          ring: typed,
          algorithms: [algorithm],
          issuer: 'https://issuer.test/',
          audience: 'api',
          maxLifetimeMs: 15 * MINUTE,
          clockToleranceMs: 0,
          maxClaimLength: 256,
          permissionsClaim: undefined,
        },
        clock.now(),
      );
      expect(result).toMatchObject({ ok: true });
      // HMAC keys are never published.
      expect(typed.jwks().keys.length).toBe(algorithm === 'HS256' ? 0 : 1);
    },
  );

  it('refuses settings that would refuse valid tokens', () => {
    const store = new MemorySigningKeyStore();
    expect(
      () =>
        new SigningKeyRing({
          store,
          maxTokenLifetimeMs: MINUTE,
          activationDelayMs: 1_000,
          refreshIntervalMs: 10_000,
        }),
    ).toThrow(/activationDelayMs must be at least refreshIntervalMs/);
    expect(() => new SigningKeyRing({ store, maxTokenLifetimeMs: 0 })).toThrow(
      /maxTokenLifetimeMs/,
    );
    expect(
      () => new SigningKeyRing({ store, maxTokenLifetimeMs: MINUTE, algorithm: 'none' as 'ES256' }),
    ).toThrow(/not supported/);
  });

  it('will not sign before start', () => {
    const { ring } = setup();
    expect(() => ring.signingKey()).toThrow(/call start\(\) first/);
  });
});

/**
 * A shared store someone else can write to: `writeBack` makes every load answer with a set of the
 * attacker's choosing, as a Redis written to directly would.
 */
class ExposedStore implements SigningKeyStore {
  readonly inner = new MemorySigningKeyStore();
  private override: SigningKeySet | undefined;

  writeBack(set: SigningKeySet): void {
    this.override = set;
  }

  async load(): Promise<SigningKeySet> {
    return this.override ?? this.inner.load();
  }

  async save(next: SigningKeySet): Promise<boolean> {
    return this.override === undefined ? this.inner.save(next) : false;
  }
}

function exposedRing() {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = new ExposedStore();
  const events: AuditEventInput[] = [];
  const errors: Record<string, unknown>[] = [];
  const ring = new SigningKeyRing({
    store,
    algorithm: 'ES256',
    maxTokenLifetimeMs: 10 * MINUTE,
    activationDelayMs: MINUTE,
    refreshIntervalMs: 10_000,
    audit: { recordEvent: (e) => events.push(e) },
    logger: { warn: () => undefined, error: (_message, fields) => errors.push({ ...fields }) },
    clock,
  });
  rings.push(ring);
  const refused = () => events.filter((e) => e.type === 'signing_key.refused');
  return { clock, store, ring, events, errors, refused };
}

describe('SigningKeyRing: a stored key set it must not trust', () => {
  it('refuses a published public key that is not the public half of its private key, and keeps its keys', async () => {
    const { store, ring, errors, refused } = exposedRing();
    await ring.start();
    const published = ring.jwks();
    const set = await store.load();
    const kid = set.keys[0]!.kid;
    // The attack: the attacker's public key under the real kid, at a higher revision.
    const attacker = newKeyPair('ec', { namedCurve: 'prime256v1' });
    store.writeBack({
      ...set,
      revision: set.revision + 1,
      keys: [{ ...set.keys[0]!, publicJwk: publicJwk(attacker.privateKey, kid, 'ES256') }],
    });
    const refusal = ring.refresh();
    await expect(refusal).rejects.toBeInstanceOf(SigningKeyError);
    await expect(refusal).rejects.toMatchObject({
      code: 'signing_key_invalid',
      reason: 'tampered',
    });
    expect(ring.jwks()).toEqual(published);
    expect(ring.signingKey().kid).toBe(kid);
    // Reported once (audit and error log), however often the set is refused again.
    await expect(ring.maintain()).rejects.toBeInstanceOf(SigningKeyError);
    expect(refused()).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        reason: 'signing_key_invalid',
        detail: { problem: 'tampered', revision: 2, keptRevision: 1 },
      }),
    ]);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'signing_key_invalid', problem: 'tampered' }),
    ]);
  });

  it('refuses a set written back after rotate({ immediate: true }): the compromised key never signs again', async () => {
    const { store, ring, refused, errors } = exposedRing();
    await ring.start();
    const compromised = ring.signingKey().kid;
    const before = await store.load();
    const next = await ring.rotate({ immediate: true });
    expect(ring.signingKey().kid).toBe(next.kid);
    const published = ring.jwks();

    // The rollback: every load now answers with the set from before the rotation.
    store.writeBack(before);
    await expect(ring.refresh()).rejects.toMatchObject({ reason: 'rolled_back' });
    expect(ring.signingKey().kid).toBe(next.kid);
    expect(ring.signingKey().kid).not.toBe(compromised);
    expect(ring.jwks()).toEqual(published);
    // No rotation builds on the old set.
    await expect(ring.rotate()).rejects.toMatchObject({ reason: 'rolled_back' });
    expect(refused()).toEqual([
      expect.objectContaining({
        detail: { problem: 'rolled_back', revision: before.revision, keptRevision: 2 },
      }),
    ]);
    expect(errors).toHaveLength(1);
  });

  it('refuses a key that changed under its kid, a set that changed without a new revision, and a published HMAC key', async () => {
    const { store, ring, clock } = exposedRing();
    await ring.start();
    const set = await store.load();
    const held = set.keys[0]!;
    const other = generateSigningKey('ES256', clock.now(), clock.now(), held.kid);
    store.writeBack({ ...set, revision: 2, keys: [other] });
    await expect(ring.refresh()).rejects.toThrow(/changed its secret/);
    store.writeBack({ ...set, keys: [{ ...held, activeFrom: held.activeFrom - 1 }] });
    await expect(ring.refresh()).rejects.toThrow(/without a new revision/);
    const hmac = generateSigningKey('HS256', clock.now());
    const jwk = publicJwk(
      newKeyPair('ec', { namedCurve: 'prime256v1' }).publicKey,
      hmac.kid,
      'HS256',
    );
    store.writeBack({ ...set, revision: 3, keys: [held, { ...hmac, publicJwk: jwk }] });
    await expect(ring.refresh()).rejects.toMatchObject({ reason: 'tampered' });
    expect(ring.keys().map((k) => k.kid)).toEqual([held.kid]);
  });

  it('skips a set read before a newer one arrived, without refusing it', async () => {
    const { store, ring, refused } = exposedRing();
    await ring.start();
    // A load that started before the rotation's save answers after it.
    let release: () => void = () => undefined;
    const old = await store.load();
    const slow = new Promise<SigningKeySet>((resolve) => (release = () => resolve(old)));
    const load = store.load.bind(store);
    store.load = () => slow;
    const refreshing = ring.refresh();
    store.load = load;
    const next = await ring.rotate({ immediate: true });
    release();
    await refreshing;
    expect(ring.signingKey().kid).toBe(next.kid);
    expect(refused()).toEqual([]);
  });
});

describe('publicJwk', () => {
  it('publishes RSA, EC and OKP (Ed25519) public keys without private parts', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicJwk } = await import('@tokenwarden/core/internal');
    const ed = generateKeyPairSync('ed25519');
    expect(publicJwk(ed.privateKey, 'ed-1', 'EdDSA')).toEqual({
      kty: 'OKP',
      kid: 'ed-1',
      alg: 'EdDSA',
      use: 'sig',
      crv: 'Ed25519',
      x: (ed.publicKey.export({ format: 'jwk' }) as { x: string }).x,
    });
    const rsa = keyPair('rsa', { modulusLength: 2048 });
    const jwk = publicJwk(rsa.publicKey, 'rs-1', 'RS256');
    expect(Object.keys(jwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(publicJwk(ec.privateKey, 'es-1', 'ES384')).toMatchObject({ kty: 'EC', crv: 'P-384' });
    expect(JSON.stringify(publicJwk(ec.privateKey, 'es-1', 'ES384'))).not.toContain('"d"');
  });
});
