import { afterEach, beforeEach, describe } from '@jest/globals';
import type {
  ApiKeyRecord,
  CredentialStore,
  RefreshFamily,
  RefreshTokenRecord,
} from '@tokenwarden/core';
import { apiKeyContract } from './credential-contract-api-keys';
import { anyHash, DAY, type CredentialContractContext } from './credential-contract-context';
import { refreshFamilyContract } from './credential-contract-refresh';
import { FakeClock } from './fake-clock';

/** What a contract run needs from one backend: a fresh, empty store per test. */
export type MakeCredentialStore = (
  clock: FakeClock,
) => Promise<{ store: CredentialStore; cleanup?: () => Promise<void> }>;

/**
 * The contract every `CredentialStore` must pass: API-key records (hash look-up, rotation with
 * overlap, revocation, batched last-used times, retention) and refresh-token families (rotation,
 * reuse detection, access tokens of a family). Each test gets a fresh store built with a
 * {@link FakeClock} that starts at the wall clock's time and only moves forward; stores must use it
 * for every "is this record still kept" decision, with the default 30-day retention.
 *
 * @example
 * credentialStoreContract('MemoryCredentialStore', async (clock) => ({
 *   store: new MemoryCredentialStore({ clock }),
 * }));
 */
export function credentialStoreContract(name: string, makeStore: MakeCredentialStore): void {
  describe(`${name} (credential store contract)`, () => {
    let clock: FakeClock;
    let store: CredentialStore;
    let cleanup: (() => Promise<void>) | undefined;
    let seq = 0;

    beforeEach(async () => {
      clock = new FakeClock(Date.now());
      const made = await makeStore(clock);
      store = made.store;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      await store.close();
      await cleanup?.();
    });

    function key(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
      seq += 1;
      return {
        keyId: `ak_test${seq}`,
        hash: anyHash(),
        client: 'billing',
        subject: 'billing',
        scopes: ['orders:read', 'orders:write'],
        environment: 'live',
        createdAt: clock.now(),
        expiresAt: clock.now() + 30 * DAY,
        ...overrides,
      };
    }

    function family(overrides: Partial<RefreshFamily> = {}): RefreshFamily {
      seq += 1;
      return {
        familyId: `rf_test${seq}`,
        subject: 'user-1',
        client: 'web',
        scopes: ['profile:read'],
        createdAt: clock.now(),
        expiresAt: clock.now() + 30 * DAY,
        rotations: 0,
        accessTokens: [],
        ...overrides,
      };
    }

    function token(
      familyId: string,
      overrides: Partial<RefreshTokenRecord> = {},
    ): RefreshTokenRecord {
      seq += 1;
      return {
        tokenId: `rt_test${seq}`,
        hash: anyHash(),
        familyId,
        issuedAt: clock.now(),
        expiresAt: clock.now() + 14 * DAY,
        ...overrides,
      };
    }

    function next(overrides: Partial<RefreshTokenRecord> = {}) {
      const { tokenId, hash, issuedAt, expiresAt } = token('', overrides);
      return { tokenId, hash, issuedAt, expiresAt };
    }

    const ctx: CredentialContractContext = {
      get store() {
        return store;
      },
      get clock() {
        return clock;
      },
      key,
      family,
      token,
      next,
    };

    apiKeyContract(ctx);
    refreshFamilyContract(ctx);
  });
}
