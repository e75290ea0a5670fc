import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ConfigError, MemoryStore, StoreCapacityError } from '@tokenwarden/core';
import { FakeClock, storeContract } from '@tokenwarden/testing';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

storeContract('MemoryStore', async (clock) => ({ store: new MemoryStore({ clock }) }));

describe('MemoryStore (embedded-only behaviour)', () => {
  const stores: MemoryStore[] = [];
  const make = (options: ConstructorParameters<typeof MemoryStore>[0]) => {
    const store = new MemoryStore(options);
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    jest.useRealTimers();
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it('refuses a new revocation when full instead of forgetting one', async () => {
    const clock = new FakeClock();
    const store = make({ clock, maxRevocations: 2 });
    await store.revokeToken('t1', clock.now() + HOUR);
    await store.setNotBefore('subject', 's1', clock.now(), clock.now() + HOUR);

    const refused = store.revokeToken('t3', clock.now() + HOUR);
    await expect(refused).rejects.toBeInstanceOf(StoreCapacityError);
    await expect(refused).rejects.toMatchObject({ code: 'store_capacity' });
    await expect(
      store.setNotBefore('client', 'c1', clock.now(), clock.now() + HOUR),
    ).rejects.toBeInstanceOf(StoreCapacityError);

    const snapshot = await store.lookup({ tokenId: 't1', subject: 's1', client: 'c1' });
    expect(snapshot).toEqual({ tokenRevoked: true, notBefore: { subject: clock.now() } });
    expect((await store.lookup({ tokenId: 't3', subject: 'x' })).tokenRevoked).toBe(false);
  });

  it('still updates an existing entry when full', async () => {
    const clock = new FakeClock();
    const store = make({ clock, maxRevocations: 1 });
    await store.setNotBefore('subject', 's1', clock.now(), clock.now() + MINUTE);
    await store.setNotBefore('subject', 's1', clock.now() + 5, clock.now() + HOUR);
    clock.advance(2 * MINUTE);
    const snapshot = await store.lookup({ tokenId: 't', subject: 's1' });
    expect(snapshot.notBefore.subject).toBe(clock.now() - 2 * MINUTE + 5);
  });

  it('makes room by sweeping expired entries when full', async () => {
    const clock = new FakeClock();
    const store = make({ clock, maxRevocations: 2 });
    await store.revokeToken('short', clock.now() + MINUTE);
    await store.revokeToken('long', clock.now() + HOUR);
    clock.advance(MINUTE + 1);
    await expect(store.revokeToken('new', clock.now() + HOUR)).resolves.toBeUndefined();
    expect((await store.lookup({ tokenId: 'new', subject: 's' })).tokenRevoked).toBe(true);
    expect((await store.lookup({ tokenId: 'long', subject: 's' })).tokenRevoked).toBe(true);
    await expect(store.revokeToken('one-more', clock.now() + HOUR)).rejects.toBeInstanceOf(
      StoreCapacityError,
    );
  });

  it('sweep() forgets only entries whose keepUntil has passed', async () => {
    const clock = new FakeClock();
    const store = make({ clock, maxRevocations: 3 });
    await store.revokeToken('a', clock.now() + MINUTE);
    await store.revokeToken('b', clock.now() + MINUTE);
    await store.revokeToken('c', clock.now() + HOUR);
    clock.advance(MINUTE);
    store.sweep();
    // Two slots are free again, so two new entries fit and a third does not.
    await store.revokeToken('d', clock.now() + HOUR);
    await store.revokeToken('e', clock.now() + HOUR);
    expect((await store.lookup({ tokenId: 'c', subject: 's' })).tokenRevoked).toBe(true);
    await expect(store.revokeToken('f', clock.now() + HOUR)).rejects.toBeInstanceOf(
      StoreCapacityError,
    );
  });

  it('sweeps on one interval timer and stops it on close()', async () => {
    jest.useFakeTimers();
    const store = make({ sweepIntervalMs: 1_000 });
    const sweep = jest.spyOn(store, 'sweep');
    jest.advanceTimersByTime(3_000);
    expect(sweep).toHaveBeenCalledTimes(3);
    expect(jest.getTimerCount()).toBe(1);
    await store.close();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(3_000);
    expect(sweep).toHaveBeenCalledTimes(3);
  });

  it('evicts the least recently written consent record when full', async () => {
    // At time 0, so the withdrawal below is still within its retention.
    const store = make({ maxConsentRecords: 2, clock: new FakeClock(0) });
    await store.grantConsent({ subject: 'a', purpose: 'p', grantedAt: 1 });
    await store.grantConsent({ subject: 'b', purpose: 'p', grantedAt: 2 });
    await store.grantConsent({ subject: 'c', purpose: 'p', grantedAt: 3 });
    await expect(store.getConsent('a', 'p')).resolves.toBeUndefined();
    expect((await store.getConsent('b', 'p'))?.grantedAt).toBe(2);

    // Writing 'b' again makes it the newest, so 'c' goes next.
    await store.withdrawConsent({ subject: 'b', purpose: 'p', withdrawnAt: 4 });
    await store.grantConsent({ subject: 'd', purpose: 'p', grantedAt: 5 });
    await expect(store.getConsent('c', 'p')).resolves.toBeUndefined();
    expect((await store.getConsent('b', 'p'))?.withdrawnAt).toBe(4);
    expect((await store.getConsent('d', 'p'))?.grantedAt).toBe(5);
  });

  it.each([
    ['maxRevocations', { maxRevocations: 0 }],
    ['maxConsentRecords', { maxConsentRecords: 1.5 }],
    ['sweepIntervalMs', { sweepIntervalMs: -1 }],
  ])('rejects a bad %s with a ConfigError naming it', (option, options) => {
    expect(() => new MemoryStore(options)).toThrow(ConfigError);
    expect(() => new MemoryStore(options)).toThrow(option);
  });
});
