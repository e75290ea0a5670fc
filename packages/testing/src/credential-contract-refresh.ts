import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  createAdmin,
  createWarden,
  MemoryStore,
  RefreshTokens,
  type FamilyAccessToken,
  type RequestView,
} from '@tokenwarden/core';
import {
  anyHash,
  DAY,
  HOUR,
  MINUTE,
  type CredentialContractContext,
} from './credential-contract-context';
import { mintToken, testJwtOptions } from './fixtures';

/** A GET request carrying `token` as its bearer token. */
function bearerRequest(token: string): RequestView {
  return {
    method: 'GET',
    path: '/orders',
    url: '/orders',
    headerValues: (name) => (name === 'authorization' ? [`Bearer ${token}`] : undefined),
  };
}

/** Resolves once `done()` holds (checked every millisecond), or rejects after 10 s. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

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
      ).toBe('tracked');
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
      ).toBe('unknown');
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

    it('tells, as it records an access token, whether the family was revoked already', async () => {
      const now = ctx.clock.now();
      const access = (tokenId: string) => ({ tokenId, expiresAt: now + HOUR });
      const f = ctx.family();
      const first = ctx.token(f.familyId);
      await ctx.store.createRefreshFamily(f, first);
      expect(await ctx.store.addFamilyAccessToken(f.familyId, access('a1'), now)).toBe('tracked');
      await ctx.store.rotateRefreshToken(first.hash, ctx.next(), now);
      // Reuse detection revokes the family; an access token recorded afterwards is told so.
      expect((await ctx.store.rotateRefreshToken(first.hash, ctx.next(), now)).status).toBe(
        'reused',
      );
      expect(await ctx.store.addFamilyAccessToken(f.familyId, access('a2'), now)).toBe('revoked');
      const g = ctx.family();
      await ctx.store.createRefreshFamily(g, ctx.token(g.familyId));
      await ctx.store.revokeRefreshFamily(g.familyId, now, 'revoked');
      expect(await ctx.store.addFamilyAccessToken(g.familyId, access('b1'), now)).toBe('revoked');
      // Recorded all the same: a later revocation of the family lists it.
      expect(
        (await ctx.store.revokeRefreshFamily(g.familyId, now, 'revoked'))?.accessTokens.map(
          (t) => t.tokenId,
        ),
      ).toEqual(['b1']);
    });

    describe.each([2, 10])('%i parallel uses of one refresh token', (uses) => {
      /**
       * The deployment around the store: the refresh service, the admin that revokes the
       * family's access tokens, and a warden that verifies them against the same state.
       */
      function deployment() {
        const state = new MemoryStore({ clock: ctx.clock });
        // The trail is not under test here.
        const admin = createAdmin({ store: state, clock: ctx.clock, audit: false });
        const warden = createWarden({
          jwt: testJwtOptions(),
          store: state,
          clock: ctx.clock,
          audit: false,
        });
        const refresh = new RefreshTokens({ store: ctx.store, revoker: admin, clock: ctx.clock });
        const minted: string[] = [];
        const mint = (): FamilyAccessToken => {
          const tokenId = `at-${randomUUID()}`;
          const now = ctx.clock.now();
          minted.push(mintToken({ now, claims: { sub: 'user-1', jti: tokenId } }));
          return { tokenId, expiresAt: now + 300_000 };
        };
        const decisions = () =>
          Promise.all(
            minted.map(async (token) => {
              const decision = await warden.check(bearerRequest(token));
              return decision.outcome === 'deny' ? decision.code : decision.outcome;
            }),
          );
        const close = async () => {
          await warden.close();
          await admin.close();
          await state.close();
        };
        return { refresh, mint, minted, decisions, close };
      }

      it('leave no access token of the family alive when the winner mints after the reuse was detected', async () => {
        const { refresh, mint, minted, decisions, close } = deployment();
        try {
          const first = await refresh.issue(
            { subject: 'user-1', client: 'web', scopes: ['profile:read'] },
            mint(),
          );
          expect(await decisions()).toEqual(['allow']);
          // The attack: the same refresh token presented `uses` times at once. The use that wins
          // the rotation mints its access token only after every other use has finished: reuse
          // detected, family revoked, its access tokens swept.
          let settled = 0;
          const results = await Promise.all(
            Array.from({ length: uses }, () =>
              refresh
                .refresh(first.refreshToken, async () => {
                  await until(() => settled === uses - 1, 'the other uses');
                  return mint();
                })
                .finally(() => (settled += 1)),
            ),
          );
          expect(minted).toHaveLength(2);
          expect(results.filter((r) => r.ok)).toEqual([]);
          expect(results.filter((r) => !r.ok && r.reason === 'reuse_detected')).toHaveLength(1);
          expect((await ctx.store.getRefreshFamily(first.familyId))?.revokedReason).toBe(
            'reuse_detected',
          );
          // Every access token of the family is refused: the first one, and the winner's.
          expect(await decisions()).toEqual(['token_revoked', 'token_revoked']);
        } finally {
          await close();
        }
      });

      it('leave no access token of the family alive, however the uses interleave', async () => {
        const { refresh, mint, minted, decisions, close } = deployment();
        try {
          const first = await refresh.issue(
            { subject: 'user-1', client: 'web', scopes: ['profile:read'] },
            mint(),
          );
          const results = await Promise.all(
            Array.from({ length: uses }, () => refresh.refresh(first.refreshToken, mint)),
          );
          // One use won the rotation; whether its answer went out or it was refused, the family
          // is revoked and none of its access tokens is accepted.
          expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(1);
          expect(results.filter((r) => !r.ok && r.reason === 'reuse_detected')).toHaveLength(1);
          expect(minted).toHaveLength(2);
          expect(await decisions()).toEqual(['token_revoked', 'token_revoked']);
        } finally {
          await close();
        }
      });
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
