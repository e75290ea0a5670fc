import { HttpException } from '@nestjs/common';
import type { DenyDecision, ErrorCode, ProblemDetails } from '@tokenwarden/core';

/**
 * Thrown by `TokenwardenGuard` for a denial, so exception filters see it. `getStatus()` is the
 * decision's status (401, 403, 400 or 503) and `getResponse()` the RFC 9457 problem+json body the
 * Express adapter sends. The decision's headers (`WWW-Authenticate`, `Content-Type`,
 * `Cache-Control`, `Retry-After`) are already set on the response when the guard throws; a
 * filter that writes its own body should keep or replace them deliberately.
 */
export class TokenwardenException extends HttpException {
  /** The core's denial, with its headers. */
  readonly decision: DenyDecision;
  /** The stable error code, e.g. `token_revoked`. */
  readonly code: ErrorCode;

  constructor(decision: DenyDecision) {
    // A copy: the core shares denial objects between requests, and filters may mutate bodies.
    super({ ...decision.body }, decision.status, { description: decision.message });
    this.decision = decision;
    this.code = decision.code;
    this.message = decision.message;
  }

  /** The problem+json body. */
  override getResponse(): ProblemDetails {
    return super.getResponse() as ProblemDetails;
  }

  /** The headers the response must carry. */
  get headers(): Readonly<Record<string, string>> {
    return this.decision.headers;
  }
}
