import { describe, expect } from '@jest/globals';
import {
  isEpochStore,
  StoreStateLostError,
  type EpochStore,
  type StoreEpoch,
  type WardenStore,
} from '@tokenwarden/core/internal';
import {
  HOUR,
  test,
  type StateLossHooks,
  type StoreContractContext,
} from './store-contract-context';

export type { StateLossHooks } from './store-contract-context';

/** The running test's store, which must keep an epoch of its state. */
function epochStore(ctx: StoreContractContext): EpochStore {
  const store = ctx.store;
  expect(isEpochStore(store)).toBe(true);
  return store as EpochStore;
}

/** The running test's state-loss hooks, which a backend run with `stateLoss` must return. */
function lossHooks(ctx: StoreContractContext): StateLossHooks {
  expect(ctx.stateLoss).toBeDefined();
  return ctx.stateLoss!;
}

/** The id of a current epoch, or a failed expectation. */
function currentId(epoch: StoreEpoch): string {
  expect(epoch).toMatchObject({ status: 'current', id: expect.any(String) });
  return (epoch as Extract<StoreEpoch, { status: 'current' }>).id;
}

/** A read that must reject because the state is lost, never resolve with what is left. */
async function expectLost(read: Promise<unknown>): Promise<StoreStateLostError> {
  const error = await read.then(
    (answer) => new Error(`answered ${JSON.stringify(answer)}`),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(StoreStateLostError);
  expect(error).toMatchObject({ code: 'store_state_lost', reason: 'lost' });
  return error as StoreStateLostError;
}

/**
 * The epoch part of the contract, for every store that keeps an epoch of its state (both the
 * memory and the Redis store): one epoch across reads and writes, a new one on `renewEpoch` with
 * every record kept, and `initializeEpoch` never writing over an epoch. With `stateLoss`, for a
 * store whose state can be lost (its make function returns {@link StateLossHooks}): once it is,
 * every read on every node (a node opened afterwards too) refuses with `StoreStateLostError` and
 * never answers from what is left, writes go on, and only `renewEpoch` lets reads through again.
 */
export function epochContract(ctx: StoreContractContext, stateLoss: boolean): void {
  describe('epoch of the state', () => {
    test('keeps one epoch across reads and writes', async () => {
      const store = epochStore(ctx);
      const now = ctx.clock.now();
      await ctx.lookup('t', 's', 'c');
      const id = currentId(await store.readEpoch());
      await store.revokeToken('t1', now + HOUR);
      await store.setNotBefore('subject', 's1', now, now + HOUR);
      await store.grantConsent({ subject: 'ds', purpose: 'marketing', grantedAt: now });
      await store.withdrawConsent({ subject: 'ds', purpose: 'marketing', withdrawnAt: now + 1 });
      expect((await ctx.lookup('t1', 's1')).tokenRevoked).toBe(true);
      await store.getConsent('ds', 'marketing');
      expect(currentId(await store.readEpoch())).toBe(id);
    });

    test('renewEpoch starts a new epoch with its origin and keeps every record', async () => {
      const store = epochStore(ctx);
      const now = ctx.clock.now();
      await store.revokeToken('t1', now + HOUR);
      await store.grantConsent({ subject: 'ds', purpose: 'marketing', grantedAt: now });
      await ctx.lookup('t1', 's');
      const before = currentId(await store.readEpoch());
      const renewed = await store.renewEpoch('restored');
      expect(renewed).toMatchObject({ status: 'current', origin: 'restored' });
      expect(currentId(renewed)).not.toBe(before);
      expect(await store.readEpoch()).toEqual(renewed);
      expect((await ctx.lookup('t1', 's')).tokenRevoked).toBe(true);
      expect(await store.getConsent('ds', 'marketing')).toMatchObject({ grantedAt: now });
      const accepted = await store.renewEpoch('accepted');
      expect(accepted).toMatchObject({ status: 'current', origin: 'accepted' });
      await expect(store.renewEpoch('created' as 'restored')).rejects.toBeInstanceOf(TypeError);
    });

    test('initializeEpoch writes nothing where an epoch exists', async () => {
      const store = epochStore(ctx);
      await ctx.lookup('t', 's');
      const epoch = await store.readEpoch();
      expect(await store.initializeEpoch()).toEqual({ written: false, epoch });
      expect(await store.readEpoch()).toEqual(epoch);
    });

    if (stateLoss) stateLossContract(ctx);
  });
}

function stateLossContract(ctx: StoreContractContext): void {
  describe('once the state is lost', () => {
    const others: WardenStore[] = [];
    const another = (): WardenStore => {
      const store = lossHooks(ctx).openAnother();
      others.push(store);
      return store;
    };
    const closeOthers = async () => {
      await Promise.all(others.splice(0).map((store) => store.close()));
    };

    /** Writes a revocation, a mark and a withdrawn consent, reads them once, loses them. */
    const writeThenLose = async (): Promise<string> => {
      const store = epochStore(ctx);
      const now = ctx.clock.now();
      await store.revokeToken('t1', now + HOUR);
      await store.setNotBefore('subject', 's1', now, now + HOUR);
      await store.grantConsent({ subject: 'ds', purpose: 'marketing', grantedAt: now - 10 });
      await store.withdrawConsent({ subject: 'ds', purpose: 'marketing', withdrawnAt: now });
      expect(
        await store.lookup({
          tokenId: 't1',
          subject: 's1',
          consent: { subject: 'ds', purpose: 'marketing' },
        }),
      ).toMatchObject({ tokenRevoked: true, notBefore: { subject: now } });
      const id = currentId(await store.readEpoch());
      await lossHooks(ctx).loseState();
      return id;
    };

    test('every read refuses with StoreStateLostError, never answers from what is left', async () => {
      const store = epochStore(ctx);
      const id = await writeThenLose();
      await expectLost(ctx.lookup('t1', 's1'));
      await expectLost(ctx.lookup('other', 'other', 'c'));
      await expectLost(store.getConsent('ds', 'marketing'));
      expect(await store.readEpoch()).toMatchObject({ status: 'lost', lostId: id });
      // Writes go on: what they write is kept for the restored state.
      await expect(store.revokeToken('t2', ctx.clock.now() + HOUR)).resolves.toBeUndefined();
      await expectLost(ctx.lookup('t2', 's'));
    });

    test('a node opened after the loss refuses too and starts no epoch of its own', async () => {
      await writeThenLose();
      await expectLost(ctx.lookup('t1', 's1'));
      const later = another();
      try {
        await expectLost(later.lookup({ tokenId: 't1', subject: 's1' }));
        await expectLost(later.getConsent('ds', 'marketing'));
        expect(await epochStore(ctx).readEpoch()).toMatchObject({ status: 'lost' });
      } finally {
        await closeOthers();
      }
    });

    test('an epoch a new node wrote over the lost state is refused by the nodes that knew the old one, then by all', async () => {
      await writeThenLose();
      // Nobody noticed the loss yet: a node opened now takes the empty store for a new one.
      const later = another();
      try {
        await expect(later.lookup({ tokenId: 't1', subject: 's1' })).resolves.toMatchObject({
          tokenRevoked: false,
        });
        // The node that knew the old epoch does not accept the new one, and records the loss…
        await expectLost(ctx.lookup('t1', 's1'));
        // …which the new node then sees as well.
        await expectLost(later.lookup({ tokenId: 't1', subject: 's1' }));
      } finally {
        await closeOthers();
      }
    });

    test('initializeEpoch never writes over the record of a loss', async () => {
      await writeThenLose();
      await expectLost(ctx.lookup('t1', 's1'));
      const result = await epochStore(ctx).initializeEpoch();
      expect(result).toMatchObject({ written: false, epoch: { status: 'lost' } });
      await expectLost(ctx.lookup('t1', 's1'));
    });

    test('renewEpoch once the state is back lets every node read again, the restored state in force', async () => {
      const store = epochStore(ctx);
      await writeThenLose();
      await expectLost(ctx.lookup('t1', 's1'));
      const other = another();
      try {
        await expectLost(other.lookup({ tokenId: 't1', subject: 's1' }));
        // The state is rebuilt (as `tokenwarden state restore` does), then a new epoch starts.
        const now = ctx.clock.now();
        await store.revokeToken('t1', now + HOUR);
        await store.withdrawConsent({ subject: 'ds', purpose: 'marketing', withdrawnAt: now });
        const renewed = await store.renewEpoch('restored');
        for (const node of [store, other]) {
          expect((await node.lookup({ tokenId: 't1', subject: 's1' })).tokenRevoked).toBe(true);
          expect(await node.getConsent('ds', 'marketing')).toMatchObject({ withdrawnAt: now });
        }
        expect(await store.readEpoch()).toEqual(renewed);
      } finally {
        await closeOthers();
      }
    });
  });
}
