import { it } from '@jest/globals';
import type { StoreSnapshot, WardenStore } from '@tokenwarden/core';
import type { FakeClock } from './fake-clock';

/** The store and clock of the running contract test, set afresh before each test. */
export interface StoreContractContext {
  readonly store: WardenStore;
  readonly clock: FakeClock;
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
