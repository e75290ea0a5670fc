import { describe, expect, it } from '@jest/globals';
import { UsageLimits } from '@tokenwarden/core';
import { LimitsStage } from '../../src/pipeline/stages/limits';
import { view } from '../support';
import { context, denials } from './support';

function withToken(tokenId: string, subject = 'user-1') {
  const ctx = context(view());
  ctx.verified = {
    tokenId,
    subject,
    client: 'web-app',
    issuer: 'https://issuer.test/',
    scopes: [],
    issuedAt: 0,
    expiresAt: Number.MAX_SAFE_INTEGER,
    kid: undefined,
    claims: {},
  };
  return ctx;
}

describe('LimitsStage alone', () => {
  it('counts each use, sets the RateLimit headers, and refuses the use over the limit', async () => {
    const limits = new UsageLimits({
      rules: [{ name: 'token-minute', by: 'token', limit: 2, windowMs: 60_000 }],
    });
    const stage = new LimitsStage(limits, denials, () => undefined);
    for (let i = 0; i < 2; i++) {
      const ctx = withToken('jti-1');
      expect(await stage.run(ctx)).toBeUndefined();
      expect(ctx.headers?.['ratelimit']).toBeDefined();
      expect(ctx.limits?.outcome).toBe('allow');
    }
    const over = withToken('jti-1');
    const denial = await stage.run(over);
    expect(denial).toMatchObject({ code: 'usage_limit_exceeded', status: 429 });
    expect(denial?.headers['retry-after']).toMatch(/^\d+$/);
    // Another token has its own count.
    expect(await stage.run(withToken('jti-2'))).toBeUndefined();
    await limits.close();
  });

  it('refuses a subject too long to count with token_claims_invalid, counting nothing', async () => {
    const limits = new UsageLimits({
      rules: [{ name: 'subject-hour', by: 'subject', limit: 5, windowMs: 3_600_000 }],
    });
    const stage = new LimitsStage(limits, denials, () => undefined);
    const ctx = withToken('jti-1', 's'.repeat(1025));
    expect(await stage.run(ctx)).toMatchObject({ code: 'token_claims_invalid', status: 401 });
    // No usage-limit outcome is recorded: it is a bad claim, not a limit.
    expect(ctx.limits).toBeUndefined();
    expect(await stage.run(withToken('jti-1', 's'.repeat(1024)))).toBeUndefined();
    await limits.close();
  });

  it('does nothing for an anonymous request', () => {
    const limits = new UsageLimits({
      rules: [{ name: 'token-minute', by: 'token', limit: 1, windowMs: 60_000 }],
    });
    expect(new LimitsStage(limits, denials, () => undefined).run(context(view()))).toBeUndefined();
    return limits.close();
  });
});
