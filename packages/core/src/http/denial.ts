import type { DenyDecision, ProblemDetails } from '../decision';
import { TokenwardenError } from '../errors';

/**
 * A denial as an error, for applications that answer denials in their framework's error handling
 * (Express `onDeny: 'next'`, Koa `onDeny: 'throw'`). It carries what the response needs: the
 * status, the headers (`WWW-Authenticate`, `Content-Type`, `Retry-After`…) and the RFC 9457
 * problem+json body. Express's and Koa's default error handlers read `status`, `headers` and
 * `expose`, so even without a handler of your own the client gets the status and the challenge.
 * The message is the code's fixed title: no token, no claim.
 *
 * @example
 * app.use((err, req, res, next) => {
 *   if (!(err instanceof TokenwardenDenial)) return next(err);
 *   res.status(err.status).set(err.headers).json(err.body);
 * });
 */
export class TokenwardenDenial extends TokenwardenError {
  /** The HTTP status: 400, 401, 403, 429 or 503. */
  readonly status: DenyDecision['status'];
  /** The headers the response must carry, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The problem+json body Tokenwarden would have sent. */
  readonly body: ProblemDetails;
  /** The message is safe to send to clients (Koa reads it). */
  readonly expose = true;

  constructor(decision: DenyDecision) {
    super(decision.code, decision.message);
    this.status = decision.status;
    // Copies: the core shares denial objects between requests, and handlers may change theirs.
    this.headers = { ...decision.headers };
    this.body = { ...decision.body };
  }
}

/** Throws the denial as a {@link TokenwardenDenial}: the `onDeny: 'throw'` of the Koa adapter. */
export function throwDenial(decision: DenyDecision): never {
  throw new TokenwardenDenial(decision);
}
