import { describe, expect, it } from '@jest/globals';
import {
  anyHash,
  DAY,
  HOUR,
  MINUTE,
  type CredentialContractContext,
} from './credential-contract-context';

/**
 * The refresh-token part of the `CredentialStore` contract: rotation, reuse detection, access
 * tokens of a family, revocation, retention.
 */
export function refreshFamilyContract(ctx: CredentialContractContext): void {
  describe('refresh-token families', () => {
    it('rotates the current token into the next one, in the same family', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      expect(await ctx.store.createRefreshFamily(f, first)).toBe(true);
      const second = ctx.next();
      const result = await ctx.store.rotateRefreshToken(first.hash, second, ctx.clock.now());
      expect(result).toEqual({
        status: 'rotated',
        previousTokenId: first.tokenId,
        next: { ...second, familyId: f.familyId },
        family: { ...f, rotations: 1 },
      });
      const third = ctx.next();
      const again = await ctx.store.rotateRefreshToken(second.hash, third, ctx.clock.now());
      expect(again.status).toBe('rotated');
      expect(again.status === 'rotated' && again.family.rotations).toBe(2);
    });

    it('caps the next token at the end of its family', async () => {
      const f = ctx.family({ expiresAt: ctx.clock.now() + HOUR });
      const first = ctx.token(f.familyId, { expiresAt: f.expiresAt });
      await ctx.store.createRefreshFamily(f, first);
      const result = await ctx.store.rotateRefreshToken(
        first.hash,
        ctx.next({ expiresAt: ctx.clock.now() + DAY }),
        ctx.clock.now(),
      );
      expect(result.status === 'rotated' && result.next.expiresAt).toBe(f.expiresAt);
    });

    it('detects reuse: a used token revokes the whole family, and no member works after', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      const second = ctx.next();
      await ctx.store.rotateRefreshToken(first.hash, second, ctx.clock.now());
      ctx.clock.advance(MINUTE);
      const at = ctx.clock.now();

      const reuse = await ctx.store.rotateRefreshToken(first.hash, ctx.next(), at);
      expect(reuse.status).toBe('reused');
      expect(reuse.status === 'reused' && reuse.previousTokenId).toBe(first.tokenId);
      expect(reuse.status === 'reused' && reuse.family).toMatchObject({
        familyId: f.familyId,
        revokedAt: at,
        revokedReason: 'reuse_detected',
      });

      const afterwards = ctx.next();
      const current = await ctx.store.rotateRefreshToken(second.hash, afterwards, ctx.clock.now());
      expect(current.status).toBe('revoked');
      expect(
        await ctx.store.rotateRefreshToken(afterwards.hash, ctx.next(), ctx.clock.now()),
      ).toEqual({
        status: 'unknown',
      });
      expect((await ctx.store.getRefreshFamily(f.familyId))?.revokedAt).toBe(at);
    });

    it('still recognises a used token as reuse after its own expiry, while the family lives', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId, { expiresAt: ctx.clock.now() + HOUR });
      await ctx.store.createRefreshFamily(f, first);
      await ctx.store.rotateRefreshToken(first.hash, ctx.next(), ctx.clock.now());
      ctx.clock.advance(2 * HOUR);
      const reuse = await ctx.store.rotateRefreshToken(first.hash, ctx.next(), ctx.clock.now());
      expect(reuse.status).toBe('reused');
    });

    it('refuses an expired current token without changing the family', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId, { expiresAt: ctx.clock.now() + HOUR });
      await ctx.store.createRefreshFamily(f, first);
      ctx.clock.advance(HOUR);
      expect(await ctx.store.rotateRefreshToken(first.hash, ctx.next(), ctx.clock.now())).toEqual({
        status: 'expired',
        previousTokenId: first.tokenId,
      });
      expect(await ctx.store.getRefreshFamily(f.familyId)).toEqual({ ...f, rotations: 0 });
    });

    it('answers unknown for a hash it never stored, and refuses a duplicate family', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      expect(await ctx.store.rotateRefreshToken(anyHash(), ctx.next(), ctx.clock.now())).toEqual({
        status: 'unknown',
      });
      expect(await ctx.store.createRefreshFamily(f, ctx.token(f.familyId))).toBe(false);
      expect(
        await ctx.store.createRefreshFamily(ctx.family(), { ...ctx.token('x'), hash: first.hash }),
      ).toBe(false);
    });

    it('records the access tokens of a family and drops them once expired', async () => {
      const f = ctx.family({
        accessTokens: [{ tokenId: 'jti-0', expiresAt: ctx.clock.now() + HOUR }],
      });
      await ctx.store.createRefreshFamily(f, ctx.token(f.familyId));
      const now = ctx.clock.now();
      expect(
        await ctx.store.addFamilyAccessToken(
          f.familyId,
          { tokenId: 'jti-1', expiresAt: now + 5 * MINUTE },
          now,
        ),
      ).toBe(true);
      // Ordered by expiry.
      expect((await ctx.store.getRefreshFamily(f.familyId))?.accessTokens).toEqual([
        { tokenId: 'jti-1', expiresAt: now + 5 * MINUTE },
        { tokenId: 'jti-0', expiresAt: now + HOUR },
      ]);
      ctx.clock.advance(10 * MINUTE);
      expect((await ctx.store.getRefreshFamily(f.familyId))?.accessTokens).toEqual([
        { tokenId: 'jti-0', expiresAt: now + HOUR },
      ]);
      expect(
        await ctx.store.addFamilyAccessToken(
          'rf_missing',
          { tokenId: 'j', expiresAt: now + HOUR },
          now,
        ),
      ).toBe(false);
    });

    it('returns the access tokens with a reuse, so the caller can revoke them', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      const now = ctx.clock.now();
      await ctx.store.addFamilyAccessToken(
        f.familyId,
        { tokenId: 'a1', expiresAt: now + HOUR },
        now,
      );
      await ctx.store.rotateRefreshToken(first.hash, ctx.next(), now);
      await ctx.store.addFamilyAccessToken(
        f.familyId,
        { tokenId: 'a2', expiresAt: now + HOUR },
        now,
      );
      const reuse = await ctx.store.rotateRefreshToken(first.hash, ctx.next(), now);
      expect(reuse.status === 'reused' && reuse.family.accessTokens.map((t) => t.tokenId)).toEqual([
        'a1',
        'a2',
      ]);
    });

    it('finds the family of a current or used token without changing anything', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      expect(await ctx.store.findRefreshFamily(first.hash)).toEqual(f);
      // Looking changed nothing: the token still rotates once.
      const second = ctx.next();
      expect((await ctx.store.rotateRefreshToken(first.hash, second, ctx.clock.now())).status).toBe(
        'rotated',
      );
      expect(await ctx.store.findRefreshFamily(second.hash)).toEqual({ ...f, rotations: 1 });
      expect(await ctx.store.findRefreshFamily(first.hash)).toMatchObject({
        familyId: f.familyId,
        rotations: 1,
      });
      expect(await ctx.store.findRefreshFamily(anyHash())).toBeUndefined();
      // Past the family's end and the retention period, it is forgotten.
      ctx.clock.advance(30 * DAY + 31 * DAY);
      expect(await ctx.store.findRefreshFamily(second.hash)).toBeUndefined();
    });

    it('revokes a family, keeping the first revocation', async () => {
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      const at = ctx.clock.now();
      expect(await ctx.store.revokeRefreshFamily(f.familyId, at, 'revoked')).toMatchObject({
        revokedAt: at,
        revokedReason: 'revoked',
      });
      ctx.clock.advance(MINUTE);
      expect(
        await ctx.store.revokeRefreshFamily(f.familyId, ctx.clock.now(), 'reuse_detected'),
      ).toMatchObject({ revokedAt: at, revokedReason: 'revoked' });
      expect(
        (await ctx.store.rotateRefreshToken(first.hash, ctx.next(), ctx.clock.now())).status,
      ).toBe('revoked');
      expect(await ctx.store.revokeRefreshFamily('rf_missing', at, 'revoked')).toBeUndefined();
    });

    it('forgets a family and its tokens once its end is past the retention period', async () => {
      const f = ctx.family({ expiresAt: ctx.clock.now() + DAY });
      const first = ctx.token(f.familyId, { expiresAt: f.expiresAt });
      await ctx.store.createRefreshFamily(f, first);
      ctx.clock.advance(DAY + 30 * DAY);
      expect(await ctx.store.getRefreshFamily(f.familyId)).toBeUndefined();
      expect(await ctx.store.rotateRefreshToken(first.hash, ctx.next(), ctx.clock.now())).toEqual({
        status: 'unknown',
      });
    });
  });
}
