import type { AllowDecision } from '../../decision';
import { evaluateConsent } from '../../consent';
import type { Clock } from '../../internal/clock';
import { NO_REQUIREMENT, NO_STATE, type RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome } from '../stage';
import { resolveDataSubject } from '../subject';

/** The allow of a public route called without a token. */
const PUBLIC_ALLOW: AllowDecision = Object.freeze({ outcome: 'allow', reason: 'public_route' });

/**
 * Stage 6: the allow, then the route's own requirement: every required scope, at least one of
 * its any-of scopes, every claim check, and either the data subject's consent to the purpose
 * (granted, not expired, not withdrawn since the token was issued) or another declared lawful
 * basis, whose data subject is recorded. Never does I/O: the consent record came with the state
 * stage.
 */
export class AuthorizeStage implements Stage {
  readonly name = 'authorize';

  constructor(
    private readonly denials: Denials,
    private readonly clock: Clock,
    private readonly maxClaimLength: number,
  ) {}

  run(ctx: RequestContext): StageOutcome {
    const req = ctx.req;
    if (ctx.phase === 'begin') {
      ctx.decision =
        ctx.derived === undefined
          ? PUBLIC_ALLOW
          : {
              outcome: 'allow',
              reason: ctx.isPublic ? 'public_route' : 'authorized',
              principal: ctx.derived.principal,
              headers: ctx.headers,
            };
    } else if (req.public && ctx.allowed.principal === undefined) {
      return undefined;
    }
    return req === NO_REQUIREMENT ? undefined : this.require(ctx);
  }

  private require(ctx: RequestContext): StageOutcome {
    const req = ctx.req;
    const current = ctx.allowed;
    const principal = current.principal;
    if (req.scopes.length > 0) {
      if (!principal) return this.denials.of('token_missing');
      let ok = true;
      for (const scope of req.scopes) if (!principal.scopes.includes(scope)) ok = false;
      ctx.scope = ok ? 'pass' : 'fail';
      if (!ok) return this.denials.of('insufficient_scope', req.scopes);
    }
    const anyScopes = req.anyScopes;
    if (anyScopes !== undefined) {
      if (!principal) return this.denials.of('token_missing');
      let ok = false;
      for (const scope of anyScopes) if (principal.scopes.includes(scope)) ok = true;
      ctx.scope = ok ? 'pass' : 'fail';
      if (!ok) return this.denials.of('insufficient_scope', anyScopes);
    }
    if (req.claims !== undefined) {
      if (!principal) return this.denials.of('token_missing');
      for (const passes of req.claims) {
        if (!passes(principal.claims)) return this.denials.of('claim_check_failed');
      }
    }
    if (req.dataSubject !== undefined && principal) {
      // Whose data the route touches goes on the record, scope-only routes included.
      const resolver = req.dataSubject === 'token' ? undefined : req.dataSubject;
      const dataSubject = resolveDataSubject(resolver, ctx.view, ctx.verified, this.maxClaimLength);
      if (dataSubject === undefined) return this.denials.of('data_subject_unresolved');
      ctx.dataSubject = dataSubject;
    }
    if (req.consent) {
      if (!principal) return this.denials.of('token_missing');
      const purpose = req.consent.purpose;
      const target = ctx.consentTarget;
      ctx.purpose = purpose;
      ctx.lawfulBasis = 'consent';
      if (target === undefined) return this.denials.of('data_subject_unresolved');
      ctx.dataSubject = target;
      const verdict = evaluateConsent(
        (ctx.snapshot ?? NO_STATE).consent,
        principal.issuedAt,
        this.clock.now(),
      );
      ctx.consentPurpose = purpose;
      ctx.consent = verdict;
      if (verdict !== 'pass') return this.denials.of(verdict);
      ctx.decision = {
        outcome: 'allow',
        reason: 'consent',
        principal,
        dataSubject: target,
        purpose,
        lawfulBasis: 'consent',
        headers: current.headers,
      };
      return undefined;
    }
    if (req.lawfulBasis) {
      ctx.lawfulBasis = req.lawfulBasis.basis;
      ctx.purpose = req.lawfulBasis.purpose;
      let dataSubject = current.dataSubject;
      if (req.lawfulBasis.subject) {
        // The route says whose data it touches: the audit trail records it, or nothing is served.
        dataSubject = resolveDataSubject(
          req.lawfulBasis.subject,
          ctx.view,
          ctx.verified,
          this.maxClaimLength,
        );
        if (dataSubject === undefined) return this.denials.of('data_subject_unresolved');
        ctx.dataSubject = dataSubject;
      }
      ctx.decision = {
        outcome: 'allow',
        reason: current.reason === 'public_route' ? 'public_route' : 'lawful_basis',
        principal,
        dataSubject,
        purpose: req.lawfulBasis.purpose,
        lawfulBasis: req.lawfulBasis.basis,
        headers: current.headers,
      };
    }
    return undefined;
  }
}
