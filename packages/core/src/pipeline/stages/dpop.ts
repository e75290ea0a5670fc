import { callerKey } from '../../limits/caller';
import type { DpopVerifier } from '../../verify/dpop';
import type { RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome, StageResult } from '../stage';
import { hasAny } from '../subject';

/**
 * Stage 3 (with the `dpop` option): the DPoP proof (RFC 9449) and the token's binding to it.
 * On a route step that requires DPoP, a token that was not bound by a proof is refused.
 */
export class DpopStage implements Stage {
  readonly name = 'dpop';

  constructor(
    private readonly verifier: DpopVerifier,
    /** The origin clients address this API at; a proof's `htu` is this plus the request target. */
    private readonly origin: string,
    private readonly denials: Denials,
    private readonly logError: (message: string, error: unknown) => void,
  ) {}

  run(ctx: RequestContext): StageResult {
    const token = ctx.verified;
    if (token === undefined) return undefined;
    if (ctx.phase === 'route') {
      if (ctx.req.dpop !== 'required' || ctx.dpopBound) return undefined;
      return this.check(ctx, 'bearer', undefined);
    }
    return this.check(ctx, ctx.scheme, ctx.view.headerValues('dpop'));
  }

  private async check(
    ctx: RequestContext,
    scheme: 'bearer' | 'dpop',
    proofs: readonly string[] | undefined,
  ): Promise<StageOutcome> {
    const view = ctx.view;
    const route = ctx.phase === 'route';
    const result = await this.verifier.check({
      scheme,
      accessToken: ctx.token ?? '',
      claims: ctx.verified!.claims,
      proofs,
      method: view.method,
      url: this.origin + view.url,
      mode: route ? 'required' : ctx.req.dpop,
      caller: callerKey(ctx.verified!.client, ctx.verified!.subject),
    });
    if (!result.ok) {
      ctx.dpop = 'fail';
      if (result.failure.code === 'store_unavailable') {
        this.logError('DPoP replay cache failed; requests are refused', result.failure.detail);
      }
      return this.denials.with(result.failure.code, result.failure.headers);
    }
    if (route) return undefined;
    ctx.dpop = result.via;
    ctx.dpopBound = result.via === 'dpop';
    if (hasAny(result.headers)) ctx.headers = result.headers;
    return undefined;
  }
}
