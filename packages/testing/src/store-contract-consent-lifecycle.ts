import { describe, expect } from '@jest/globals';
import { DEFAULT_CONSENT_RETENTION_MS, type ConsentRecord } from '@tokenwarden/core';
import { expectPlainRecord } from './store-contract-consent';
import { HOUR, MINUTE, test, type StoreContractContext } from './store-contract-context';

/** How long a store built with default options keeps a withdrawn record. */
export const KEPT = DEFAULT_CONSENT_RETENTION_MS;

/**
 * The consent part of the contract that makes records prove something and lets them go: the
 * notice, source and evidence of a grant, retention after withdrawal, listing and erasure per
 * data subject.
 */
export function consentLifecycleContract(ctx: StoreContractContext): void {
  describe('consent records: proof, retention, listing, erasure', () => {
    const proof = {
      notice: 'privacy-notice@2026-03',
      source: 'privacy-portal',
      evidence: 'form-submission-8841',
    };

    test('a grant keeps its notice, source and evidence; a withdrawal keeps notice and evidence', async () => {
      const now = ctx.clock.now();
      const grant = { subject: 'alice', purpose: 'marketing', grantedAt: now, ...proof };
      const granted = await ctx.store.grantConsent(grant);
      expect(granted).toStrictEqual(grant);
      expectPlainRecord(granted);
      expect(await ctx.store.getConsent('alice', 'marketing')).toStrictEqual(grant);

      const withdrawn = await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'marketing',
        withdrawnAt: now + MINUTE,
        source: 'api',
      });
      const expected: ConsentRecord = {
        ...grant,
        source: 'api',
        withdrawnAt: now + MINUTE,
        keepUntil: now + MINUTE + KEPT,
      };
      expect(withdrawn).toStrictEqual(expected);
      expectPlainRecord(withdrawn);
      expect(await ctx.store.getConsent('alice', 'marketing')).toStrictEqual(expected);
    });

    test('a notice given as the hash of its text is kept as given', async () => {
      const notice = `sha256:${'ab12'.repeat(16)}`;
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'al', purpose: 'p', grantedAt: now, notice });
      expect((await ctx.store.getConsent('al', 'p'))?.notice).toBe(notice);
    });

    test('a re-grant replaces notice and evidence and ends the retention countdown', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'p', grantedAt: now, ...proof });
      await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'p',
        withdrawnAt: now + 1,
        keepUntil: now + MINUTE,
      });
      const regrant = await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'p',
        grantedAt: now + 2,
        notice: 'privacy-notice@2026-09',
      });
      const expected: ConsentRecord = {
        subject: 'alice',
        purpose: 'p',
        grantedAt: now + 2,
        withdrawnAt: now + 1,
        notice: 'privacy-notice@2026-09',
      };
      expect(regrant).toStrictEqual(expected);
      ctx.clock.set(now + HOUR);
      expect(await ctx.store.getConsent('alice', 'p')).toStrictEqual(expected);
    });

    test('a withdrawn record is deleted once its retention is over', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'bob', purpose: 'p', grantedAt: now, ...proof });
      await ctx.store.withdrawConsent({
        subject: 'bob',
        purpose: 'p',
        withdrawnAt: now + 1,
        keepUntil: now + MINUTE,
      });
      const ask = { tokenId: 't', subject: 'bob', consent: { subject: 'bob', purpose: 'p' } };
      ctx.clock.set(now + MINUTE - 1);
      expect((await ctx.store.getConsent('bob', 'p'))?.keepUntil).toBe(now + MINUTE);
      expect((await ctx.store.lookup(ask)).consent?.withdrawnAt).toBe(now + 1);
      expect(await ctx.store.consentRecords('bob')).toHaveLength(1);
      ctx.clock.set(now + MINUTE);
      expect(await ctx.store.getConsent('bob', 'p')).toBeUndefined();
      expect((await ctx.store.lookup(ask)).consent).toBeUndefined();
      expect(await ctx.store.consentRecords('bob')).toEqual([]);
    });

    test('the later of two retention ends is kept; an earlier withdrawal never shortens it', async () => {
      const now = ctx.clock.now();
      await ctx.store.withdrawConsent({
        subject: 'bob',
        purpose: 'p',
        withdrawnAt: now,
        keepUntil: now + HOUR,
      });
      const record = await ctx.store.withdrawConsent({
        subject: 'bob',
        purpose: 'p',
        withdrawnAt: now + 1,
        keepUntil: now + MINUTE,
      });
      expect(record.keepUntil).toBe(now + HOUR);
      ctx.clock.set(now + 2 * MINUTE);
      expect((await ctx.store.getConsent('bob', 'p'))?.keepUntil).toBe(now + HOUR);
    });

    test('consentRecords lists every purpose of one subject, sorted, and nobody else', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'research', grantedAt: now });
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'marketing', grantedAt: now });
      await ctx.store.withdrawConsent({ subject: 'alice', purpose: 'analytics', withdrawnAt: now });
      await ctx.store.grantConsent({ subject: 'al', purpose: 'marketing', grantedAt: now });
      await ctx.store.grantConsent({ subject: 'alice2', purpose: 'marketing', grantedAt: now });
      await ctx.store.grantConsent({ subject: 'a:lice', purpose: 'marketing', grantedAt: now });

      const records = await ctx.store.consentRecords('alice');
      expect(records.map((r) => r.purpose)).toEqual(['analytics', 'marketing', 'research']);
      for (const record of records) {
        expect(record.subject).toBe('alice');
        expectPlainRecord(record);
        expect(record).toStrictEqual(await ctx.store.getConsent('alice', record.purpose));
      }
      expect((await ctx.store.consentRecords('al')).map((r) => r.subject)).toEqual(['al']);
      expect(await ctx.store.consentRecords('nobody')).toEqual([]);
    });

    test('eraseConsent deletes every record of one subject and answers their purposes', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'carol', purpose: 'research', grantedAt: now });
      await ctx.store.grantConsent({ subject: 'carol', purpose: 'marketing', grantedAt: now });
      await ctx.store.withdrawConsent({ subject: 'carol', purpose: 'analytics', withdrawnAt: now });
      await ctx.store.grantConsent({ subject: 'carl', purpose: 'marketing', grantedAt: now });

      expect(await ctx.store.eraseConsent('carol')).toEqual(['analytics', 'marketing', 'research']);
      expect(await ctx.store.consentRecords('carol')).toEqual([]);
      expect(await ctx.store.getConsent('carol', 'marketing')).toBeUndefined();
      const snapshot = await ctx.store.lookup({
        tokenId: 't',
        subject: 'carol',
        consent: { subject: 'carol', purpose: 'research' },
      });
      expect(snapshot.consent).toBeUndefined();
      expect(await ctx.store.getConsent('carl', 'marketing')).toBeDefined();
      expect(await ctx.store.eraseConsent('carol')).toEqual([]);
    });

    test('after an erasure a new grant starts a new record, without the old withdrawal', async () => {
      const now = ctx.clock.now();
      await ctx.store.withdrawConsent({ subject: 'dan', purpose: 'p', withdrawnAt: now });
      await ctx.store.eraseConsent('dan');
      const record = await ctx.store.grantConsent({ subject: 'dan', purpose: 'p', grantedAt: now });
      expect(record).toStrictEqual({ subject: 'dan', purpose: 'p', grantedAt: now });
      expect(await ctx.store.consentRecords('dan')).toStrictEqual([record]);
    });

    test('eraseConsent leaves the revocation marks of the subject alone', async () => {
      const now = ctx.clock.now();
      await ctx.store.setNotBefore('subject', 'erin', now, now + HOUR);
      await ctx.store.grantConsent({ subject: 'erin', purpose: 'p', grantedAt: now });
      await ctx.store.eraseConsent('erin');
      expect((await ctx.lookup('t', 'erin')).notBefore.subject).toBe(now);
    });
  });
}
