import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  ApiKeyError,
  ApiKeys,
  ApiKeyUsage,
  ConfigError,
  MemoryCredentialStore,
  MemoryStore,
  apiKeyOptionsFromPolicy,
  createAdmin,
  generateCredential,
  hashCredential,
  parseCredential,
  type AuditEventInput,
  type CredentialStore,
} from '@tokenwarden/core/internal';
import { checkPolicy } from '@tokenwarden/core/policy';
import { FakeClock, TEST_POLICY } from '@tokenwarden/testing';
import { Registry } from 'prom-client';
import { createPrometheusMetrics } from '../../src/metrics/prometheus';
import { sample } from '../support';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const POLICY = TEST_POLICY;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** An audit recorder that keeps what it is given. */
function recorder() {
  const events: AuditEventInput[] = [];
  return { events, recordEvent: (event: AuditEventInput) => void events.push(event) };
}

describe('credential format', () => {
  it('has a type and environment prefix, ≥ 128 random bits and a checksum', () => {
    const key = generateCredential('twk', 'live');
    expect(key).toMatch(/^twk_live_[0-9A-Za-z]{38}$/);
    expect(parseCredential(key)).toEqual({ ok: true, value: { type: 'twk', environment: 'live' } });
    expect(parseCredential(generateCredential('twr', 'test'))).toEqual({
      ok: true,
      value: { type: 'twr', environment: 'test' },
    });
    // 32 base62 characters: log2(62^32) ≈ 190 bits; never the same twice.
    const many = new Set(Array.from({ length: 2_000 }, () => generateCredential('twk', 'live')));
    expect(many.size).toBe(2_000);
  });

  it('draws every base62 character, without favouring the first ones', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2_000; i++) {
      for (const ch of generateCredential('twk', 'live').slice(9, 41)) {
        counts.set(ch, (counts.get(ch) ?? 0) + 1);
      }
    }
    expect(counts.size).toBe(62);
    // 64000 draws over 62 characters: about 1032 each. A modulo bias on 256 would put the
    // first 8 characters near 1290; this bound is far outside normal variation either way.
    for (const n of counts.values()) expect(n).toBeLessThan(1_200);
  });

  it('refuses a typo (one changed, swapped, missing or extra character) by checksum', () => {
    const key = generateCredential('twk', 'live');
    const body = 9;
    const changed =
      key.slice(0, body + 3) + (key[body + 3] === 'a' ? 'b' : 'a') + key.slice(body + 4);
    const swapped = key.slice(0, body + 5) + key[body + 6] + key[body + 5] + key.slice(body + 7);
    expect(parseCredential(changed)).toEqual({ ok: false, error: 'checksum' });
    if (key[body + 5] !== key[body + 6]) {
      expect(parseCredential(swapped)).toEqual({ ok: false, error: 'checksum' });
    }
    expect(parseCredential(key.slice(0, -1))).toEqual({ ok: false, error: 'format' });
    expect(parseCredential(key + 'x')).toEqual({ ok: false, error: 'format' });
    // A different prefix is a different checksum input.
    expect(parseCredential(key.replace('twk_live_', 'twk_test_'))).toEqual({
      ok: false,
      error: 'checksum',
    });
  });

  it('catches every single-character substitution and adjacent swap after the prefix', () => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const key = generateCredential('twk', 'live');
    fc.assert(
      fc.property(
        fc.integer({ min: 9, max: key.length - 1 }),
        fc.constantFrom(...alphabet),
        (at, ch) => {
          fc.pre(key[at] !== ch);
          const typo = key.slice(0, at) + ch + key.slice(at + 1);
          expect(parseCredential(typo).ok).toBe(false);
        },
      ),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 9, max: key.length - 2 }), (at) => {
        fc.pre(key[at] !== key[at + 1]);
        const swapped = key.slice(0, at) + key[at + 1] + key[at] + key.slice(at + 2);
        expect(parseCredential(swapped).ok).toBe(false);
      }),
    );
  });

  it('never throws, and accepts almost no arbitrary string of the right shape', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (value) => {
        parseCredential(value);
      }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.stringMatching(/^twk_live_[0-9A-Za-z]{38}$/), (value) => {
        if (parseCredential(value).ok) accepted += 1;
      }),
      { numRuns: 2_000 },
    );
    // A 32-bit checksum: about one random string in four billion passes.
    expect(accepted).toBe(0);
  });

  it('refuses what is not a credential, without throwing', () => {
    for (const value of [
      '',
      'twk_live',
      'twk__abc',
      'abc_live_' + 'A'.repeat(38),
      'twk_Live_' + 'A'.repeat(38),
      'twk_live_' + 'A'.repeat(37) + '-',
      'eyJhbGciOiJIUzI1NiJ9.e30.sig',
      'twk_live_' + 'A'.repeat(10_000),
      42,
      undefined,
    ]) {
      expect(parseCredential(value).ok).toBe(false);
    }
  });

  it('hashes to lower-case SHA-256 hex', () => {
    expect(hashCredential('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('ApiKeys', () => {
  const usages: ApiKeyUsage[] = [];
  afterEach(async () => {
    await Promise.all(usages.splice(0).map((u) => u.close()));
  });

  function setup(options: Partial<ConstructorParameters<typeof ApiKeys>[0]> = {}) {
    const clock = new FakeClock(Date.UTC(2030, 0, 1));
    const store = new MemoryCredentialStore({ clock });
    const audit = recorder();
    const gauge: number[] = [];
    const apiKeys = new ApiKeys({
      store,
      clock,
      audit,
      metrics: { apiKeysExpiringSoon: (n) => void gauge.push(n) },
      ...options,
    });
    return { clock, store, audit, gauge, apiKeys };
  }

  it('creates a key shown once: the store holds its hash, the audit event its id only', async () => {
    const { apiKeys, store, audit, clock } = setup();
    const { key, record } = await apiKeys.create({
      client: 'billing',
      scopes: ['orders:read', 'orders:read', 'invoices:read'],
      name: 'export job',
      actor: 'ops@example.com',
    });
    expect(key).toMatch(/^twk_live_/);
    expect(record).toEqual({
      keyId: expect.stringMatching(/^ak_[0-9A-Za-z]{20}$/),
      hash: hashCredential(key),
      client: 'billing',
      subject: 'billing',
      scopes: ['orders:read', 'invoices:read'],
      environment: 'live',
      name: 'export job',
      createdAt: clock.now(),
      expiresAt: clock.now() + 90 * DAY,
    });
    expect(await store.findApiKey(hashCredential(key))).toEqual(record);
    expect(JSON.stringify(await store.listApiKeys())).not.toContain(key);
    expect(audit.events).toEqual([
      expect.objectContaining({
        type: 'apikey.created',
        outcome: 'success',
        tokenId: record.keyId,
        client: 'billing',
        actor: 'ops@example.com',
      }),
    ]);
    expect(JSON.stringify(audit.events)).not.toContain(key.slice(9));
  });

  it('always expires keys, and refuses a lifetime above the maximum, globally or per client', async () => {
    const { apiKeys, clock } = setup({
      maxAgeMs: 30 * DAY,
      clientRules: (client) => (client === 'short' ? { maxAgeMs: DAY } : undefined),
    });
    const a = await apiKeys.create({ client: 'c', scopes: [] });
    expect(a.record.expiresAt).toBe(clock.now() + 30 * DAY);
    await expect(
      apiKeys.create({ client: 'c', scopes: [], expiresInMs: 31 * DAY }),
    ).rejects.toThrow(/at most 30 d/);
    const b = await apiKeys.create({ client: 'short', scopes: [] });
    expect(b.record.expiresAt).toBe(clock.now() + DAY);
    await expect(
      apiKeys.create({ client: 'short', scopes: [], expiresInMs: 2 * DAY }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it("refuses scopes outside the client's allowed set, and malformed scope names", async () => {
    const { apiKeys } = setup({
      clientRules: () => ({ allowedScopes: ['orders:read'] }),
    });
    await expect(apiKeys.create({ client: 'c', scopes: ['orders:write'] })).rejects.toThrow(
      /may not hold scope 'orders:write'/,
    );
    await expect(apiKeys.create({ client: 'c', scopes: ['has space'] })).rejects.toThrow(
      ConfigError,
    );
    await expect(apiKeys.create({ client: 'c', scopes: ['orders:read'] })).resolves.toBeDefined();
  });

  it('rotates: same client and scopes, the old key ends with the overlap, a second rotation is refused', async () => {
    const { apiKeys, store, clock, audit } = setup();
    const old = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    clock.advance(DAY);
    const rotated = await apiKeys.rotate(old.record.keyId, { overlapMs: HOUR, actor: 'ops' });
    expect(rotated.key).not.toBe(old.key);
    expect(rotated.record).toMatchObject({
      client: 'billing',
      scopes: ['orders:read'],
      replaces: old.record.keyId,
      createdAt: clock.now(),
    });
    expect(rotated.previous).toMatchObject({
      replacedBy: rotated.record.keyId,
      expiresAt: clock.now() + HOUR,
    });
    expect((await store.findApiKey(hashCredential(old.key)))?.expiresAt).toBe(clock.now() + HOUR);
    // The new key lives as long as the old one was made to (90 days), from now.
    expect(rotated.record.expiresAt).toBe(clock.now() + 90 * DAY);
    expect(audit.events.at(-1)).toMatchObject({
      type: 'apikey.rotated',
      tokenId: rotated.record.keyId,
      detail: { previousKeyId: old.record.keyId },
    });
    await expect(apiKeys.rotate(old.record.keyId)).rejects.toMatchObject({ reason: 'replaced' });
    const short = await apiKeys.create({ client: 'billing', scopes: [], expiresInMs: 7 * DAY });
    const shortRotated = await apiKeys.rotate(short.record.keyId);
    expect(shortRotated.record.expiresAt).toBe(clock.now() + 7 * DAY);
  });

  it('revokes at once; a revoked or unknown key cannot be rotated', async () => {
    const { apiKeys, audit } = setup();
    const { record } = await apiKeys.create({ client: 'c', scopes: [] });
    const revoked = await apiKeys.revoke(record.keyId, { actor: 'ops', reason: 'leaked' });
    expect(revoked.revokedAt).toBeDefined();
    expect(audit.events.at(-1)).toMatchObject({
      type: 'apikey.revoked',
      tokenId: record.keyId,
      detail: { reason: 'leaked' },
    });
    await expect(apiKeys.rotate(record.keyId)).rejects.toMatchObject({ reason: 'revoked' });
    await expect(apiKeys.revoke('ak_unknown')).rejects.toBeInstanceOf(ApiKeyError);
  });

  it('with a revoker, also puts the key id on the revocation list until the key expires', async () => {
    const { store, clock } = setup();
    const marks = new MemoryStore({ clock });
    const admin = createAdmin({ store: marks, clock, audit: false });
    const apiKeys = new ApiKeys({ store, clock, revoker: admin });
    const { record } = await apiKeys.create({ client: 'c', subject: 's', scopes: [] });
    await apiKeys.revoke(record.keyId);
    const snapshot = await marks.lookup({ tokenId: record.keyId, subject: 's' });
    expect(snapshot.tokenRevoked).toBe(true);
    clock.set(record.expiresAt - 1);
    expect((await marks.lookup({ tokenId: record.keyId, subject: 's' })).tokenRevoked).toBe(true);
    await admin.close();
    await marks.close();
  });

  it('never echoes a key passed where a key id belongs', async () => {
    const { apiKeys } = setup();
    const { key } = await apiKeys.create({ client: 'c', scopes: [] });
    const error = await apiKeys.revoke(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiKeyError);
    expect((error as Error).message).not.toContain(key);
  });

  it('audits a failed change when the store cannot record it', async () => {
    const { audit, clock } = setup();
    const failing = new MemoryCredentialStore({ clock });
    failing.revokeApiKey = async () => {
      throw new Error('down');
    };
    const apiKeys = new ApiKeys({ store: failing as CredentialStore, audit, clock });
    await expect(apiKeys.revoke('ak_x')).rejects.toThrow('down');
    expect(audit.events.at(-1)).toMatchObject({ type: 'apikey.revoked', outcome: 'failure' });
  });

  it('counts keys expiring soon into the gauge (not revoked, not already expired)', async () => {
    const { apiKeys, gauge, clock } = setup();
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: 3 * DAY });
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: 6 * DAY });
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: 30 * DAY });
    const revoked = await apiKeys.create({ client: 'c', scopes: [], expiresInMs: DAY });
    await apiKeys.revoke(revoked.record.keyId);
    expect(await apiKeys.reportExpiringSoon()).toBe(2);
    clock.advance(4 * DAY);
    expect(await apiKeys.reportExpiringSoon()).toBe(1);
    expect(gauge).toEqual([2, 1]);
  });

  it('start() keeps the expiring-soon gauge current on a schedule, into the Prometheus registry', async () => {
    const registry = new Registry();
    const warnings: string[] = [];
    const { apiKeys, clock, store } = setup({
      metrics: createPrometheusMetrics({ registry }),
      reportIntervalMs: 20,
      logger: { warn: (message) => void warnings.push(message) },
    });
    const gauge = async () =>
      sample(await registry.metrics(), 'tokenwarden_api_keys_expiring_soon');
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: 6 * DAY });
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: 10 * DAY });
    await apiKeys.start();
    // The first count runs at once.
    expect(await gauge()).toBe(1);
    // Time passes and the schedule, not a caller, notices the second key entering the window.
    clock.advance(4 * DAY);
    const deadline = Date.now() + 2_000;
    while ((await gauge()) !== 2 && Date.now() < deadline) await sleep(10);
    expect(await gauge()).toBe(2);
    // A failing store is a warning, and the schedule goes on.
    const list = store.listApiKeys.bind(store);
    store.listApiKeys = () => Promise.reject(new Error('store down'));
    while (warnings.length === 0 && Date.now() < deadline + 2_000) await sleep(10);
    expect(warnings[0]).toMatch(/the count failed/);
    store.listApiKeys = list;
    clock.advance(10 * DAY);
    while ((await gauge()) !== 0 && Date.now() < deadline + 4_000) await sleep(10);
    expect(await gauge()).toBe(0);
    await apiKeys.close();
    // Stopped: nothing changes the gauge any more.
    await apiKeys.create({ client: 'c', scopes: [], expiresInMs: DAY });
    await sleep(60);
    expect(await gauge()).toBe(0);
  });

  it('lists keys, optionally of one client', async () => {
    const { apiKeys } = setup();
    await apiKeys.create({ client: 'a', scopes: [] });
    await apiKeys.create({ client: 'b', scopes: [] });
    expect((await apiKeys.list()).map((k) => k.client).sort()).toEqual(['a', 'b']);
    expect((await apiKeys.list({ client: 'b' })).map((k) => k.client)).toEqual(['b']);
  });

  it('works with createAdmin as its audit recorder', async () => {
    const admin = createAdmin({ store: new MemoryStore(), audit: false });
    const apiKeys = new ApiKeys({ store: new MemoryCredentialStore(), audit: admin });
    await expect(apiKeys.create({ client: 'c', scopes: [] })).resolves.toBeDefined();
    await admin.close();
  });

  it('takes its limits from the policy: clients, their scopes and maximum age', async () => {
    const { policy } = checkPolicy(POLICY);
    if (policy === undefined) throw new Error('test policy does not load');
    const { apiKeys, clock } = setup(apiKeyOptionsFromPolicy(policy));
    await expect(apiKeys.create({ client: 'batch', scopes: ['customers:read'] })).rejects.toThrow(
      /may not hold scope/,
    );
    await expect(apiKeys.create({ client: 'nobody', scopes: [] })).rejects.toThrow(
      /'nobody' is not in the policy/,
    );
    const console = await apiKeys.create({ client: 'support-console', scopes: ['orders:read'] });
    expect(console.record.expiresAt).toBe(clock.now() + 30 * DAY);
    const batch = await apiKeys.create({ client: 'batch', scopes: ['orders:read'] });
    expect(batch.record.expiresAt).toBe(clock.now() + 90 * DAY);
  });

  it('refuses a bad environment at construction', () => {
    const store = new MemoryCredentialStore();
    expect(() => new ApiKeys({ store, environment: 'Live_1' })).toThrow(ConfigError);
  });
});

describe('ApiKeyUsage', () => {
  it('writes last-used times in one batch per flush, not once per use', async () => {
    const writes: { keyId: string; at: number }[][] = [];
    const usage = new ApiKeyUsage({
      store: { touchApiKeys: async (uses) => void writes.push([...uses]) },
      flushIntervalMs: 3_600_000,
    });
    for (let i = 0; i < 1_000; i++) usage.record(i % 2 === 0 ? 'ak_a' : 'ak_b', 1_000 + i);
    expect(writes).toEqual([]);
    await usage.flush();
    expect(writes).toEqual([
      [
        { keyId: 'ak_a', at: 1_998 },
        { keyId: 'ak_b', at: 1_999 },
      ],
    ]);
    await usage.flush();
    expect(writes).toHaveLength(1);
    await usage.close();
  });

  it('keeps the times of a failed write for the next flush', async () => {
    let fail = true;
    const written: string[] = [];
    const errors: unknown[] = [];
    const usage = new ApiKeyUsage({
      store: {
        touchApiKeys: async (uses) => {
          if (fail) throw new Error('down');
          written.push(...uses.map((u) => `${u.keyId}@${u.at}`));
        },
      },
      onError: (e) => void errors.push(e),
    });
    usage.record('ak_a', 5);
    await usage.flush();
    expect(errors).toHaveLength(1);
    fail = false;
    usage.record('ak_a', 3);
    await usage.close();
    expect(written).toEqual(['ak_a@5']);
  });

  it('updates the store so the record shows the last use', async () => {
    const clock = new FakeClock();
    const store = new MemoryCredentialStore({ clock });
    const { record } = await new ApiKeys({ store, clock }).create({ client: 'c', scopes: [] });
    const usage = new ApiKeyUsage({ store });
    usage.record(record.keyId, clock.now() + 10);
    await usage.close();
    expect((await store.getApiKey(record.keyId))?.lastUsedAt).toBe(clock.now() + 10);
  });
});
