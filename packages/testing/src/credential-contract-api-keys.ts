import { describe, expect, it } from '@jest/globals';
import {
  anyHash,
  DAY,
  HOUR,
  MINUTE,
  TRICKY_IDS,
  type CredentialContractContext,
} from './credential-contract-context';

/**
 * The API-key part of the `CredentialStore` contract: hash look-up, rotation with overlap,
 * revocation, batched last-used times, retention.
 */
export function apiKeyContract(ctx: CredentialContractContext): void {
  describe('API keys', () => {
    it('finds a key by its hash and by its id, with every field as stored', async () => {
      const record = ctx.key({ name: 'export job' });
      expect(await ctx.store.createApiKey(record)).toBe(true);
      expect(await ctx.store.findApiKey(record.hash)).toEqual(record);
      expect(await ctx.store.getApiKey(record.keyId)).toEqual(record);
    });

    it('answers undefined for an unknown hash or id', async () => {
      await ctx.store.createApiKey(ctx.key());
      expect(await ctx.store.findApiKey(anyHash())).toBeUndefined();
      expect(await ctx.store.getApiKey('ak_missing')).toBeUndefined();
    });

    it('refuses a second key with the same id or the same hash, storing nothing', async () => {
      const first = ctx.key();
      await ctx.store.createApiKey(first);
      const sameId = ctx.key({ keyId: first.keyId });
      const sameHash = ctx.key({ hash: first.hash });
      expect(await ctx.store.createApiKey(sameId)).toBe(false);
      expect(await ctx.store.createApiKey(sameHash)).toBe(false);
      expect(await ctx.store.findApiKey(sameId.hash)).toBeUndefined();
      expect((await ctx.store.getApiKey(first.keyId))?.hash).toBe(first.hash);
      expect(await ctx.store.getApiKey(sameHash.keyId)).toBeUndefined();
    });

    it('keeps ids that differ only in separators, case or their tail apart', async () => {
      const records = TRICKY_IDS.map((keyId) => ctx.key({ keyId }));
      for (const record of records) expect(await ctx.store.createApiKey(record)).toBe(true);
      for (const record of records) {
        expect((await ctx.store.getApiKey(record.keyId))?.hash).toBe(record.hash);
        expect((await ctx.store.findApiKey(record.hash))?.keyId).toBe(record.keyId);
      }
    });

    it('lists every kept key, oldest first', async () => {
      const a = ctx.key();
      ctx.clock.advance(1_000);
      const b = ctx.key({ createdAt: ctx.clock.now() });
      await ctx.store.createApiKey(b);
      await ctx.store.createApiKey(a);
      expect((await ctx.store.listApiKeys()).map((k) => k.keyId)).toEqual([a.keyId, b.keyId]);
    });

    it('rotates: the new key replaces the old, which keeps working until the overlap ends', async () => {
      const old = ctx.key();
      await ctx.store.createApiKey(old);
      const fresh = ctx.key();
      const overlapEndsAt = ctx.clock.now() + HOUR;
      const result = await ctx.store.rotateApiKey(old.keyId, fresh, overlapEndsAt, ctx.clock.now());
      expect(result).toEqual({
        status: 'rotated',
        previous: { ...old, replacedBy: fresh.keyId, expiresAt: overlapEndsAt },
      });
      expect(await ctx.store.findApiKey(fresh.hash)).toEqual({ ...fresh, replaces: old.keyId });
      expect(await ctx.store.findApiKey(old.hash)).toEqual({
        ...old,
        replacedBy: fresh.keyId,
        expiresAt: overlapEndsAt,
      });
    });

    it('never extends the old key past its own expiry', async () => {
      const old = ctx.key({ expiresAt: ctx.clock.now() + MINUTE });
      await ctx.store.createApiKey(old);
      const result = await ctx.store.rotateApiKey(
        old.keyId,
        ctx.key(),
        ctx.clock.now() + DAY,
        ctx.clock.now(),
      );
      expect(result.status === 'rotated' && result.previous.expiresAt).toBe(old.expiresAt);
      expect((await ctx.store.getApiKey(old.keyId))?.expiresAt).toBe(old.expiresAt);
    });

    it('refuses to rotate a missing, revoked, expired or already rotated key', async () => {
      const now = () => ctx.clock.now();
      expect(await ctx.store.rotateApiKey('ak_missing', ctx.key(), now() + HOUR, now())).toEqual({
        status: 'not_found',
      });

      const revoked = ctx.key();
      await ctx.store.createApiKey(revoked);
      await ctx.store.revokeApiKey(revoked.keyId, now());
      const refused = ctx.key();
      expect(await ctx.store.rotateApiKey(revoked.keyId, refused, now() + HOUR, now())).toEqual({
        status: 'revoked',
      });
      expect(await ctx.store.findApiKey(refused.hash)).toBeUndefined();

      const expiring = ctx.key({ expiresAt: now() + MINUTE });
      await ctx.store.createApiKey(expiring);
      ctx.clock.advance(MINUTE);
      expect(await ctx.store.rotateApiKey(expiring.keyId, ctx.key(), now() + HOUR, now())).toEqual({
        status: 'expired',
      });

      const once = ctx.key();
      await ctx.store.createApiKey(once);
      await ctx.store.rotateApiKey(once.keyId, ctx.key(), now() + HOUR, now());
      const twice = ctx.key();
      expect(await ctx.store.rotateApiKey(once.keyId, twice, now() + HOUR, now())).toEqual({
        status: 'replaced',
      });
      expect(await ctx.store.getApiKey(twice.keyId)).toBeUndefined();
    });

    it('revokes a key, keeping the first revocation time', async () => {
      const record = ctx.key();
      await ctx.store.createApiKey(record);
      const at = ctx.clock.now();
      expect(await ctx.store.revokeApiKey(record.keyId, at)).toEqual({ ...record, revokedAt: at });
      ctx.clock.advance(MINUTE);
      expect((await ctx.store.revokeApiKey(record.keyId, ctx.clock.now()))?.revokedAt).toBe(at);
      expect((await ctx.store.findApiKey(record.hash))?.revokedAt).toBe(at);
      expect(await ctx.store.revokeApiKey('ak_missing', ctx.clock.now())).toBeUndefined();
    });

    it('raises last-used times in one batch, never lowering one, ignoring unknown ids', async () => {
      const a = ctx.key();
      const b = ctx.key();
      await ctx.store.createApiKey(a);
      await ctx.store.createApiKey(b);
      const t = ctx.clock.now();
      await ctx.store.touchApiKeys([
        { keyId: a.keyId, at: t + 5 },
        { keyId: b.keyId, at: t + 7 },
        { keyId: 'ak_missing', at: t },
      ]);
      await ctx.store.touchApiKeys([{ keyId: a.keyId, at: t + 1 }]);
      expect((await ctx.store.getApiKey(a.keyId))?.lastUsedAt).toBe(t + 5);
      expect((await ctx.store.getApiKey(b.keyId))?.lastUsedAt).toBe(t + 7);
      expect(await ctx.store.getApiKey('ak_missing')).toBeUndefined();
      await ctx.store.touchApiKeys([]);
    });

    it('keeps an expired key for the retention period, then forgets it', async () => {
      const record = ctx.key({ expiresAt: ctx.clock.now() + HOUR });
      await ctx.store.createApiKey(record);
      ctx.clock.advance(HOUR + 29 * DAY);
      expect((await ctx.store.findApiKey(record.hash))?.keyId).toBe(record.keyId);
      ctx.clock.advance(DAY);
      expect(await ctx.store.findApiKey(record.hash)).toBeUndefined();
      expect(await ctx.store.getApiKey(record.keyId)).toBeUndefined();
      expect(await ctx.store.listApiKeys()).toEqual([]);
    });
  });
}
