import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  MemoryCredentialStore,
  StoreCapacityError,
  type CredentialStore,
} from '@tokenwarden/core';
import { FakeClock, credentialStoreContract } from '@tokenwarden/testing';

credentialStoreContract('MemoryCredentialStore', async (clock) => ({
  store: new MemoryCredentialStore({ clock }),
}));

/** `findRefreshFamily`: the family of any member, current or used; nothing changes; gone after retention. */
async function findsFamilies(store: CredentialStore, clock: FakeClock): Promise<void> {
  const now = clock.now();
  const hash = () => randomBytes(32).toString('hex');
  const family = {
    familyId: `rf_${randomBytes(6).toString('hex')}`,
    subject: 'user-1',
    client: 'web',
    scopes: ['profile:read', 'orders:read'],
    createdAt: now,
    expiresAt: now + 3_600_000,
    rotations: 0,
    accessTokens: [{ tokenId: 'jti-1', expiresAt: now + 600_000 }],
  };
  const first = {
    tokenId: 'rt_1',
    hash: hash(),
    familyId: family.familyId,
    issuedAt: now,
    expiresAt: now + 60_000,
  };
  expect(await store.createRefreshFamily(family, first)).toBe(true);
  const second = { tokenId: 'rt_2', hash: hash(), issuedAt: now, expiresAt: now + 60_000 };
  expect((await store.rotateRefreshToken(first.hash, second, now)).status).toBe('rotated');
  const expected = {
    familyId: family.familyId,
    client: 'web',
    scopes: family.scopes,
    rotations: 1,
  };
  expect(await store.findRefreshFamily(first.hash)).toMatchObject(expected);
  expect(await store.findRefreshFamily(second.hash)).toMatchObject({
    ...expected,
    accessTokens: [{ tokenId: 'jti-1', expiresAt: now + 600_000 }],
  });
  expect(await store.findRefreshFamily(hash())).toBeUndefined();
  // Looking changed nothing: the current token still rotates, the used one is still reuse.
  expect((await store.getRefreshFamily(family.familyId))?.revokedAt).toBeUndefined();
  expect(
    (await store.rotateRefreshToken(second.hash, { ...second, tokenId: 'rt_3', hash: hash() }, now))
      .status,
  ).toBe('rotated');
  // Past the family's end and the retention period, the family is forgotten.
  clock.advance(3_600_000 + 31 * 86_400_000);
  expect(await store.findRefreshFamily(first.hash)).toBeUndefined();
}

describe('MemoryCredentialStore (embedded-only behaviour)', () => {
  it('finds the family of a refresh token by its hash without changing anything', async () => {
    const clock = new FakeClock();
    await findsFamilies(new MemoryCredentialStore({ clock }), clock);
  });

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
