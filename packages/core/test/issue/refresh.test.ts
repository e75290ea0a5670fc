import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  MemoryCredentialStore,
  MemorySink,
  MemoryStore,
  RefreshTokens,
  createAdmin,
  createWarden,
  generateCredential,
  hashCredential,
} from '@tokenwarden/core/internal';
import { FakeClock, mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from '../support';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function setup(options: { tokenTtlMs?: number; familyTtlMs?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const credentials = new MemoryCredentialStore({ clock });
  const store = new MemoryStore({ clock });
  const sink = new MemorySink();
  const admin = createAdmin({ store, clock, audit: { sinks: [sink] } });
  let reuse = 0;
  const refresh = new RefreshTokens({
    store: credentials,
    revoker: admin,
    audit: admin,
    clock,
    metrics: { refreshReuseDetected: () => void (reuse += 1) },
    ...options,
  });
  let n = 0;
  const mint = () => ({ tokenId: `jti-${(n += 1)}`, expiresAt: clock.now() + 10 * MINUTE });
  const grant = { subject: 'user-1', client: 'web', scopes: ['profile:read'] };
  return { clock, credentials, store, sink, admin, refresh, mint, grant, reuses: () => reuse };
}

describe('RefreshTokens', () => {
  it('issues an opaque, prefixed token stored only as its hash', async () => {
    const { refresh, credentials, grant, mint } = setup();
    const first = await refresh.issue(grant, mint());
    expect(first.refreshToken).toMatch(/^twr_live_[0-9A-Za-z]{38}$/);
    const family = await credentials.getRefreshFamily(first.familyId);
    expect(family).toMatchObject({ ...grant, rotations: 0, accessTokens: [{ tokenId: 'jti-1' }] });
    expect(JSON.stringify(family)).not.toContain(first.refreshToken);
    // The store answers to the hash (rotation works), which is all it holds.
    const rotated = await credentials.rotateRefreshToken(
      hashCredential(first.refreshToken),
      { tokenId: 'rt_x', hash: hashCredential('other'), issuedAt: 0, expiresAt: 1 },
      Date.UTC(2030, 0, 1),
    );
    expect(rotated.status).toBe('rotated');
  });

  it('rotates on every use: each refresh gives a new token and retires the presented one', async () => {
    const { refresh, grant, mint } = setup();
    const first = await refresh.issue(grant, mint());
    const second = await refresh.refresh(first.refreshToken, mint);
    if (!second.ok) throw new Error('expected a rotation');
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.familyId).toBe(first.familyId);
    expect(second.grant).toEqual(grant);
    expect(second.accessToken.tokenId).toBe('jti-2');
    const third = await refresh.refresh(second.refreshToken, mint);
    expect(third.ok).toBe(true);
  });

  it('detects reuse: the family and every access token issued from it are revoked, audited and counted', async () => {
    const { refresh, grant, mint, store, sink, admin, reuses, clock } = setup();
    const warden = createWarden({
      jwt: testJwtOptions(),
      store,
      clock,
      audit: false,
      logger: { warn() {}, error() {} },
    });
    const first = await refresh.issue(grant, mint()); // jti-1
    const second = await refresh.refresh(first.refreshToken, mint); // jti-2
    if (!second.ok) throw new Error('expected a rotation');

    // An attacker replays the first (already used) token.
    const replay = await refresh.rotate(first.refreshToken);
    expect(replay).toEqual({ ok: false, code: 'token_revoked', reason: 'reuse_detected' });
    expect(reuses()).toBe(1);

    for (const tokenId of ['jti-1', 'jti-2']) {
      expect((await store.lookup({ tokenId, subject: 'user-1' })).tokenRevoked).toBe(true);
    }
    // The warden refuses an access token issued from the family.
    const jwt = mintToken({ now: clock.now(), claims: { sub: 'user-1', jti: 'jti-2' } });
    const decision = await warden.check(bearer(jwt));
    expect(decision.outcome === 'deny' && decision.code).toBe('token_revoked');

    // The legitimate holder's current token no longer works either.
    const holder = await refresh.rotate(second.refreshToken);
    expect(holder).toEqual({ ok: false, code: 'token_revoked', reason: 'revoked' });

    await admin.flushAudit();
    const detected = sink.events.filter((e) => e.type === 'refresh.reuse_detected');
    expect(detected).toEqual([
      expect.objectContaining({
        outcome: 'deny',
        subject: 'user-1',
        client: 'web',
        detail: expect.objectContaining({ familyId: first.familyId, accessTokensRevoked: 2 }),
      }),
    ]);
    const text = JSON.stringify(sink.events);
    expect(text).not.toContain(first.refreshToken);
    expect(text).not.toContain(second.refreshToken);
    await warden.close();
  });

  it('revokes the access token it just minted when the family was revoked meanwhile (a sign-out during the refresh)', async () => {
    const { refresh, grant, mint, store, sink, admin } = setup();
    const first = await refresh.issue(grant, mint()); // jti-1
    const result = await refresh.refresh(first.refreshToken, async () => {
      await refresh.revokeFamily(first.familyId, { actor: 'user-1', reason: 'sign_out' });
      return mint(); // jti-2, minted after the family's access tokens were swept
    });
    expect(result).toEqual({ ok: false, code: 'token_revoked', reason: 'revoked' });
    for (const tokenId of ['jti-1', 'jti-2']) {
      expect((await store.lookup({ tokenId, subject: 'user-1' })).tokenRevoked).toBe(true);
    }
    // Tracking by hand says so too, and revokes the token.
    expect(
      await refresh.trackAccessToken(first.familyId, {
        tokenId: 'jti-3',
        expiresAt: Date.UTC(2030, 0, 1) + MINUTE,
      }),
    ).toBe(false);
    expect((await store.lookup({ tokenId: 'jti-3', subject: 'user-1' })).tokenRevoked).toBe(true);
    await admin.flushAudit();
    expect(sink.events.filter((e) => e.type === 'token.refreshed')).toEqual([
      expect.objectContaining({ outcome: 'success' }),
      expect.objectContaining({
        outcome: 'failure',
        reason: 'token_revoked',
        detail: expect.objectContaining({ familyId: first.familyId, accessTokenRevoked: 'jti-2' }),
      }),
    ]);
  });

  it('refuses a malformed token without a look-up, and an unknown one', async () => {
    const { refresh } = setup();
    expect(await refresh.rotate('not-a-token')).toEqual({
      ok: false,
      code: 'token_malformed',
      reason: 'malformed',
    });
    expect(await refresh.rotate(generateCredential('twk', 'live'))).toMatchObject({
      reason: 'malformed',
    });
    expect(await refresh.rotate(generateCredential('twr', 'live'))).toEqual({
      ok: false,
      code: 'key_unknown',
      reason: 'unknown',
    });
  });

  it('expires an unused token after its idle lifetime, and every token at the family end', async () => {
    const { refresh, grant, clock } = setup({ tokenTtlMs: DAY, familyTtlMs: 3 * DAY });
    const idle = await refresh.issue(grant);
    clock.advance(DAY);
    expect(await refresh.rotate(idle.refreshToken)).toMatchObject({ code: 'token_expired' });

    let current = (await refresh.issue(grant)).refreshToken;
    for (let day = 0; day < 2; day++) {
      clock.advance(DAY - MINUTE);
      const next = await refresh.rotate(current);
      if (!next.ok) throw new Error(`expected a rotation on day ${day}`);
      current = next.refreshToken;
    }
    // Near the family's end, the next token is capped at it (3 days after the first token).
    clock.advance(DAY - MINUTE);
    const last = await refresh.rotate(current);
    expect(last.ok && last.expiresAt).toBe(Date.UTC(2030, 0, 1) + DAY + 3 * DAY);
    clock.advance(3 * MINUTE); // now exactly the family's end
    const ended = last.ok ? await refresh.rotate(last.refreshToken) : undefined;
    expect(ended).toMatchObject({ ok: false, code: 'token_expired' });
  });

  it('revokes a family on sign-out, with its access tokens', async () => {
    const { refresh, grant, mint, store } = setup();
    const first = await refresh.issue(grant, mint());
    expect(
      await refresh.revokeFamily(first.familyId, { actor: 'user-1', reason: 'sign_out' }),
    ).toBe(true);
    expect((await store.lookup({ tokenId: 'jti-1', subject: 'user-1' })).tokenRevoked).toBe(true);
    expect(await refresh.rotate(first.refreshToken)).toMatchObject({ reason: 'revoked' });
    expect(await refresh.revokeFamily('rf_unknown')).toBe(false);
  });

  it('rejects when access tokens could not be revoked, after revoking the family', async () => {
    const { credentials, grant, clock } = setup();
    const refresh = new RefreshTokens({
      store: credentials,
      clock,
      revoker: {
        revokeToken: async () => {
          throw new Error('store down');
        },
      },
    });
    const first = await refresh.issue(grant, { tokenId: 'j', expiresAt: clock.now() + MINUTE });
    await refresh.rotate(first.refreshToken);
    await expect(refresh.rotate(first.refreshToken)).rejects.toThrow('store down');
    expect((await credentials.getRefreshFamily(first.familyId))?.revokedReason).toBe(
      'reuse_detected',
    );
  });

  it('needs a store and a revoker', () => {
    const store = new MemoryCredentialStore();
    expect(() => new RefreshTokens({ store } as never)).toThrow(ConfigError);
    expect(
      () =>
        new RefreshTokens({
          store,
          revoker: createAdmin({ store: new MemoryStore(), audit: false }),
          tokenTtlMs: 0,
        }),
    ).toThrow(/tokenTtlMs/);
  });
});
