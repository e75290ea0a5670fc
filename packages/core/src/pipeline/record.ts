import { UNMATCHED_ROUTE } from '../audit/fields';
import type { Pseudonymizer } from '../audit/privacy';
import type { AuditTrail } from '../audit/trail';
import type { WardenMetrics } from '../metrics/types';
import type { RequestContext } from './context';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DURABLE: Promise<void> = Promise.resolve();

/**
 * Records a finished decision: the decision metric, and one audit event built here, in one place,
 * from the finished context. Resolves when the event is durable (at once in audit mode `'async'`).
 */
export class DecisionRecorder {
  constructor(
    private readonly trail: AuditTrail,
    private readonly metrics: WardenMetrics,
    private readonly pseudonyms: Pseudonymizer,
  ) {}

  /** The promise `settle()` answers when nothing needs to be waited for. */
  static readonly DURABLE = DURABLE;

  record(ctx: RequestContext, status: number | undefined): Promise<void> {
    const decision = ctx.decision;
    const reason = decision.outcome === 'deny' ? decision.code : decision.reason;
    this.metrics.decision(decision.outcome, reason, ctx.elapsedMs / 1000);
    if (!this.trail.enabled) return DURABLE;
    const token = ctx.verified;
    const view = ctx.view;
    const requestId = view.headerValues('x-request-id')?.[0];
    const durable = this.trail.record({
      type: 'access.decision',
      outcome: decision.outcome,
      reason,
      tokenId: token?.tokenId,
      tokenFingerprint: this.fingerprint(ctx),
      subject: token?.subject,
      client: token?.client,
      scopes: token?.scopes,
      // The template only, never the raw path: a path can hold an e-mail address or an id.
      route: view.route === undefined ? UNMATCHED_ROUTE : view.route.slice(0, 512),
      method: view.method,
      status: status ?? (decision.outcome === 'deny' ? decision.status : undefined),
      dataSubject: ctx.dataSubject,
      purpose: ctx.purpose,
      lawfulBasis: ctx.lawfulBasis,
      requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : undefined,
      clientAddress: this.pseudonyms.address(view.ip),
      userAgent: this.pseudonyms.userAgent(view.headerValues('user-agent')?.[0]),
      detail:
        decision.outcome === 'deny' && decision.detail !== undefined
          ? { failure: decision.detail }
          : undefined,
    });
    if (durable === undefined) return DURABLE;
    // Marked handled here; whoever awaits it still sees the rejection.
    durable.catch(() => undefined);
    return durable;
  }

  /** The token's audit fingerprint, computed once per cached token. */
  private fingerprint(ctx: RequestContext): string | undefined {
    const raw = ctx.token;
    if (raw === undefined) return undefined;
    const derived = ctx.derived;
    return derived
      ? (derived.fingerprint ??= this.pseudonyms.fingerprint(raw))
      : this.pseudonyms.fingerprint(raw);
  }
}
