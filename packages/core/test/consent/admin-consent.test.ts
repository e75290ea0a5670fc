import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  createAdmin,
  createWarden,
  MemorySink,
  MemoryStore,
  type WardenAdmin,
} from '@tokenwarden/core';
import { FakeClock, testJwtOptions } from '@tokenwarden/testing';

const DAY = 86_400_000;

describe('consent records through the admin API', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  function admin(
    options: { retention?: { consentAfterWithdrawalMs?: number; revocationMarksMs?: number } } = {},
  ) {
    const clock = new FakeClock(Date.UTC(2026, 11, 1));
    const store = new MemoryStore({ clock });
    const sink = new MemorySink();
    const made: WardenAdmin = createAdmin({
      store,
      clock,
      purposes: ['marketing', 'research'],
      audit: { sinks: [sink] },
      ...options,
    });
    open.push(made, store);
    return { admin: made, store, sink, clock };
  }

  it('records the notice, source and evidence of a grant, in the store and the audit event', async () => {
    const { admin: a, sink, clock } = admin();
    const record = await a.grantConsent({
      subject: 'user-1',
      purpose: 'marketing',
      notice: 'privacy-notice@2026-03',
      source: 'privacy-portal',
      evidence: 'form-8841',
      actor: 'portal',
    });
    expect(record).toStrictEqual({
      subject: 'user-1',
      purpose: 'marketing',
      grantedAt: clock.now(),
      notice: 'privacy-notice@2026-03',
      source: 'privacy-portal',
      evidence: 'form-8841',
    });
    await a.flushAudit();
    expect(sink.events.at(-1)).toMatchObject({
      type: 'consent.granted',
      outcome: 'success',
      purpose: 'marketing',
      detail: {
        notice: 'privacy-notice@2026-03',
        source: 'privacy-portal',
        evidence: 'form-8841',
      },
    });
  });

  it('keeps a withdrawn record for the retention option, then the store deletes it', async () => {
    const { admin: a, clock } = admin({ retention: { consentAfterWithdrawalMs: 30 * DAY } });
    await a.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    const withdrawn = await a.withdrawConsent({ subject: 'user-1', purpose: 'marketing' });
    expect(withdrawn.keepUntil).toBe(clock.now() + 30 * DAY);
    clock.advance(30 * DAY - 1);
    expect(await a.getConsent('user-1', 'marketing')).toBeDefined();
    clock.advance(1);
    expect(await a.getConsent('user-1', 'marketing')).toBeUndefined();
  });

  it("a withdrawal's own retentionMs wins over the option", async () => {
    const { admin: a, clock } = admin({ retention: { consentAfterWithdrawalMs: 30 * DAY } });
    const record = await a.withdrawConsent({
      subject: 'user-1',
      purpose: 'marketing',
      retentionMs: DAY,
    });
    expect(record.keepUntil).toBe(clock.now() + DAY);
  });

  it('keeps revocation marks longer by retention.revocationMarksMs', async () => {
    const { admin: a, store, clock } = admin({ retention: { revocationMarksMs: 7 * DAY } });
    await a.revokeSubject('user-1');
    const at = clock.now();
    // The mark outlives the longest token (1 h by default, plus 5 s tolerance) by 7 days.
    clock.set(at + 3_600_000 + 5_000 + 7 * DAY - 1);
    expect((await store.lookup({ tokenId: 't', subject: 'user-1' })).notBefore.subject).toBe(at);
    clock.advance(1);
    expect((await store.lookup({ tokenId: 't', subject: 'user-1' })).notBefore.subject).toBe(
      undefined,
    );
  });

  it('lists and erases a data subject’s records; the erasure is audited as consent.erased', async () => {
    const { admin: a, sink } = admin();
    await a.grantConsent({ subject: 'user-1', purpose: 'research' });
    await a.grantConsent({ subject: 'user-1', purpose: 'marketing' });
    await a.grantConsent({ subject: 'user-2', purpose: 'marketing' });
    expect((await a.consentRecords('user-1')).map((r) => r.purpose)).toEqual([
      'marketing',
      'research',
    ]);
    expect(await a.eraseConsent('user-1', { actor: 'dpo', reason: 'art17-request-12' })).toEqual([
      'marketing',
      'research',
    ]);
    expect(await a.consentRecords('user-1')).toEqual([]);
    expect(await a.consentRecords('user-2')).toHaveLength(1);
    await a.flushAudit();
    expect(sink.events.at(-1)).toMatchObject({
      type: 'consent.erased',
      outcome: 'success',
      actor: 'dpo',
      detail: { reason: 'art17-request-12' },
    });
    // The history stays in the trail: the grants are still there.
    expect(sink.events.filter((e) => e.type === 'consent.granted')).toHaveLength(3);
  });

  it('refuses a notice that names no version or hash, before reaching the store', async () => {
    const { admin: a, store } = admin();
    for (const notice of ['privacy-notice', 'sha256:abc', 'n@', 'n@v 2']) {
      await expect(
        a.grantConsent({ subject: 'user-1', purpose: 'marketing', notice }),
      ).rejects.toThrow(/notice must be '<id>@<version>'/);
    }
    expect(await store.getConsent('user-1', 'marketing')).toBeUndefined();
  });

  it('refuses a malformed subject before reaching the store', async () => {
    const { admin: a } = admin();
    await expect(a.eraseConsent('')).rejects.toThrow(TypeError);
    await expect(a.consentRecords('bad\nid')).rejects.toThrow(TypeError);
  });

  it('rejects a bad retention option at start-up, naming it', () => {
    const store = new MemoryStore();
    open.push(store);
    expect(() => createAdmin({ store, retention: { consentAfterWithdrawalMs: -1 } })).toThrow(
      /retention\.consentAfterWithdrawalMs/,
    );
    expect(() =>
      createWarden({ jwt: testJwtOptions(), store, retention: { revocationMarksMs: 1.5 } }),
    ).toThrow(ConfigError);
    expect(() =>
      createWarden({
        jwt: testJwtOptions(),
        store,
        retention: { consentAfterWithdrawal: 1 } as never,
      }),
    ).toThrow(/unknown option 'retention.consentAfterWithdrawal'/);
  });
});
