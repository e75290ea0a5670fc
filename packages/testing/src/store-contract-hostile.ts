import { describe, expect } from '@jest/globals';
import { HOUR, MINUTE, test, type StoreContractContext } from './store-contract-context';

/**
 * Ids that must never alias each other, however a store builds its keys: separators, brace
 * (hash-tag) characters, NUL, percent and hash signs, case, Unicode normalisation forms, lone
 * surrogates (which UTF-8 encoding would turn into U+FFFD), and long strings that differ only at
 * the end (which a truncating or hashing store must still tell apart).
 */
export const HOSTILE_IDS: readonly string[] = [
  '',
  ' ',
  'a',
  'A',
  'a:b',
  'a:',
  ':a',
  'a\0b',
  '\0',
  'a\nb',
  '{a}',
  '{',
  '}',
  '}{',
  '{tw}',
  '%',
  '%41',
  'a%3Ab',
  '#',
  `#${'0'.repeat(64)}`,
  '*',
  '[a]',
  'all',
  'jti:a',
  'tokenwarden:{tw}:rev:a',
  '\u00e9',
  'e\u0301',
  '\ud83d\udd11',
  '\ud800',
  '\udc00',
  '\ufffd',
  'x'.repeat(10_000),
  'x'.repeat(10_001),
  `${'x'.repeat(9_999)}y`,
  '\u00e9'.repeat(5_000),
];

/** (subject, purpose) pairs that a store joining the two with a separator could confuse. */
const HOSTILE_PAIRS: readonly (readonly [string, string])[] = [
  ['a:b', 'c'],
  ['a', 'b:c'],
  ['a\0b', 'c'],
  ['a', 'b\0c'],
  ['a', 'b'],
  ['', 'a:b'],
  ['a:b', ''],
  ['a%3Ab', 'c'],
  ['a', '%3Ab:c'],
  ['', ''],
];

/** The hostile-id part of the `WardenStore` contract: ids that must never alias each other. */
export function hostileIdContract(ctx: StoreContractContext): void {
  describe('hostile ids', () => {
    test('hostile token ids never collide', async () => {
      // Id i expires at now + (i + 1) minutes; if two ids shared an entry, the earlier one
      // would still be revoked when its own expiry has passed.
      const now = ctx.clock.now();
      for (const [i, id] of HOSTILE_IDS.entries()) {
        await ctx.store.revokeToken(id, now + (i + 1) * MINUTE);
      }
      for (const [i, id] of HOSTILE_IDS.entries()) {
        ctx.clock.set(now + (i + 1) * MINUTE - 1);
        expect([i, (await ctx.lookup(id, 's')).tokenRevoked]).toEqual([i, true]);
        ctx.clock.set(now + (i + 1) * MINUTE + 1);
        expect([i, (await ctx.lookup(id, 's')).tokenRevoked]).toEqual([i, false]);
      }
    });

    for (const scope of ['subject', 'client'] as const) {
      test(`hostile ${scope} ids never collide`, async () => {
        // Each id gets its own mark time; marks only move forward, so a shared entry would
        // show the larger time for the smaller one.
        const now = ctx.clock.now();
        for (const [i, id] of HOSTILE_IDS.entries()) {
          await ctx.store.setNotBefore(scope, id, now + i, now + HOUR);
        }
        for (const [i, id] of HOSTILE_IDS.entries()) {
          const marks = (await ctx.lookup('t', id, id)).notBefore;
          expect([i, marks[scope]]).toEqual([i, now + i]);
        }
        expect((await ctx.lookup('t', 'not-marked', 'not-marked')).notBefore).toEqual({});
      });
    }

    test('hostile consent subjects and purposes never collide', async () => {
      for (const [i, id] of HOSTILE_IDS.entries()) {
        await ctx.store.grantConsent({ subject: id, purpose: 'p', grantedAt: 1000 + i });
        await ctx.store.grantConsent({ subject: 's', purpose: id, grantedAt: 2000 + i });
      }
      for (const [i, id] of HOSTILE_IDS.entries()) {
        expect(await ctx.store.getConsent(id, 'p')).toStrictEqual({
          subject: id,
          purpose: 'p',
          grantedAt: 1000 + i,
        });
        expect(await ctx.store.getConsent('s', id)).toStrictEqual({
          subject: 's',
          purpose: id,
          grantedAt: 2000 + i,
        });
        const snapshot = await ctx.store.lookup({
          tokenId: id,
          subject: id,
          client: id,
          consent: { subject: id, purpose: 'p' },
        });
        expect(snapshot.consent).toStrictEqual({
          subject: id,
          purpose: 'p',
          grantedAt: 1000 + i,
        });
      }
    });

    test('consent (subject, purpose) pairs never collide', async () => {
      for (const [i, [subject, purpose]] of HOSTILE_PAIRS.entries()) {
        await ctx.store.grantConsent({ subject, purpose, grantedAt: 1000 + i });
      }
      for (const [i, [subject, purpose]] of HOSTILE_PAIRS.entries()) {
        const record = await ctx.store.getConsent(subject, purpose);
        expect([i, record]).toEqual([i, { subject, purpose, grantedAt: 1000 + i }]);
      }
    });
  });
}
