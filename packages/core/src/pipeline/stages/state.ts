import { StoreStateLostError } from '../../errors';
import { isRevoked } from '../../revocation';
import type { StoreQuery, StoreSnapshot, WardenStore } from '../../store/types';
import { NO_STATE, type RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome, StageResult } from '../stage';
import { resolveDataSubject } from '../subject';

/**
 * Stage 4: revocation marks and the route's consent record, in one store read (none when the
 * store answers from memory). Refuses a revoked token; a store that fails refuses the request
 * (fail closed, `store_unavailable`), and so does a store whose state was lost (503
 * `store_state_lost`, until the state is restored). On a route step only the step's consent
 * record is read.
 */
export class StateStage implements Stage {
  readonly name = 'state';
  readonly timed = true;
  /** Whether the last answer of the store was that its state is lost. */
  private stateLost = false;

  /**
   * @param logError rate-limited error log: a failing store, the state found lost.
   * @param logWarn the state current again after a loss.
   */
  constructor(
    private readonly store: WardenStore,
    private readonly denials: Denials,
    private readonly maxClaimLength: number,
    private readonly logError: (message: string, error: unknown) => void,
    private readonly logWarn: (message: string) => void = () => {},
  ) {}

  run(ctx: RequestContext): StageResult {
    const token = ctx.verified;
    const consent = ctx.req.consent;
    const target =
      consent && token
        ? resolveDataSubject(consent.subject, ctx.view, token, this.maxClaimLength)
        : undefined;
    ctx.consentTarget = target;
    if (ctx.phase === 'route') return this.routeConsent(ctx, target);
    if (token === undefined) {
      ctx.snapshot = NO_STATE;
      return undefined;
    }
    const query: StoreQuery = {
      tokenId: token.tokenId,
      subject: token.subject,
      client: token.client,
      consent:
        consent && target !== undefined ? { subject: target, purpose: consent.purpose } : undefined,
    };
    ctx.storeOperation = 'lookup';
    const store = this.store;
    if (store.cachedLookup !== undefined) {
      const snapshot = store.cachedLookup(query);
      if (snapshot !== undefined) return this.admit(ctx, snapshot);
    }
    let pending: Promise<StoreSnapshot>;
    try {
      pending = store.lookup(query);
    } catch (error) {
      return this.failed(ctx, 'lookup', error);
    }
    return pending.then(
      (snapshot) => this.admit(ctx, snapshot),
      (error: unknown) => this.failed(ctx, 'lookup', error),
    );
  }

  private admit(ctx: RequestContext, snapshot: StoreSnapshot): StageOutcome {
    if (this.stateLost) this.stateCurrent(ctx);
    if (isRevoked(snapshot, ctx.verified!.issuedAt)) return this.denials.of('token_revoked');
    ctx.snapshot = snapshot;
    return undefined;
  }

  /** A route step's consent record: from memory when the store can, else one call. */
  private routeConsent(ctx: RequestContext, target: string | undefined): StageResult {
    const consent = ctx.req.consent;
    if (consent === undefined || target === undefined) {
      ctx.snapshot = NO_STATE;
      return undefined;
    }
    ctx.storeOperation = 'consent';
    const store = this.store;
    if (store.cachedConsent !== undefined) {
      const record = store.cachedConsent(target, consent.purpose);
      if (record !== undefined) {
        if (this.stateLost) this.stateCurrent(ctx);
        ctx.snapshot = record === null ? NO_STATE : { consent: record };
        return undefined;
      }
    }
    let pending: Promise<StoreSnapshot['consent']>;
    try {
      pending = store.getConsent(target, consent.purpose);
    } catch (error) {
      return this.failed(ctx, 'consent', error);
    }
    return pending.then(
      (record) => {
        if (this.stateLost) this.stateCurrent(ctx);
        ctx.snapshot = { consent: record };
        return undefined;
      },
      (error: unknown) => this.failed(ctx, 'consent', error),
    );
  }

  private failed(ctx: RequestContext, operation: string, error: unknown): StageOutcome {
    if (error instanceof StoreStateLostError) {
      if (!this.stateLost) {
        this.stateLost = true;
        ctx.stateLoss = 'lost';
        this.logError(
          'store state lost (its epoch is gone or was replaced): requests are refused with store_state_lost until `tokenwarden state restore` rebuilds it from the audit trail or `tokenwarden state accept-loss` accepts the loss',
          error,
        );
      }
      return this.denials.of('store_state_lost');
    }
    ctx.storeFailed = true;
    this.logError(`store ${operation} failed; requests are refused with store_unavailable`, error);
    return this.denials.of('store_unavailable');
  }

  /** The store answered from a current state after answering that its state was lost. */
  private stateCurrent(ctx: RequestContext): void {
    this.stateLost = false;
    ctx.stateLoss = 'restored';
    this.logWarn('store state is current again (a new epoch): requests are served');
  }
}
