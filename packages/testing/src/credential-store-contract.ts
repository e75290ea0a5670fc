import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type {
  ApiKeyRecord,
  CredentialStore,
  RefreshFamily,
  RefreshTokenRecord,
} from '@tokenwarden/core';
import { FakeClock } from './fake-clock';

/** What a contract run needs from one backend: a fresh, empty store per test. */
export type MakeCredentialStore = (
  clock: FakeClock,
) => Promise<{ store: CredentialStore; cleanup?: () => Promise<void> }>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A random lower-case hex SHA-256, as stores receive them. */
function anyHash(): string {
  return createHash('sha256').update(randomBytes(16)).digest('hex');
}

/** Ids that a store building keys by concatenation could confuse. */
const TRICKY_IDS: readonly string[] = [
  'a',
  'A',
  'a:b',
  'a:',
  '{tw}',
  '%41',
  '#',
  '*',
  'ak:h:x',
  '\u00e9',
  'e\u0301',
  'x'.repeat(2_000),
  `${'x'.repeat(1_999)}y`,
];

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

    function token(familyId: string, overrides: Partial<RefreshTokenRecord> = {}) {
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

    describe('API keys', () => {
      it('finds a key by its hash and by its id, with every field as stored', async () => {
        const record = key({ name: 'export job' });
        expect(await store.createApiKey(record)).toBe(true);
        expect(await store.findApiKey(record.hash)).toEqual(record);
        expect(await store.getApiKey(record.keyId)).toEqual(record);
      });

      it('answers undefined for an unknown hash or id', async () => {
        await store.createApiKey(key());
        expect(await store.findApiKey(anyHash())).toBeUndefined();
        expect(await store.getApiKey('ak_missing')).toBeUndefined();
      });

      it('refuses a second key with the same id or the same hash, storing nothing', async () => {
        const first = key();
        await store.createApiKey(first);
        const sameId = key({ keyId: first.keyId });
        const sameHash = key({ hash: first.hash });
        expect(await store.createApiKey(sameId)).toBe(false);
        expect(await store.createApiKey(sameHash)).toBe(false);
        expect(await store.findApiKey(sameId.hash)).toBeUndefined();
        expect((await store.getApiKey(first.keyId))?.hash).toBe(first.hash);
        expect(await store.getApiKey(sameHash.keyId)).toBeUndefined();
      });

      it('keeps ids that differ only in separators, case or their tail apart', async () => {
        const records = TRICKY_IDS.map((keyId) => key({ keyId }));
        for (const record of records) expect(await store.createApiKey(record)).toBe(true);
        for (const record of records) {
          expect((await store.getApiKey(record.keyId))?.hash).toBe(record.hash);
          expect((await store.findApiKey(record.hash))?.keyId).toBe(record.keyId);
        }
      });

      it('lists every kept key, oldest first', async () => {
        const a = key();
        clock.advance(1_000);
        const b = key({ createdAt: clock.now() });
        await store.createApiKey(b);
        await store.createApiKey(a);
        expect((await store.listApiKeys()).map((k) => k.keyId)).toEqual([a.keyId, b.keyId]);
      });

      it('rotates: the new key replaces the old, which keeps working until the overlap ends', async () => {
        const old = key();
        await store.createApiKey(old);
        const fresh = key();
        const overlapEndsAt = clock.now() + HOUR;
        const result = await store.rotateApiKey(old.keyId, fresh, overlapEndsAt, clock.now());
        expect(result).toEqual({
          status: 'rotated',
          previous: { ...old, replacedBy: fresh.keyId, expiresAt: overlapEndsAt },
        });
        expect(await store.findApiKey(fresh.hash)).toEqual({ ...fresh, replaces: old.keyId });
        expect(await store.findApiKey(old.hash)).toEqual({
          ...old,
          replacedBy: fresh.keyId,
          expiresAt: overlapEndsAt,
        });
      });

      it('never extends the old key past its own expiry', async () => {
        const old = key({ expiresAt: clock.now() + MINUTE });
        await store.createApiKey(old);
        const result = await store.rotateApiKey(old.keyId, key(), clock.now() + DAY, clock.now());
        expect(result.status === 'rotated' && result.previous.expiresAt).toBe(old.expiresAt);
        expect((await store.getApiKey(old.keyId))?.expiresAt).toBe(old.expiresAt);
      });

      it('refuses to rotate a missing, revoked, expired or already rotated key', async () => {
        const now = () => clock.now();
        expect(await store.rotateApiKey('ak_missing', key(), now() + HOUR, now())).toEqual({
          status: 'not_found',
        });

        const revoked = key();
        await store.createApiKey(revoked);
        await store.revokeApiKey(revoked.keyId, now());
        const refused = key();
        expect(await store.rotateApiKey(revoked.keyId, refused, now() + HOUR, now())).toEqual({
          status: 'revoked',
        });
        expect(await store.findApiKey(refused.hash)).toBeUndefined();

        const expiring = key({ expiresAt: now() + MINUTE });
        await store.createApiKey(expiring);
        clock.advance(MINUTE);
        expect(await store.rotateApiKey(expiring.keyId, key(), now() + HOUR, now())).toEqual({
          status: 'expired',
        });

        const once = key();
        await store.createApiKey(once);
        await store.rotateApiKey(once.keyId, key(), now() + HOUR, now());
        const twice = key();
        expect(await store.rotateApiKey(once.keyId, twice, now() + HOUR, now())).toEqual({
          status: 'replaced',
        });
        expect(await store.getApiKey(twice.keyId)).toBeUndefined();
      });

      it('revokes a key, keeping the first revocation time', async () => {
        const record = key();
        await store.createApiKey(record);
        const at = clock.now();
        expect(await store.revokeApiKey(record.keyId, at)).toEqual({ ...record, revokedAt: at });
        clock.advance(MINUTE);
        expect((await store.revokeApiKey(record.keyId, clock.now()))?.revokedAt).toBe(at);
        expect((await store.findApiKey(record.hash))?.revokedAt).toBe(at);
        expect(await store.revokeApiKey('ak_missing', clock.now())).toBeUndefined();
      });

      it('raises last-used times in one batch, never lowering one, ignoring unknown ids', async () => {
        const a = key();
        const b = key();
        await store.createApiKey(a);
        await store.createApiKey(b);
        const t = clock.now();
        await store.touchApiKeys([
          { keyId: a.keyId, at: t + 5 },
          { keyId: b.keyId, at: t + 7 },
          { keyId: 'ak_missing', at: t },
        ]);
        await store.touchApiKeys([{ keyId: a.keyId, at: t + 1 }]);
        expect((await store.getApiKey(a.keyId))?.lastUsedAt).toBe(t + 5);
        expect((await store.getApiKey(b.keyId))?.lastUsedAt).toBe(t + 7);
        expect(await store.getApiKey('ak_missing')).toBeUndefined();
        await store.touchApiKeys([]);
      });

      it('keeps an expired key for the retention period, then forgets it', async () => {
        const record = key({ expiresAt: clock.now() + HOUR });
        await store.createApiKey(record);
        clock.advance(HOUR + 29 * DAY);
        expect((await store.findApiKey(record.hash))?.keyId).toBe(record.keyId);
        clock.advance(DAY);
        expect(await store.findApiKey(record.hash)).toBeUndefined();
        expect(await store.getApiKey(record.keyId)).toBeUndefined();
        expect(await store.listApiKeys()).toEqual([]);
      });
    });

    describe('refresh-token families', () => {
      it('rotates the current token into the next one, in the same family', async () => {
        const f = family();
        const first = token(f.familyId);
        expect(await store.createRefreshFamily(f, first)).toBe(true);
        const second = next();
        const result = await store.rotateRefreshToken(first.hash, second, clock.now());
        expect(result).toEqual({
          status: 'rotated',
          previousTokenId: first.tokenId,
          next: { ...second, familyId: f.familyId },
          family: { ...f, rotations: 1 },
        });
        const third = next();
        const again = await store.rotateRefreshToken(second.hash, third, clock.now());
        expect(again.status).toBe('rotated');
        expect(again.status === 'rotated' && again.family.rotations).toBe(2);
      });

      it('caps the next token at the end of its family', async () => {
        const f = family({ expiresAt: clock.now() + HOUR });
        const first = token(f.familyId, { expiresAt: f.expiresAt });
        await store.createRefreshFamily(f, first);
        const result = await store.rotateRefreshToken(
          first.hash,
          next({ expiresAt: clock.now() + DAY }),
          clock.now(),
        );
        expect(result.status === 'rotated' && result.next.expiresAt).toBe(f.expiresAt);
      });

      it('detects reuse: a used token revokes the whole family, and no member works after', async () => {
        const f = family();
        const first = token(f.familyId);
        await store.createRefreshFamily(f, first);
        const second = next();
        await store.rotateRefreshToken(first.hash, second, clock.now());
        clock.advance(MINUTE);
        const at = clock.now();

        const reuse = await store.rotateRefreshToken(first.hash, next(), at);
        expect(reuse.status).toBe('reused');
        expect(reuse.status === 'reused' && reuse.previousTokenId).toBe(first.tokenId);
        expect(reuse.status === 'reused' && reuse.family).toMatchObject({
          familyId: f.familyId,
          revokedAt: at,
          revokedReason: 'reuse_detected',
        });

        const afterwards = next();
        const current = await store.rotateRefreshToken(second.hash, afterwards, clock.now());
        expect(current.status).toBe('revoked');
        expect(await store.rotateRefreshToken(afterwards.hash, next(), clock.now())).toEqual({
          status: 'unknown',
        });
        expect((await store.getRefreshFamily(f.familyId))?.revokedAt).toBe(at);
      });

      it('still recognises a used token as reuse after its own expiry, while the family lives', async () => {
        const f = family();
        const first = token(f.familyId, { expiresAt: clock.now() + HOUR });
        await store.createRefreshFamily(f, first);
        await store.rotateRefreshToken(first.hash, next(), clock.now());
        clock.advance(2 * HOUR);
        const reuse = await store.rotateRefreshToken(first.hash, next(), clock.now());
        expect(reuse.status).toBe('reused');
      });

      it('refuses an expired current token without changing the family', async () => {
        const f = family();
        const first = token(f.familyId, { expiresAt: clock.now() + HOUR });
        await store.createRefreshFamily(f, first);
        clock.advance(HOUR);
        expect(await store.rotateRefreshToken(first.hash, next(), clock.now())).toEqual({
          status: 'expired',
          previousTokenId: first.tokenId,
        });
        expect(await store.getRefreshFamily(f.familyId)).toEqual({ ...f, rotations: 0 });
      });

      it('answers unknown for a hash it never stored, and refuses a duplicate family', async () => {
        const f = family();
        const first = token(f.familyId);
        await store.createRefreshFamily(f, first);
        expect(await store.rotateRefreshToken(anyHash(), next(), clock.now())).toEqual({
          status: 'unknown',
        });
        expect(await store.createRefreshFamily(f, token(f.familyId))).toBe(false);
        expect(await store.createRefreshFamily(family(), { ...token('x'), hash: first.hash })).toBe(
          false,
        );
      });

      it('records the access tokens of a family and drops them once expired', async () => {
        const f = family({ accessTokens: [{ tokenId: 'jti-0', expiresAt: clock.now() + HOUR }] });
        await store.createRefreshFamily(f, token(f.familyId));
        const now = clock.now();
        expect(
          await store.addFamilyAccessToken(
            f.familyId,
            { tokenId: 'jti-1', expiresAt: now + 5 * MINUTE },
            now,
          ),
        ).toBe(true);
        // Ordered by expiry.
        expect((await store.getRefreshFamily(f.familyId))?.accessTokens).toEqual([
          { tokenId: 'jti-1', expiresAt: now + 5 * MINUTE },
          { tokenId: 'jti-0', expiresAt: now + HOUR },
        ]);
        clock.advance(10 * MINUTE);
        expect((await store.getRefreshFamily(f.familyId))?.accessTokens).toEqual([
          { tokenId: 'jti-0', expiresAt: now + HOUR },
        ]);
        expect(
          await store.addFamilyAccessToken(
            'rf_missing',
            { tokenId: 'j', expiresAt: now + HOUR },
            now,
          ),
        ).toBe(false);
      });

      it('returns the access tokens with a reuse, so the caller can revoke them', async () => {
        const f = family();
        const first = token(f.familyId);
        await store.createRefreshFamily(f, first);
        const now = clock.now();
        await store.addFamilyAccessToken(f.familyId, { tokenId: 'a1', expiresAt: now + HOUR }, now);
        await store.rotateRefreshToken(first.hash, next(), now);
        await store.addFamilyAccessToken(f.familyId, { tokenId: 'a2', expiresAt: now + HOUR }, now);
        const reuse = await store.rotateRefreshToken(first.hash, next(), now);
        expect(
          reuse.status === 'reused' && reuse.family.accessTokens.map((t) => t.tokenId),
        ).toEqual(['a1', 'a2']);
      });

      it('finds the family of a current or used token without changing anything', async () => {
        const f = family();
        const first = token(f.familyId);
        await store.createRefreshFamily(f, first);
        expect(await store.findRefreshFamily(first.hash)).toEqual(f);
        // Looking changed nothing: the token still rotates once.
        const second = next();
        expect((await store.rotateRefreshToken(first.hash, second, clock.now())).status).toBe(
          'rotated',
        );
        expect(await store.findRefreshFamily(second.hash)).toEqual({ ...f, rotations: 1 });
        expect(await store.findRefreshFamily(first.hash)).toMatchObject({
          familyId: f.familyId,
          rotations: 1,
        });
        expect(await store.findRefreshFamily(anyHash())).toBeUndefined();
        // Past the family's end and the retention period, it is forgotten.
        clock.advance(30 * DAY + 31 * DAY);
        expect(await store.findRefreshFamily(second.hash)).toBeUndefined();
      });

      it('revokes a family, keeping the first revocation', async () => {
        const f = family();
        const first = token(f.familyId);
        await store.createRefreshFamily(f, first);
        const at = clock.now();
        expect(await store.revokeRefreshFamily(f.familyId, at, 'revoked')).toMatchObject({
          revokedAt: at,
          revokedReason: 'revoked',
        });
        clock.advance(MINUTE);
        expect(
          await store.revokeRefreshFamily(f.familyId, clock.now(), 'reuse_detected'),
        ).toMatchObject({ revokedAt: at, revokedReason: 'revoked' });
        expect((await store.rotateRefreshToken(first.hash, next(), clock.now())).status).toBe(
          'revoked',
        );
        expect(await store.revokeRefreshFamily('rf_missing', at, 'revoked')).toBeUndefined();
      });

      it('forgets a family and its tokens once its end is past the retention period', async () => {
        const f = family({ expiresAt: clock.now() + DAY });
        const first = token(f.familyId, { expiresAt: f.expiresAt });
        await store.createRefreshFamily(f, first);
        clock.advance(DAY + 30 * DAY);
        expect(await store.getRefreshFamily(f.familyId)).toBeUndefined();
        expect(await store.rotateRefreshToken(first.hash, next(), clock.now())).toEqual({
          status: 'unknown',
        });
      });
    });
  });
}
