import { describe, expect, it } from '@jest/globals';
import {
  API_KEY_ISSUER,
  ApiKeys,
  ApiKeyUsage,
  MemoryCredentialStore,
  MemoryStore,
  generateCredential,
  isRevoked,
  looksLikeApiKey,
  verifyApiKey,
} from '@tokenwarden/core/internal';
import { FakeClock, mintToken } from '@tokenwarden/testing';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup() {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = new MemoryCredentialStore({ clock });
  const apiKeys = new ApiKeys({ store, clock });
  return { clock, store, apiKeys };
}

describe('verifyApiKey', () => {
  it('turns a key into the verified token shape a JWT gives', async () => {
    const { clock, store, apiKeys } = setup();
    const { key, record } = await apiKeys.create({
      client: 'billing',
      subject: 'svc-billing',
      scopes: ['orders:read'],
      name: 'export',
    });
    const result = await verifyApiKey(key, { store }, clock.now());
    expect(result).toEqual({
      ok: true,
      token: {
        tokenId: record.keyId,
        subject: 'svc-billing',
        client: 'billing',
        issuer: API_KEY_ISSUER,
        scopes: ['orders:read'],
        issuedAt: record.createdAt,
        expiresAt: record.expiresAt,
        kid: undefined,
        claims: { token_type: 'api_key', key_id: record.keyId, env: 'live', name: 'export' },
      },
    });
  });

  it('refuses a typo by checksum without touching the store', async () => {
    const { clock, apiKeys } = setup();
    const { key } = await apiKeys.create({ client: 'c', scopes: [] });
    let lookups = 0;
    const store = {
      findApiKey: async () => {
        lookups += 1;
        return undefined;
      },
    };
    const last = key.at(-1) === 'a' ? 'b' : 'a';
    const typo = await verifyApiKey(key.slice(0, -1) + last, { store }, clock.now());
    expect(typo).toEqual({
      ok: false,
      failure: { code: 'token_malformed', detail: 'API key checksum mismatch' },
    });
    const refresh = await verifyApiKey(generateCredential('twr', 'live'), { store }, clock.now());
    expect(!refresh.ok && refresh.failure.code).toBe('token_malformed');
    expect(lookups).toBe(0);
  });

  it('refuses a well-formed key it does not know, and one from an environment not accepted', async () => {
    const { clock, store, apiKeys } = setup();
    const unknown = await verifyApiKey(generateCredential('twk', 'live'), { store }, clock.now());
    expect(!unknown.ok && unknown.failure.code).toBe('key_unknown');

    const test = new ApiKeys({ store, clock, environment: 'test' });
    const { key } = await test.create({ client: 'c', scopes: [] });
    expect((await verifyApiKey(key, { store }, clock.now())).ok).toBe(true);
    const prod = await verifyApiKey(key, { store, environments: ['live'] }, clock.now());
    expect(!prod.ok && prod.failure).toEqual({
      code: 'key_unknown',
      detail: 'API key environment not accepted',
    });
    const live = await apiKeys.create({ client: 'c', scopes: [] });
    expect((await verifyApiKey(live.key, { store, environments: ['live'] }, clock.now())).ok).toBe(
      true,
    );
  });

  it('refuses a key once it expires', async () => {
    const { clock, store, apiKeys } = setup();
    const { key } = await apiKeys.create({ client: 'c', scopes: [], expiresInMs: HOUR });
    expect((await verifyApiKey(key, { store }, clock.now() + HOUR - 1)).ok).toBe(true);
    clock.advance(HOUR);
    const expired = await verifyApiKey(key, { store }, clock.now());
    expect(!expired.ok && expired.failure.code).toBe('token_expired');
  });

  it('refuses a revoked key at once', async () => {
    const { clock, store, apiKeys } = setup();
    const { key, record } = await apiKeys.create({ client: 'c', scopes: [] });
    await apiKeys.revoke(record.keyId);
    const revoked = await verifyApiKey(key, { store }, clock.now());
    expect(!revoked.ok && revoked.failure.code).toBe('token_revoked');
  });

  it('accepts both keys during the rotation overlap, then only the new one', async () => {
    const { clock, store, apiKeys } = setup();
    const old = await apiKeys.create({ client: 'c', scopes: ['a'] });
    clock.advance(DAY);
    const rotated = await apiKeys.rotate(old.record.keyId, { overlapMs: HOUR });
    for (const key of [old.key, rotated.key]) {
      const result = await verifyApiKey(key, { store }, clock.now() + HOUR - 1);
      expect(result.ok && result.token.scopes).toEqual(['a']);
    }
    clock.advance(HOUR);
    const after = await verifyApiKey(old.key, { store }, clock.now());
    expect(!after.ok && after.failure.code).toBe('token_expired');
    expect((await verifyApiKey(rotated.key, { store }, clock.now())).ok).toBe(true);
  });

  it('answers store_unavailable (never an allow, never a throw) when the store fails', async () => {
    const { clock, apiKeys } = setup();
    const { key } = await apiKeys.create({ client: 'c', scopes: [] });
    const store = {
      findApiKey: async () => {
        throw new Error('down');
      },
    };
    const result = await verifyApiKey(key, { store }, clock.now());
    expect(result).toEqual({
      ok: false,
      failure: { code: 'store_unavailable', detail: 'API key look-up failed' },
    });
  });

  it('notes each accepted use in the usage tracker, and no refused one', async () => {
    const { clock, store, apiKeys } = setup();
    const { key, record } = await apiKeys.create({ client: 'c', scopes: [] });
    const usage = new ApiKeyUsage({ store });
    await verifyApiKey(key, { store, usage }, clock.now());
    await verifyApiKey(generateCredential('twk', 'live'), { store, usage }, clock.now());
    expect(usage.size).toBe(1);
    await usage.close();
    expect((await store.getApiKey(record.keyId))?.lastUsedAt).toBe(clock.now());
  });

  it('works with the revocation stage: by client mark (keys created before it), by key id', async () => {
    const { clock, store, apiKeys } = setup();
    const marks = new MemoryStore({ clock });
    const { key } = await apiKeys.create({ client: 'billing', subject: 'svc', scopes: [] });
    clock.advance(1);
    const result = await verifyApiKey(key, { store }, clock.now());
    if (!result.ok) throw new Error('expected a verified key');
    const token = result.token;
    const revoked = async () =>
      isRevoked(
        await marks.lookup({ tokenId: token.tokenId, subject: token.subject, client: 'billing' }),
        token.issuedAt,
      );
    expect(await revoked()).toBe(false);
    await marks.setNotBefore('client', 'billing', clock.now(), clock.now() + DAY);
    expect(await revoked()).toBe(true);

    // A key created after the client mark is not refused by it.
    clock.advance(1);
    const later = await verifyApiKey(
      (await apiKeys.create({ client: 'billing', scopes: [] })).key,
      { store },
      clock.now(),
    );
    if (!later.ok) throw new Error('expected a verified key');
    const snapshot = await marks.lookup({
      tokenId: later.token.tokenId,
      subject: later.token.subject,
      client: 'billing',
    });
    expect(isRevoked(snapshot, later.token.issuedAt)).toBe(false);

    // Revoking the key id through the warden's revocation list refuses it.
    await marks.revokeToken(token.tokenId, token.expiresAt);
    expect(await revoked()).toBe(true);
    await marks.close();
  });
});

describe('looksLikeApiKey', () => {
  it('tells API keys from JWTs by prefix', () => {
    expect(looksLikeApiKey(generateCredential('twk', 'live'))).toBe(true);
    expect(looksLikeApiKey(generateCredential('twr', 'live'))).toBe(false);
    expect(looksLikeApiKey(mintToken())).toBe(false);
  });
});
