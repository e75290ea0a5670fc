import type { RequestView } from '../../request';
import { extractToken, type ExtractPolicy } from '../../verify/extract';
import type { RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome } from '../stage';

/**
 * Stage 1: finds exactly one credential (header or the application's `getToken`, cookie or, when
 * configured, query string), within the size cap and before any parsing. A public route called
 * without one, or any route with `credentialsRequired: false`, goes on anonymously; every later
 * stage then has nothing to check but the route's own requirement.
 */
export class ExtractStage implements Stage {
  readonly name = 'extract';

  constructor(
    private readonly policy: ExtractPolicy,
    private readonly publicPaths: readonly (string | RegExp)[],
    private readonly denials: Denials,
  ) {}

  run(ctx: RequestContext): StageOutcome {
    ctx.isPublic = ctx.req.public || this.isPublicPath(ctx.view);
    const extracted = extractToken(ctx.view, this.policy);
    if (extracted.ok) {
      ctx.token = extracted.token;
      ctx.scheme = extracted.scheme;
      return undefined;
    }
    // A public route, or optional authentication (`credentialsRequired: false`), goes on
    // anonymously without a credential; a credential that is sent is refused when bad.
    if (extracted.code === 'token_missing' && (ctx.isPublic || this.policy.required === false)) {
      return undefined;
    }
    return extracted.otherScheme === true
      ? this.denials.ofOtherScheme(extracted.code)
      : this.denials.of(extracted.code);
  }

  private isPublicPath(view: RequestView): boolean {
    const paths = this.publicPaths;
    // The path is read only when there is something to compare it with.
    if (paths.length === 0) return false;
    const path = view.path;
    for (const p of paths) {
      if (typeof p === 'string' ? p === path : p.test(path)) return true;
    }
    return false;
  }
}

/** Audit `onFailure: 'refuse'`: no request is served while its audit record could be kept nowhere. */
export class AuditGateStage implements Stage {
  readonly name = 'audit-gate';

  constructor(
    private readonly trail: { readonly available: boolean },
    private readonly denials: Denials,
  ) {}

  run(): StageOutcome {
    return this.trail.available ? undefined : this.denials.of('audit_unavailable');
  }
}
