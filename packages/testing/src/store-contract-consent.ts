import { describe, expect } from '@jest/globals';
import type { ConsentRecord } from '@tokenwarden/core';
import { HOUR, MINUTE, test, type StoreContractContext } from './store-contract-context';
import { consentLifecycleContract, KEPT } from './store-contract-consent-lifecycle';

/** The consent part of the `WardenStore` contract: grants, withdrawals, re-grants, lookups. */
export function consentContract(ctx: StoreContractContext): void {
  describe('consent', () => {
    test('a grant is stored and read back', async () => {
      const now = ctx.clock.now();
      const grant = {
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        expiresAt: now + HOUR,
        source: 'signup-form',
      };
      const record = await ctx.store.grantConsent(grant);
      expect(record).toStrictEqual(grant);
      expectPlainRecord(record);
      const read = await ctx.store.getConsent('alice', 'marketing');
      expect(read).toStrictEqual(grant);
      expectPlainRecord(read);
    });

    test('a grant without expiry or source has neither key', async () => {
      const record = await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: ctx.clock.now(),
      });
      expect(Object.keys(record).sort()).toEqual(['grantedAt', 'purpose', 'subject']);
      expectPlainRecord(record);
      const read = await ctx.store.getConsent('alice', 'marketing');
      expect(read).toStrictEqual(record);
      expectPlainRecord(read);
    });

    test('an empty source is kept as an empty string', async () => {
      const now = ctx.clock.now();
      const granted = await ctx.store.grantConsent({
        subject: 'a',
        purpose: 'p',
        grantedAt: now,
        source: '',
      });
      expect(granted.source).toBe('');
      const withdrawn = await ctx.store.withdrawConsent({
        subject: 'b',
        purpose: 'p',
        withdrawnAt: now,
        source: '',
      });
      expect(withdrawn.source).toBe('');
      expect((await ctx.store.getConsent('a', 'p'))?.source).toBe('');
      expect((await ctx.store.getConsent('b', 'p'))?.source).toBe('');
    });

    test('consent is kept per subject and purpose', async () => {
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'marketing', grantedAt: 1 });
      await expect(ctx.store.getConsent('alice', 'analytics')).resolves.toBeUndefined();
      await expect(ctx.store.getConsent('bob', 'marketing')).resolves.toBeUndefined();
      await expect(ctx.store.getConsent('marketing', 'alice')).resolves.toBeUndefined();
    });

    test('a withdrawal keeps grantedAt and expiresAt and records withdrawnAt', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        expiresAt: now + HOUR,
        source: 'signup-form',
      });
      const expected: ConsentRecord = {
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        expiresAt: now + HOUR,
        withdrawnAt: now + MINUTE,
        source: 'ticket-42',
        keepUntil: now + MINUTE + KEPT,
      };
      const record = await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'marketing',
        withdrawnAt: now + MINUTE,
        source: 'ticket-42',
      });
      expect(record).toStrictEqual(expected);
      expectPlainRecord(record);
      expect(await ctx.store.getConsent('alice', 'marketing')).toStrictEqual(expected);
    });

    test('a withdrawal without a source keeps the grant source', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        source: 'signup-form',
      });
      const record = await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'marketing',
        withdrawnAt: now + 1,
      });
      expect(record).toStrictEqual({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        withdrawnAt: now + 1,
        source: 'signup-form',
        keepUntil: now + 1 + KEPT,
      });
    });

    test('a withdrawal without a prior grant is recorded with grantedAt 0', async () => {
      const now = ctx.clock.now();
      const record = await ctx.store.withdrawConsent({
        subject: 'bob',
        purpose: 'analytics',
        withdrawnAt: now,
      });
      const expected: ConsentRecord = {
        subject: 'bob',
        purpose: 'analytics',
        grantedAt: 0,
        withdrawnAt: now,
        keepUntil: now + KEPT,
      };
      expect(record).toStrictEqual(expected);
      expectPlainRecord(record);
      expect(await ctx.store.getConsent('bob', 'analytics')).toStrictEqual(expected);
    });

    test('an earlier withdrawal never moves withdrawnAt back', async () => {
      const now = ctx.clock.now();
      await ctx.store.withdrawConsent({ subject: 'bob', purpose: 'p', withdrawnAt: now + MINUTE });
      const record = await ctx.store.withdrawConsent({
        subject: 'bob',
        purpose: 'p',
        withdrawnAt: now,
      });
      expect(record.withdrawnAt).toBe(now + MINUTE);
      expect((await ctx.store.getConsent('bob', 'p'))?.withdrawnAt).toBe(now + MINUTE);
    });

    test('a re-grant keeps withdrawnAt and replaces the rest of the grant', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        expiresAt: now + HOUR,
        source: 'signup-form',
      });
      await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'marketing',
        withdrawnAt: now + MINUTE,
        source: 'ticket-42',
      });
      const expected: ConsentRecord = {
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now + 2 * MINUTE,
        withdrawnAt: now + MINUTE,
        source: 'settings-page',
      };
      const record = await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now + 2 * MINUTE,
        source: 'settings-page',
      });
      expect(record).toStrictEqual(expected);
      expectPlainRecord(record);
      expect(await ctx.store.getConsent('alice', 'marketing')).toStrictEqual(expected);
    });

    test('lookup returns exactly the consent record asked for', async () => {
      const now = ctx.clock.now();
      const record = await ctx.store.grantConsent({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        expiresAt: now + HOUR,
      });
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'analytics', grantedAt: now + 1 });

      const asked = await ctx.store.lookup({
        tokenId: 't',
        subject: 'support-agent',
        consent: { subject: 'alice', purpose: 'marketing' },
      });
      expect(asked.consent).toStrictEqual(record);
      expectPlainRecord(asked.consent);

      const other = await ctx.store.lookup({
        tokenId: 't',
        subject: 'alice',
        consent: { subject: 'alice', purpose: 'research' },
      });
      expect(other.consent).toBeUndefined();

      const none = await ctx.store.lookup({ tokenId: 't', subject: 'alice' });
      expect(none.consent).toBeUndefined();
    });

    test('lookup sees a withdrawal made after the grant', async () => {
      const now = ctx.clock.now();
      await ctx.store.grantConsent({ subject: 'alice', purpose: 'marketing', grantedAt: now });
      await ctx.store.withdrawConsent({
        subject: 'alice',
        purpose: 'marketing',
        withdrawnAt: now + 5,
      });
      const snapshot = await ctx.store.lookup({
        tokenId: 't',
        subject: 'alice',
        consent: { subject: 'alice', purpose: 'marketing' },
      });
      expect(snapshot.consent).toStrictEqual({
        subject: 'alice',
        purpose: 'marketing',
        grantedAt: now,
        withdrawnAt: now + 5,
        keepUntil: now + 5 + KEPT,
      });
    });
  });

  consentLifecycleContract(ctx);
}

/**
 * A record must be plain data: an `Object` prototype, no `undefined`-valued keys, and equal to its
 * own JSON round trip, so records from different stores compare equal with `toStrictEqual`.
 */
export function expectPlainRecord(record: ConsentRecord | undefined): void {
  expect(record).toBeDefined();
  expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  expect(Object.entries(record ?? {}).filter(([, v]) => v === undefined)).toEqual([]);
  expect(JSON.parse(JSON.stringify(record))).toStrictEqual(record);
}
