import { describe, expect, test } from '@jest/globals';
import {
  ConfigError,
  MemoryUsageLimiter,
  resolveLimitRules,
  UsageLimits,
  type LimitRule,
  type UsageLimiter,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';

const START = Date.UTC(2030, 0, 1);
const rules: LimitRule[] = [
  { name: 'token-burst', by: 'token', limit: 2, windowMs: 10_000 },
  { name: 'subject-hour', by: 'subject', limit: 3, windowMs: 3_600_000 },
];

function setup(extra: Partial<ConstructorParameters<typeof UsageLimits>[0]> = {}) {
  const clock = new FakeClock(START);
  const limiter = new MemoryUsageLimiter({ clock });
  return { clock, limiter, limits: new UsageLimits({ rules, limiter, ...extra }) };
}

const failing: UsageLimiter = {
  consume: () => Promise.reject(new Error('connection refused')),
};

describe('UsageLimits', () => {
  test('allows and sends RateLimit and RateLimit-Policy for every applicable rule', async () => {
    const { limits } = setup();
    const outcome = await limits.check({ tokenId: 'jti-1', subject: 'alice' });
    expect(outcome.outcome).toBe('allow');
    if (outcome.outcome !== 'allow') return;
    expect(outcome.headers).toEqual({
      'ratelimit-policy': '"token-burst";q=2;w=10, "subject-hour";q=3;w=3600',
      ratelimit: '"token-burst";r=1;t=10, "subject-hour";r=2;t=3600',
    });
  });

  test('answers limited with Retry-After once a leaked token is used too fast', async () => {
    const { limits, clock } = setup();
    await limits.check({ tokenId: 'jti-1', subject: 'alice' });
    await limits.check({ tokenId: 'jti-1', subject: 'alice' });
    const outcome = await limits.check({ tokenId: 'jti-1', subject: 'alice' });
    expect(outcome).toMatchObject({ outcome: 'limited', rule: 'token-burst' });
    if (outcome.outcome !== 'limited') return;
    expect(outcome.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(outcome.headers['retry-after']).toBe(String(outcome.retryAfterSeconds));
    expect(outcome.headers.ratelimit).toContain('"token-burst";r=0;');
    // Another token of the same subject still has room until the subject's budget runs out.
    expect((await limits.check({ tokenId: 'jti-2', subject: 'alice' })).outcome).toBe('allow');
    const subjectOut = await limits.check({ tokenId: 'jti-3', subject: 'alice' });
    expect(subjectOut).toMatchObject({ outcome: 'limited', rule: 'subject-hour' });
    // The refused request consumed nothing of the token's budget.
    clock.advance(20_000);
    expect(await limits.check({ tokenId: 'jti-1' })).toMatchObject({ outcome: 'allow' });
  });

  test('skips rules whose identity the request lacks, and counts nothing without any', async () => {
    const { limits, limiter } = setup();
    const outcome = await limits.check({ client: 'billing' });
    expect(outcome).toEqual({ outcome: 'allow', headers: {}, states: [] });
    expect(limiter.size).toBe(0);
    const onlySubject = await limits.check({ subject: 'bob' });
    expect(onlySubject.outcome === 'allow' && onlySubject.states.map((s) => s.rule)).toEqual([
      'subject-hour',
    ]);
  });

  test('a route may apply its own rules', async () => {
    const { limits } = setup();
    const strict = resolveLimitRules([
      { name: 'export', by: 'client', limit: 1, windowMs: 60_000 },
    ]);
    expect((await limits.check({ client: 'c1' }, strict)).outcome).toBe('allow');
    expect((await limits.check({ client: 'c1' }, strict)).outcome).toBe('limited');
  });

  test('fails closed by default and open when configured', async () => {
    const closed = new UsageLimits({ rules, limiter: failing });
    const out = await closed.check({ tokenId: 'j' });
    expect(out).toMatchObject({ outcome: 'unavailable', allow: false });
    const open = new UsageLimits({ rules, limiter: failing, failMode: 'open' });
    expect(await open.check({ tokenId: 'j' })).toMatchObject({
      outcome: 'unavailable',
      allow: true,
    });
  });

  test('a limiter answering the wrong number of states counts as unavailable', async () => {
    const limits = new UsageLimits({ rules, limiter: { consume: async () => [] } });
    expect(await limits.check({ tokenId: 'j' })).toMatchObject({ outcome: 'unavailable' });
  });

  test('headers: false sends no RateLimit headers on allowed requests', async () => {
    const { limits } = setup({ headers: false });
    expect(await limits.check({ tokenId: 'j' })).toMatchObject({ outcome: 'allow', headers: {} });
  });

  test('an overlong credential id is refused, never skipped, and nothing is counted', async () => {
    const { limits, limiter } = setup();
    expect(await limits.check({ tokenId: 'x'.repeat(5000) })).toEqual({
      outcome: 'invalid',
      kind: 'token',
    });
    // A subject rule is refused too, although the token id fits.
    expect(await limits.check({ tokenId: 'jti-1', subject: 's'.repeat(1025) })).toEqual({
      outcome: 'invalid',
      kind: 'subject',
    });
    // So is an identity no rule counts by: it still names the caller.
    expect(await limits.check({ tokenId: 'jti-1', client: 'c'.repeat(1025) })).toMatchObject({
      outcome: 'invalid',
      kind: 'client',
    });
    expect(limiter.size).toBe(0);
    // 1024 characters still count.
    expect(await limits.check({ tokenId: 'x'.repeat(1024) })).toMatchObject({ outcome: 'allow' });
    expect(limiter.size).toBe(1);
  });

  test('a cost that is not a positive integer is a programming error', async () => {
    const { limits } = setup();
    await expect(limits.check({ tokenId: 'j' }, undefined, 0)).rejects.toThrow(TypeError);
  });

  test.each<[string, unknown]>([
    ['no rules', []],
    ['a bad name', [{ name: 'a b', by: 'token', limit: 1, windowMs: 1000 }]],
    [
      'a duplicate name',
      [
        { name: 'a', by: 'token', limit: 1, windowMs: 1000 },
        { name: 'a', by: 'subject', limit: 1, windowMs: 1000 },
      ],
    ],
    ['an unknown kind', [{ name: 'a', by: 'ip', limit: 1, windowMs: 1000 }]],
    ['a zero limit', [{ name: 'a', by: 'token', limit: 0, windowMs: 1000 }]],
    ['a window under a second', [{ name: 'a', by: 'token', limit: 1, windowMs: 999 }]],
    [
      'an unknown algorithm',
      [{ name: 'a', by: 'token', limit: 1, windowMs: 1000, algorithm: 'leaky' }],
    ],
  ])('refuses %s at start-up', (_what, bad) => {
    expect(() => new UsageLimits({ rules: bad as LimitRule[] })).toThrow(ConfigError);
  });

  test('refuses an unknown fail mode', () => {
    expect(() => new UsageLimits({ rules, failMode: 'maybe' as unknown as 'open' })).toThrow(
      /failMode/,
    );
  });
});
