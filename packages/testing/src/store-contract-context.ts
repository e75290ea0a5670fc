import { it } from '@jest/globals';
import type { StoreSnapshot, WardenStore } from '@tokenwarden/core';
import type { FakeClock } from './fake-clock';

/** What a backend whose state can be lost offers the contract. */
export interface StateLossHooks {
  /**
   * Deletes every piece of the store's data, as a Redis restarted without persistence, a
   * `FLUSHALL` or a failover to a replica without the writes would.
   */
  loseState(): Promise<void>;
  /** A second store on the same data (another node); closed by the contract. */
  openAnother(): WardenStore;
}

/** The store and clock of the running contract test, set afresh before each test. */
export interface StoreContractContext {
  readonly store: WardenStore;
  readonly clock: FakeClock;
  /** How the backend loses the store's state, for a run with `stateLoss`. */
  readonly stateLoss: StateLossHooks | undefined;
  /** `store.lookup` of a token id, subject and (optional) client, without consent. */
  lookup(tokenId: string, subject: string, client?: string): Promise<StoreSnapshot>;
}

/** One contract test: a title and an async body. */
export function test(title: string, fn: () => Promise<void>): void {
  it(title, fn);
}

/** One minute and one hour, in ms. */
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
