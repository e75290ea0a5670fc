import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ConsentRecord, WardenStore } from '@tokenwarden/core';
import { FakeClock } from './fake-clock';

/** What a contract run needs from one backend: a fresh, empty store per test. */
export type MakeStore = (
  clock: FakeClock,
) => Promise<{ store: WardenStore; cleanup?: () => Promise<void> }>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

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

/**
 * The contract every `WardenStore` must pass. Each test gets a fresh store from `makeStore`, built
 * with a {@link FakeClock} that starts at the wall clock's time and only moves forward, so a store
 * that also keeps real expiries (Redis TTLs) never loses an entry during a test. Stores must use
 * the clock for every "is this entry still live" decision.
 *
 * @example
 * storeContract('MemoryStore', async (clock) => ({ store: new MemoryStore({ clock }) }));
 */
export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`${name} (WardenStore contract)`, () => {
    let clock: FakeClock;
    let store: WardenStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      clock = new FakeClock(Date.now());
      cleanup = undefined;
      ({ store, cleanup } = await makeStore(clock));
    });

    afterEach(async () => {
      // `store` is unset when makeStore failed; that failure is already reported.
      await store?.close();
      await cleanup?.();
    });

    const test = (title: string, fn: () => Promise<void>) => it(title, fn);

    const lookup = (tokenId: string, subject: string, client?: string) =>
      store.lookup(client === undefined ? { tokenId, subject } : { tokenId, subject, client });

    describe('lookup', () => {
      test('finds nothing in an empty store', async () => {
        const snapshot = await store.lookup({
          tokenId: 't1',
          subject: 's1',
          client: 'c1',
          consent: { subject: 's1', purpose: 'marketing' },
        });
        expect(snapshot).toEqual({ tokenRevoked: false, notBefore: {} });
        expect(snapshot.consent).toBeUndefined();
        expect(snapshot.notBefore.subject).toBeUndefined();
        expect(snapshot.notBefore.client).toBeUndefined();
        expect(snapshot.notBefore.all).toBeUndefined();
        await expect(store.getConsent('s1', 'marketing')).resolves.toBeUndefined();
      });

      test('answers revocation, every mark and the consent record in one call', async () => {
        const now = clock.now();
        await store.revokeToken('t1', now + HOUR);
        await store.setNotBefore('subject', 's1', now - 3, now + HOUR);
        await store.setNotBefore('client', 'c1', now - 2, now + HOUR);
        await store.setNotBefore('all', '', now - 1, now + HOUR);
        const record = await store.grantConsent({
          subject: 'ds1',
          purpose: 'marketing',
          grantedAt: now - 10,
        });

        const snapshot = await store.lookup({
          tokenId: 't1',
          subject: 's1',
          client: 'c1',
          consent: { subject: 'ds1', purpose: 'marketing' },
        });
        expect(snapshot).toEqual({
          tokenRevoked: true,
          notBefore: { subject: now - 3, client: now - 2, all: now - 1 },
          consent: record,
        });
        expectPlainRecord(snapshot.consent);
      });
    });

    describe('revoked token ids', () => {
      test('a revoked id is reported, other ids are not', async () => {
        await expect(store.revokeToken('t1', clock.now() + HOUR)).resolves.toBeUndefined();
        expect((await lookup('t1', 's')).tokenRevoked).toBe(true);
        expect((await lookup('t2', 's')).tokenRevoked).toBe(false);
        expect((await lookup('T1', 's')).tokenRevoked).toBe(false);
      });

      test('a revoked id is forgotten once its token has expired', async () => {
        const expiresAt = clock.now() + HOUR;
        await store.revokeToken('t1', expiresAt);
        clock.set(expiresAt - 1);
        expect((await lookup('t1', 's')).tokenRevoked).toBe(true);
        clock.set(expiresAt + 1);
        expect((await lookup('t1', 's')).tokenRevoked).toBe(false);
      });

      test('revoking again with an earlier expiry never shortens the revocation', async () => {
        const now = clock.now();
        await store.revokeToken('t1', now + HOUR);
        await store.revokeToken('t1', now + MINUTE);
        clock.advance(2 * MINUTE);
        expect((await lookup('t1', 's')).tokenRevoked).toBe(true);
      });

      test('revoking again with a later expiry extends the revocation', async () => {
        const now = clock.now();
        await store.revokeToken('t1', now + MINUTE);
        await store.revokeToken('t1', now + HOUR);
        clock.advance(2 * MINUTE);
        expect((await lookup('t1', 's')).tokenRevoked).toBe(true);
      });

      test('a revocation whose expiry has already passed is not reported', async () => {
        await store.revokeToken('t1', clock.now() - 1);
        expect((await lookup('t1', 's')).tokenRevoked).toBe(false);
      });

      test('a revoked id does not set any not-before mark', async () => {
        await store.revokeToken('x', clock.now() + HOUR);
        expect(await lookup('other', 'x', 'x')).toEqual({ tokenRevoked: false, notBefore: {} });
      });
    });

    describe('not-before marks', () => {
      test('a subject mark applies to that subject only', async () => {
        const now = clock.now();
        await expect(
          store.setNotBefore('subject', 'alice', now, now + HOUR),
        ).resolves.toBeUndefined();
        expect((await lookup('t', 'alice')).notBefore).toEqual({ subject: now });
        expect((await lookup('t', 'alice', 'app')).notBefore).toEqual({ subject: now });
        expect((await lookup('t', 'bob')).notBefore).toEqual({});
        expect((await lookup('t', 'bob', 'alice')).notBefore).toEqual({});
        expect((await lookup('alice', 'bob')).tokenRevoked).toBe(false);
      });

      test('a client mark applies to that client only', async () => {
        const now = clock.now();
        await store.setNotBefore('client', 'app', now, now + HOUR);
        expect((await lookup('t', 'alice', 'app')).notBefore).toEqual({ client: now });
        expect((await lookup('t', 'alice', 'other')).notBefore).toEqual({});
        expect((await lookup('t', 'alice')).notBefore).toEqual({});
        expect((await lookup('t', 'app')).notBefore).toEqual({});
      });

      test('the all mark applies to every token and ignores the id', async () => {
        const now = clock.now();
        await store.setNotBefore('all', 'ignored', now, now + HOUR);
        expect((await lookup('t', 'alice', 'app')).notBefore).toEqual({ all: now });
        expect((await lookup('u', 'bob')).notBefore).toEqual({ all: now });
        await store.setNotBefore('all', 'something else', now + 5, now + HOUR);
        expect((await lookup('t', 'ignored')).notBefore).toEqual({ all: now + 5 });
      });

      test('the three marks are kept apart', async () => {
        const now = clock.now();
        await store.setNotBefore('subject', 'x', now - 30, now + HOUR);
        await store.setNotBefore('client', 'x', now - 20, now + HOUR);
        await store.setNotBefore('all', 'x', now - 10, now + HOUR);
        expect((await lookup('x', 'x', 'x')).notBefore).toEqual({
          subject: now - 30,
          client: now - 20,
          all: now - 10,
        });
        expect((await lookup('x', 'y', 'y')).notBefore).toEqual({ all: now - 10 });
      });

      for (const scope of ['subject', 'client', 'all'] as const) {
        test(`the ${scope} mark never moves backwards`, async () => {
          const now = clock.now();
          const read = async () => (await lookup('t', 'id', 'id')).notBefore[scope];
          await store.setNotBefore(scope, 'id', now, now + HOUR);
          await store.setNotBefore(scope, 'id', now - MINUTE, now + HOUR);
          expect(await read()).toBe(now);
          await store.setNotBefore(scope, 'id', now + MINUTE, now + HOUR);
          expect(await read()).toBe(now + MINUTE);
        });

        test(`the ${scope} mark is forgotten after keepUntil`, async () => {
          const now = clock.now();
          const read = async () => (await lookup('t', 'id', 'id')).notBefore[scope];
          await store.setNotBefore(scope, 'id', now, now + MINUTE);
          clock.set(now + MINUTE - 1);
          expect(await read()).toBe(now);
          clock.set(now + MINUTE + 1);
          expect(await read()).toBeUndefined();
        });

        test(`a later write of the ${scope} mark extends keepUntil, an earlier one never shortens it`, async () => {
          const now = clock.now();
          const read = async () => (await lookup('t', 'id', 'id')).notBefore[scope];
          await store.setNotBefore(scope, 'id', now, now + MINUTE);
          await store.setNotBefore(scope, 'id', now - 1, now + HOUR);
          await store.setNotBefore(scope, 'id', now - 2, now + 2 * MINUTE);
          clock.set(now + 10 * MINUTE);
          expect(await read()).toBe(now);
          clock.set(now + HOUR + 1);
          expect(await read()).toBeUndefined();
        });
      }
    });

    describe('consent', () => {
      test('a grant is stored and read back', async () => {
        const now = clock.now();
        const grant = {
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now,
          expiresAt: now + HOUR,
          source: 'signup-form',
        };
        const record = await store.grantConsent(grant);
        expect(record).toStrictEqual(grant);
        expectPlainRecord(record);
        const read = await store.getConsent('alice', 'marketing');
        expect(read).toStrictEqual(grant);
        expectPlainRecord(read);
      });

      test('a grant without expiry or source has neither key', async () => {
        const record = await store.grantConsent({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: clock.now(),
        });
        expect(Object.keys(record).sort()).toEqual(['grantedAt', 'purpose', 'subject']);
        expectPlainRecord(record);
        const read = await store.getConsent('alice', 'marketing');
        expect(read).toStrictEqual(record);
        expectPlainRecord(read);
      });

      test('an empty source is kept as an empty string', async () => {
        const now = clock.now();
        const granted = await store.grantConsent({
          subject: 'a',
          purpose: 'p',
          grantedAt: now,
          source: '',
        });
        expect(granted.source).toBe('');
        const withdrawn = await store.withdrawConsent({
          subject: 'b',
          purpose: 'p',
          withdrawnAt: now,
          source: '',
        });
        expect(withdrawn.source).toBe('');
        expect((await store.getConsent('a', 'p'))?.source).toBe('');
        expect((await store.getConsent('b', 'p'))?.source).toBe('');
      });

      test('consent is kept per subject and purpose', async () => {
        await store.grantConsent({ subject: 'alice', purpose: 'marketing', grantedAt: 1 });
        await expect(store.getConsent('alice', 'analytics')).resolves.toBeUndefined();
        await expect(store.getConsent('bob', 'marketing')).resolves.toBeUndefined();
        await expect(store.getConsent('marketing', 'alice')).resolves.toBeUndefined();
      });

      test('a withdrawal keeps grantedAt and expiresAt and records withdrawnAt', async () => {
        const now = clock.now();
        await store.grantConsent({
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
        };
        const record = await store.withdrawConsent({
          subject: 'alice',
          purpose: 'marketing',
          withdrawnAt: now + MINUTE,
          source: 'ticket-42',
        });
        expect(record).toStrictEqual(expected);
        expectPlainRecord(record);
        expect(await store.getConsent('alice', 'marketing')).toStrictEqual(expected);
      });

      test('a withdrawal without a source keeps the grant source', async () => {
        const now = clock.now();
        await store.grantConsent({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now,
          source: 'signup-form',
        });
        const record = await store.withdrawConsent({
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
        });
      });

      test('a withdrawal without a prior grant is recorded with grantedAt 0', async () => {
        const now = clock.now();
        const record = await store.withdrawConsent({
          subject: 'bob',
          purpose: 'analytics',
          withdrawnAt: now,
        });
        const expected: ConsentRecord = {
          subject: 'bob',
          purpose: 'analytics',
          grantedAt: 0,
          withdrawnAt: now,
        };
        expect(record).toStrictEqual(expected);
        expectPlainRecord(record);
        expect(await store.getConsent('bob', 'analytics')).toStrictEqual(expected);
      });

      test('an earlier withdrawal never moves withdrawnAt back', async () => {
        const now = clock.now();
        await store.withdrawConsent({ subject: 'bob', purpose: 'p', withdrawnAt: now + MINUTE });
        const record = await store.withdrawConsent({
          subject: 'bob',
          purpose: 'p',
          withdrawnAt: now,
        });
        expect(record.withdrawnAt).toBe(now + MINUTE);
        expect((await store.getConsent('bob', 'p'))?.withdrawnAt).toBe(now + MINUTE);
      });

      test('a re-grant keeps withdrawnAt and replaces the rest of the grant', async () => {
        const now = clock.now();
        await store.grantConsent({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now,
          expiresAt: now + HOUR,
          source: 'signup-form',
        });
        await store.withdrawConsent({
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
        const record = await store.grantConsent({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now + 2 * MINUTE,
          source: 'settings-page',
        });
        expect(record).toStrictEqual(expected);
        expectPlainRecord(record);
        expect(await store.getConsent('alice', 'marketing')).toStrictEqual(expected);
      });

      test('lookup returns exactly the consent record asked for', async () => {
        const now = clock.now();
        const record = await store.grantConsent({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now,
          expiresAt: now + HOUR,
        });
        await store.grantConsent({ subject: 'alice', purpose: 'analytics', grantedAt: now + 1 });

        const asked = await store.lookup({
          tokenId: 't',
          subject: 'support-agent',
          consent: { subject: 'alice', purpose: 'marketing' },
        });
        expect(asked.consent).toStrictEqual(record);
        expectPlainRecord(asked.consent);

        const other = await store.lookup({
          tokenId: 't',
          subject: 'alice',
          consent: { subject: 'alice', purpose: 'research' },
        });
        expect(other.consent).toBeUndefined();

        const none = await store.lookup({ tokenId: 't', subject: 'alice' });
        expect(none.consent).toBeUndefined();
      });

      test('lookup sees a withdrawal made after the grant', async () => {
        const now = clock.now();
        await store.grantConsent({ subject: 'alice', purpose: 'marketing', grantedAt: now });
        await store.withdrawConsent({
          subject: 'alice',
          purpose: 'marketing',
          withdrawnAt: now + 5,
        });
        const snapshot = await store.lookup({
          tokenId: 't',
          subject: 'alice',
          consent: { subject: 'alice', purpose: 'marketing' },
        });
        expect(snapshot.consent).toStrictEqual({
          subject: 'alice',
          purpose: 'marketing',
          grantedAt: now,
          withdrawnAt: now + 5,
        });
      });
    });

    describe('hostile ids', () => {
      test('hostile token ids never collide', async () => {
        // Id i expires at now + (i + 1) minutes; if two ids shared an entry, the earlier one
        // would still be revoked when its own expiry has passed.
        const now = clock.now();
        for (const [i, id] of HOSTILE_IDS.entries()) {
          await store.revokeToken(id, now + (i + 1) * MINUTE);
        }
        for (const [i, id] of HOSTILE_IDS.entries()) {
          clock.set(now + (i + 1) * MINUTE - 1);
          expect([i, (await lookup(id, 's')).tokenRevoked]).toEqual([i, true]);
          clock.set(now + (i + 1) * MINUTE + 1);
          expect([i, (await lookup(id, 's')).tokenRevoked]).toEqual([i, false]);
        }
      });

      for (const scope of ['subject', 'client'] as const) {
        test(`hostile ${scope} ids never collide`, async () => {
          // Each id gets its own mark time; marks only move forward, so a shared entry would
          // show the larger time for the smaller one.
          const now = clock.now();
          for (const [i, id] of HOSTILE_IDS.entries()) {
            await store.setNotBefore(scope, id, now + i, now + HOUR);
          }
          for (const [i, id] of HOSTILE_IDS.entries()) {
            const marks = (await lookup('t', id, id)).notBefore;
            expect([i, marks[scope]]).toEqual([i, now + i]);
          }
          expect((await lookup('t', 'not-marked', 'not-marked')).notBefore).toEqual({});
        });
      }

      test('hostile consent subjects and purposes never collide', async () => {
        for (const [i, id] of HOSTILE_IDS.entries()) {
          await store.grantConsent({ subject: id, purpose: 'p', grantedAt: 1000 + i });
          await store.grantConsent({ subject: 's', purpose: id, grantedAt: 2000 + i });
        }
        for (const [i, id] of HOSTILE_IDS.entries()) {
          expect(await store.getConsent(id, 'p')).toStrictEqual({
            subject: id,
            purpose: 'p',
            grantedAt: 1000 + i,
          });
          expect(await store.getConsent('s', id)).toStrictEqual({
            subject: 's',
            purpose: id,
            grantedAt: 2000 + i,
          });
          const snapshot = await store.lookup({
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
          await store.grantConsent({ subject, purpose, grantedAt: 1000 + i });
        }
        for (const [i, [subject, purpose]] of HOSTILE_PAIRS.entries()) {
          const record = await store.getConsent(subject, purpose);
          expect([i, record]).toEqual([i, { subject, purpose, grantedAt: 1000 + i }]);
        }
      });
    });

    describe('close', () => {
      test('close() is idempotent', async () => {
        await expect(store.close()).resolves.toBeUndefined();
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}

/**
 * A record must be plain data: an `Object` prototype, no `undefined`-valued keys, and equal to its
 * own JSON round trip, so records from different stores compare equal with `toStrictEqual`.
 */
function expectPlainRecord(record: ConsentRecord | undefined): void {
  expect(record).toBeDefined();
  expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  expect(Object.entries(record ?? {}).filter(([, v]) => v === undefined)).toEqual([]);
  expect(JSON.parse(JSON.stringify(record))).toStrictEqual(record);
}
