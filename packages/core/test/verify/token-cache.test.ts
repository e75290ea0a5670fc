import { describe, expect, it } from '@jest/globals';
import { VerifiedTokenCache, MAX_CACHED_TOKEN_BYTES } from '../../src/verify/token-cache';
import type { KeySelector } from '@tokenwarden/core';
import type { VerifiedToken } from '../../src/verify/jwt';

function selector(): KeySelector & { version: number } {
  return { version: 0, select: () => undefined };
}

function verified(expiresAt: number): VerifiedToken {
  return {
    tokenId: 'jti',
    subject: 'user-1',
    client: undefined,
    issuer: 'https://issuer.test/',
    scopes: [],
    issuedAt: expiresAt - 60_000,
    expiresAt,
    kid: 'k1',
    claims: {},
  };
}

describe('VerifiedTokenCache', () => {
  it('keeps a token until its exp, never after', () => {
    const cache = new VerifiedTokenCache(10, selector());
    cache.set('a.b.c', verified(1_000), 0);
    expect(cache.get('a.b.c', 999)?.token.expiresAt).toBe(1_000);
    expect(cache.get('a.b.c', 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('matches the full token text only', () => {
    const cache = new VerifiedTokenCache(10, selector());
    cache.set('header.payload.sig1', verified(1_000), 0);
    expect(cache.get('header.payload.sig2', 1)).toBeUndefined();
    expect(cache.get('header.payload.sig', 1)).toBeUndefined();
  });

  it('never answers for a token that only ends like a cached one', () => {
    const cache = new VerifiedTokenCache(10, selector());
    const tail = 'S'.repeat(40);
    const genuine = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${tail}`;
    const forged = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.${tail}`;
    cache.set(genuine, verified(1_000), 0);
    expect(cache.get(forged, 1)).toBeUndefined();
    expect(cache.get(genuine, 1)).toBeDefined();
    // Sharing a slot: the later token replaces the earlier, and each is answered only for itself.
    cache.set(forged, { ...verified(1_000), subject: 'mallory' }, 0);
    expect(cache.get(genuine, 1)).toBeUndefined();
    expect(cache.get(forged, 1)?.token.subject).toBe('mallory');
  });

  it('drops everything when the key ring changes', () => {
    const ring = selector();
    const cache = new VerifiedTokenCache(10, ring);
    cache.set('t1', verified(1_000), 0);
    ring.version++;
    expect(cache.get('t1', 1)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, evicting the least recently used', () => {
    const cache = new VerifiedTokenCache(2, selector());
    cache.set('t1', verified(1_000), 0);
    cache.set('t2', verified(1_000), 0);
    cache.get('t1', 1);
    cache.set('t3', verified(1_000), 0);
    expect(cache.size).toBe(2);
    expect(cache.get('t2', 1)).toBeUndefined();
    expect(cache.get('t1', 1)).toBeDefined();
  });

  it('keeps tokens in use while many others come and go', () => {
    const cache = new VerifiedTokenCache(100, selector());
    cache.set('hot', verified(1_000), 0);
    for (let i = 0; i < 1_000; i++) {
      cache.set(`cold-${i}`, verified(1_000), 0);
      if (i % 20 === 0) expect(cache.get('hot', 1)).toBeDefined();
    }
    expect(cache.size).toBe(100);
    expect(cache.get('hot', 1)).toBeDefined();
    expect(cache.get('cold-0', 1)).toBeUndefined();
  });

  it('keeps nothing when off, or for oversized tokens', () => {
    const off = new VerifiedTokenCache(0, selector());
    off.set('t1', verified(1_000), 0);
    expect(off.size).toBe(0);
    const cache = new VerifiedTokenCache(10, selector());
    cache.set('x'.repeat(MAX_CACHED_TOKEN_BYTES + 1), verified(1_000), 0);
    expect(cache.size).toBe(0);
  });
});
