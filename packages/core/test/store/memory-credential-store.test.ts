import { describe, expect, it } from '@jest/globals';
import { ConfigError, MemoryCredentialStore, StoreCapacityError } from '@tokenwarden/core';
import { FakeClock, credentialStoreContract } from '@tokenwarden/testing';

credentialStoreContract('MemoryCredentialStore', async (clock) => ({
  store: new MemoryCredentialStore({ clock }),
}));

describe('MemoryCredentialStore (embedded-only behaviour)', () => {
  it('refuses a key past its capacity instead of dropping one', async () => {
    const clock = new FakeClock();
    const store = new MemoryCredentialStore({ clock, maxApiKeys: 1 });
    const record = (keyId: string, hash: string) => ({
      keyId,
      hash,
      client: 'c',
      subject: 'c',
      scopes: [],
      environment: 'live',
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    });
    await store.createApiKey(record('ak_1', 'a'.repeat(64)));
    await expect(store.createApiKey(record('ak_2', 'b'.repeat(64)))).rejects.toBeInstanceOf(
      StoreCapacityError,
    );
    expect(await store.getApiKey('ak_1')).toBeDefined();
  });

  it('refuses a non-positive option at construction, naming it', () => {
    expect(() => new MemoryCredentialStore({ maxRefreshTokens: 0 })).toThrow(ConfigError);
    expect(() => new MemoryCredentialStore({ retentionMs: -1 })).toThrow(/retentionMs/);
  });
});
