import type { UsageLimits } from '../../limits/usage-limits';
import { API_KEY_ISSUER } from '../../verify/api-key';
import type { RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome } from '../stage';
import { hasAny } from '../subject';

/**
 * Stage 5 (with the `limits` option): counts one use against the credential's usage limits,
 * after revocation. 429 with `Retry-After` and `RateLimit` headers when a rule is exhausted (or,
 * with the memory limiter, when the caller holds its whole share of counters); 401
 * `token_claims_invalid` when a credential id is too long to count; when the limiter fails,
 * `limits.failMode` says whether requests pass uncounted or are refused.
 */
export class LimitsStage implements Stage {
  readonly name = 'limits';

  constructor(
    private readonly limits: UsageLimits,
    private readonly denials: Denials,
    private readonly logError: (message: string, error: unknown) => void,
  ) {}

  run(ctx: RequestContext): Promise<StageOutcome> | undefined {
    const token = ctx.verified;
    return token === undefined ? undefined : this.check(ctx);
  }

  private async check(ctx: RequestContext): Promise<StageOutcome> {
    const token = ctx.verified!;
    const apiKey = token.issuer === API_KEY_ISSUER;
    const outcome = await this.limits.check({
      tokenId: apiKey ? undefined : token.tokenId,
      apiKeyId: apiKey ? token.tokenId : undefined,
      client: token.client,
      subject: token.subject,
    });
    // An uncountable id is refused as a bad claim; it is no usage-limit outcome for the metrics.
    if (outcome.outcome === 'invalid') return this.denials.of('token_claims_invalid');
    ctx.limits = outcome;
    if (outcome.outcome === 'allow') {
      if (hasAny(outcome.headers)) ctx.headers = { ...ctx.headers, ...outcome.headers };
      return undefined;
    }
    if (outcome.outcome === 'limited') {
      return this.denials.with('usage_limit_exceeded', { ...ctx.headers, ...outcome.headers });
    }
    this.logError(
      outcome.allow
        ? 'usage limits could not be checked; requests pass uncounted (limits.failMode open)'
        : 'usage limits could not be checked; requests are refused with store_unavailable',
      outcome.error,
    );
    return outcome.allow ? undefined : this.denials.with('store_unavailable', { ...ctx.headers });
  }
}
