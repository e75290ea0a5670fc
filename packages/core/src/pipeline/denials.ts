import { deny, denyOtherScheme, type DenyDecision } from '../decision';
import type { ErrorCode } from '../errors';
import type { VerifyDetail } from '../verify/details';
import type { DpopVerifier } from '../verify/dpop';

/** A refusal of the verifiers: a code and which check failed (one of a fixed list). */
export interface DenialReason {
  readonly code: ErrorCode;
  readonly detail: VerifyDetail;
}

/**
 * Builds the denials of one warden: the realm in every challenge and, with DPoP on, both schemes
 * offered on a 401 (RFC 9449 §7.1). Denials without request-specific parts are built once per
 * code (and detail, from the verifiers' fixed list, so the cache stays bounded) and shared.
 */
export class Denials {
  private readonly cached = new Map<ErrorCode, DenyDecision>();
  private readonly detailed = new Map<ErrorCode, Map<VerifyDetail, DenyDecision>>();
  private readonly otherScheme = new Map<ErrorCode, DenyDecision>();

  constructor(
    private readonly realm: string,
    private readonly dpop: DpopVerifier | undefined,
  ) {}

  /** The denial of a code; `scopes` names the missing scopes of `insufficient_scope`. */
  of(code: ErrorCode, scopes?: readonly string[]): DenyDecision {
    if (scopes) return this.withDpopChallenge(deny(code, this.realm, scopes));
    let cached = this.cached.get(code);
    if (!cached) {
      cached = this.withDpopChallenge(deny(code, this.realm));
      this.cached.set(code, cached);
    }
    return cached;
  }

  /**
   * The denial of a credential that failed verification: the code, and which check failed in the
   * body's `detail` and the audit event.
   */
  failed(reason: DenialReason): DenyDecision {
    const { code, detail } = reason;
    let byDetail = this.detailed.get(code);
    if (byDetail === undefined) {
      byDetail = new Map();
      this.detailed.set(code, byDetail);
    }
    let cached = byDetail.get(detail);
    if (cached === undefined) {
      cached = this.withDpopChallenge(deny(code, this.realm, undefined, undefined, detail));
      byDetail.set(detail, cached);
    }
    return cached;
  }

  /**
   * The denial of a request whose credential is another scheme's (`Basic`…): `code` in the body
   * and audit, and the challenge of a request without credentials (RFC 6750 §3.1: no error code).
   */
  ofOtherScheme(code: ErrorCode): DenyDecision {
    let cached = this.otherScheme.get(code);
    if (!cached) {
      cached = this.withDpopChallenge(denyOtherScheme(code, this.realm));
      this.otherScheme.set(code, cached);
    }
    return cached;
  }

  /** A denial whose headers depend on the request (a DPoP challenge, usage-limit headers). */
  with(code: ErrorCode, headers: Readonly<Record<string, string>>): DenyDecision {
    return deny(code, this.realm, undefined, headers);
  }

  private withDpopChallenge(decision: DenyDecision): DenyDecision {
    const dpop = this.dpop;
    const bearer = decision.headers['www-authenticate'];
    if (dpop === undefined || decision.status !== 401 || bearer === undefined) return decision;
    const challenge =
      dpop.mode === 'required' ? dpop.challenge() : `${bearer}, ${dpop.challenge()}`;
    return { ...decision, headers: { ...decision.headers, 'www-authenticate': challenge } };
  }
}
