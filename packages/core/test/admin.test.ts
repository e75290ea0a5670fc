import { describe, expect, it } from '@jest/globals';
import { ConfigError, createAdmin, createWarden, MemorySink, MemoryStore } from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from './support';

describe('createAdmin', () => {
  it('revokes through a shared store, so a warden reading it refuses the token, and audits the change', async () => {
    const store = new MemoryStore();
    const sink = new MemorySink();
    const admin = createAdmin({ store, audit: { sinks: [sink] } });
    const warden = createWarden({ jwt: testJwtOptions(), store });
    const token = mintToken({ now: Date.now() - 2_000, claims: { sub: 'user-7' } });
    expect((await warden.check(bearer(token))).outcome).toBe('allow');

    await admin.revokeSubject('user-7', { actor: 'dpo', reason: 'leaked' });
    const after = await warden.check(bearer(token));
    expect(after.outcome === 'deny' && after.code).toBe('token_revoked');

    await admin.flushAudit();
    expect(sink.events).toEqual([
      expect.objectContaining({
        type: 'subject.revoked',
        outcome: 'success',
        subject: 'user-7',
        actor: 'dpo',
        detail: expect.objectContaining({ reason: 'leaked' }),
      }),
    ]);
    await admin.close();
    await warden.close();
  });

  it('records consent for declared purposes only, and never closes a store it was given', async () => {
    const store = new MemoryStore();
    const admin = createAdmin({ store, purposes: ['marketing'] });
    await admin.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    await admin.withdrawConsent({ subject: 'user-1', purpose: 'marketing' });
    expect(await admin.getConsent('user-1', 'marketing')).toEqual(
      expect.objectContaining({ withdrawnAt: expect.any(Number) }),
    );
    await expect(admin.grantConsent({ subject: 'user-1', purpose: 'profiling' })).rejects.toThrow(
      /purpose 'profiling' is not declared/,
    );
    await admin.close();
    expect(await store.getConsent('user-1', 'marketing')).toBeDefined();
  });

  it('refuses missing or out-of-range settings with a ConfigError naming them', () => {
    expect(() => createAdmin({} as never)).toThrow(ConfigError);
    expect(() => createAdmin({ store: new MemoryStore(), maxLifetimeMs: -1 })).toThrow(
      /maxLifetimeMs/,
    );
  });
});
