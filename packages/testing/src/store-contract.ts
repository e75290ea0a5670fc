import { afterEach, beforeEach, describe, expect } from '@jest/globals';
import type { WardenStore } from '@tokenwarden/core';
import { FakeClock } from './fake-clock';
import { consentContract, expectPlainRecord } from './store-contract-consent';
import { HOUR, MINUTE, test, type StoreContractContext } from './store-contract-context';
import { epochContract, type StateLossHooks } from './store-contract-epoch';
import { hostileIdContract } from './store-contract-hostile';

export { HOSTILE_IDS } from './store-contract-hostile';
export type { StateLossHooks } from './store-contract-epoch';

/**
 * What a contract run needs from one backend: a fresh, empty store per test, and for a backend
 * run with `stateLoss`, how to lose its state.
 */
export type MakeStore = (clock: FakeClock) => Promise<{
  store: WardenStore;
  cleanup?: () => Promise<void>;
  stateLoss?: StateLossHooks;
}>;

/** Options of {@link storeContract}. */
export interface StoreContractOptions {
  /**
   * The store's state can be lost underneath it (Redis): `makeStore` returns `stateLoss` hooks,
   * and the contract checks that a lost state is refused on every node until a new epoch.
   * Default: false.
   */
  readonly stateLoss?: boolean;
  /**
   * The store keeps an epoch of its state (`EpochStore`), checked by the epoch part of the
   * contract. Default: true; false for a store in front of another (`CachingStore`).
   */
  readonly epoch?: boolean;
}

/**
 * The contract every `WardenStore` must pass. Each test gets a fresh store from `makeStore`, built
 * with a {@link FakeClock} that starts at the wall clock's time and only moves forward, so a store
 * that also keeps real expiries (Redis TTLs) never loses an entry during a test. Stores must use
 * the clock for every "is this entry still live" decision.
 *
 * @example
 * storeContract('MemoryStore', async (clock) => ({ store: new MemoryStore({ clock }) }));
 */
export function storeContract(
  name: string,
  makeStore: MakeStore,
  options: StoreContractOptions = {},
): void {
  describe(`${name} (WardenStore contract)`, () => {
    let clock: FakeClock;
    let store: WardenStore;
    let cleanup: (() => Promise<void>) | undefined;
    let stateLoss: StateLossHooks | undefined;

    beforeEach(async () => {
      clock = new FakeClock(Date.now());
      cleanup = undefined;
      stateLoss = undefined;
      ({ store, cleanup, stateLoss } = await makeStore(clock));
    });

    afterEach(async () => {
      // `store` is unset when makeStore failed; that failure is already reported.
      await store?.close();
      await cleanup?.();
    });

    const lookup = (tokenId: string, subject: string, client?: string) =>
      store.lookup(client === undefined ? { tokenId, subject } : { tokenId, subject, client });
    const ctx: StoreContractContext = {
      get store() {
        return store;
      },
      get clock() {
        return clock;
      },
      get stateLoss() {
        return stateLoss;
      },
      lookup,
    };

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

    consentContract(ctx);
    hostileIdContract(ctx);
    if (options.epoch !== false) epochContract(ctx, options.stateLoss === true);

    describe('close', () => {
      test('close() is idempotent', async () => {
        await expect(store.close()).resolves.toBeUndefined();
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}
