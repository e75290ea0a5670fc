import { describe, expect, it, jest } from '@jest/globals';
import {
  ApiKeys,
  createWarden,
  MemoryCredentialStore,
  MemorySink,
  type Decision,
} from '@tokenwarden/core';
import { FakeClock, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from './support';

function code(decision: Decision): string {
  return decision.outcome === 'deny' ? decision.code : 'allow';
}

async function setup() {
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 9));
  const store = new MemoryCredentialStore({ clock });
  const sink = new MemorySink();
  const warden = createWarden({
    jwt: testJwtOptions(),
    apiKeys: { store, environments: ['live'] },
    purposes: ['analytics'],
    audit: { sinks: [sink] },
    clock,
    metrics: false,
  });
  const keys = new ApiKeys({ store, clock, revoker: warden, defaultOverlapMs: 60_000 });
  return { clock, store, sink, warden, keys };
}

describe('API keys through the warden', () => {
  it('accepts a key wherever a JWT is accepted, with its scopes, and audits it by key id only', async () => {
    const { clock, sink, warden, keys } = await setup();
    const { key, record } = await keys.create({ client: 'billing', scopes: ['orders:read'] });
    clock.advance(2_000);
    const allowed = await warden.check(bearer(key), { scopes: ['orders:read'] });
    expect(allowed.outcome === 'allow' && allowed.principal).toMatchObject({
      tokenId: record.keyId,
      subject: 'billing',
      client: 'billing',
      scopes: ['orders:read'],
    });
    expect(code(await warden.check(bearer(key), { scopes: ['orders:write'] }))).toBe(
      'insufficient_scope',
    );
    await warden.flushAudit();
    const text = JSON.stringify(sink.events);
    expect(text).toContain(record.keyId);
    expect(text).not.toContain(key);
    await warden.close();
  });

  it('refuses a typo without a look-up, an unknown key, a revoked key at once, and an expired one', async () => {
    const { clock, store, warden, keys } = await setup();
    const { key, record } = await keys.create({
      client: 'billing',
      scopes: ['orders:read'],
      expiresInMs: 3_600_000,
    });
    clock.advance(2_000);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    const lookups = jest.spyOn(store, 'findApiKey');
    expect(code(await warden.check(bearer(key.slice(0, -1) + last)))).toBe('token_malformed');
    expect(lookups).not.toHaveBeenCalled();
    expect(code(await warden.check(bearer(key)))).toBe('allow');

    await keys.revoke(record.keyId);
    expect(code(await warden.check(bearer(key)))).toBe('token_revoked');

    const other = await keys.create({ client: 'billing', scopes: [], expiresInMs: 3_600_000 });
    clock.advance(3_600_000);
    expect(code(await warden.check(bearer(other.key)))).toBe('token_expired');
    await warden.close();
  });

  it('keeps the old key working through the rotation overlap only', async () => {
    const { clock, warden, keys } = await setup();
    const first = await keys.create({ client: 'billing', scopes: [] });
    clock.advance(2_000);
    const rotated = await keys.rotate(first.record.keyId, { overlapMs: 60_000 });
    clock.advance(1_000);
    expect(code(await warden.check(bearer(first.key)))).toBe('allow');
    expect(code(await warden.check(bearer(rotated.key)))).toBe('allow');
    clock.advance(60_000);
    expect(code(await warden.check(bearer(first.key)))).not.toBe('allow');
    expect(code(await warden.check(bearer(rotated.key)))).toBe('allow');
    await warden.close();
  });

  it('refuses every key of a client revoked as a whole, and writes last-used times in a batch', async () => {
    const { clock, store, warden, keys } = await setup();
    const { key, record } = await keys.create({ client: 'billing', scopes: [] });
    clock.advance(2_000);
    expect(code(await warden.check(bearer(key)))).toBe('allow');
    const touches = jest.spyOn(store, 'touchApiKeys');
    await warden.revokeClient('billing');
    expect(code(await warden.check(bearer(key)))).toBe('token_revoked');
    await warden.close();
    expect(touches).toHaveBeenCalledTimes(1);
    expect((await store.getApiKey(record.keyId))?.lastUsedAt).toBe(clock.now());
  });
});
