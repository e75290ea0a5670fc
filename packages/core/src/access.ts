import type { Decision } from './decision';
import type { Requirement } from './policy/requirement';

/** What a route-level adapter step receives from `Warden.begin`. */
export interface Access {
  /** The decision so far. A denial has already been recorded. */
  readonly decision: Decision;
  /**
   * Checks further requirements (scopes, consent, lawful basis) for the same request. A denial is
   * recorded at once; an allow is recorded by {@link Access.settle}.
   */
  authorize(requirement: Requirement): Promise<Decision>;
  /**
   * {@link Access.authorize} for adapters: the decision itself when no I/O was needed (the
   * consent record was in memory, or none was needed), else a promise of it.
   */
  authorizeNow(requirement: Requirement): Decision | Promise<Decision>;
  /**
   * Records the final allow (once), with the response status when known. Idempotent. Resolves
   * when the decision's audit event is durable: at once in audit mode `'async'`; in mode `'sync'`
   * once it is in every sink or in the spool, and it rejects with `AuditUnavailableError` when it
   * could be stored nowhere and `audit.onFailure` is `'refuse'`. A denial's event is recorded
   * when it is made; `settle()` then gives its outcome.
   */
  settle(status?: number): Promise<void>;
}
