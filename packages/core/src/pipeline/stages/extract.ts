import { queryCredentials, type CredentialExposure } from '../../leaks/exposure';
import type { RequestView } from '../../request';
import { extractToken, type ExtractPolicy, type ExtractResult } from '../../verify/extract';
import type { RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome, StageResult } from '../stage';

/**
 * Stage 1: finds exactly one credential (header or the application's `getToken`, cookie or, when
 * configured, query string), within the size cap and before any parsing. A public route called
 * without one, or any route with `credentialsRequired: false`, goes on anonymously; every later
 * stage then has nothing to check but the route's own requirement.
 *
 * A credential in the query string where the warden does not accept one (`?access_token=`, or
 * a Tokenwarden API key or refresh token in any parameter) is refused as before, and handed to
 * the `exposure` collaborator, which counts it, audits its fingerprint and, with
 * `credentials.onExposure: 'revoke'`, revokes it before the denial is answered. A URL without
 * a query string costs one `indexOf`.
 */
export class ExtractStage implements Stage {
  readonly name = 'extract';

  constructor(
    private readonly policy: ExtractPolicy,
    private readonly publicPaths: readonly (string | RegExp)[],
    private readonly denials: Denials,
    private readonly exposure?: CredentialExposure,
  ) {}

  run(ctx: RequestContext): StageResult {
    ctx.isPublic = ctx.req.public || this.isPublicPath(ctx.view);
    const view = ctx.view;
    const outcome = this.outcome(ctx, extractToken(view, this.policy));
    const exposure = this.exposure;
    if (exposure === undefined || view.url.indexOf('?') < 0) return outcome;
    const policy = this.policy;
    const exposed = queryCredentials(view.url, policy.queryParameter, policy.maxTokenBytes);
    if (exposed.length === 0) return outcome;
    const reported = exposure.report(exposed, 'query', view);
    return reported === undefined ? outcome : reported.then(() => outcome);
  }

  private outcome(ctx: RequestContext, extracted: ExtractResult): StageOutcome {
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
