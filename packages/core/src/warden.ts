import type { Access } from './access';
import type {
  GrantConsentInput,
  RevokeBeforeOptions,
  RevokeTokenOptions,
  WithdrawConsentInput,
  WardenAdmin,
} from './admin';
import type { AuditTrail } from './audit/trail';
import type { AuditEventInput } from './audit/types';
import type { Decision } from './decision';
import { registerLeakResponder } from './leaks/registry';
import { holdUntilDurable, type HeldResponse } from './response';
import type { WardenMetrics } from './metrics/types';
import { resolveOptions } from './options/resolve';
import type { WardenOptions } from './options/types';
import { compose, type CloseOptions, type Composition } from './pipeline/compose';
import type { Denials } from './pipeline/denials';
import type { Pipeline } from './pipeline/pipeline';
import type { Requirements } from './pipeline/requirements';
import type { Requirement } from './policy/requirement';
import type { RequestView } from './request';
import type { ConsentRecord, WardenStore } from './store/types';

export type { Access } from './access';
export type { CloseOptions } from './pipeline/compose';

/**
 * Enforces token hygiene on requests: extract → authenticate → DPoP → revocation and consent
 * state → usage limits → scopes, consent or lawful basis → metrics and one audit event. A small
 * facade over the pipeline and the lifecycle API; {@link createWarden} builds it.
 * Framework adapters turn their request into a {@link RequestView} and call {@link Warden.check}
 * (or {@link Warden.beginNow} plus route-level {@link Access.authorizeNow}).
 */
export class Warden {
  /** The metrics this warden records; `render()` gives the Prometheus text. */
  readonly metrics: WardenMetrics;
  /** The store holding revocation marks and consent records. */
  readonly store: WardenStore;
  readonly #pipeline: Pipeline;
  readonly #requirements: Requirements;
  readonly #denials: Denials;
  readonly #admin: WardenAdmin;
  readonly #trail: AuditTrail;
  readonly #composition: Composition;

  /** Validates the options (throwing ConfigError naming the option to fix) and builds the parts. */
  constructor(options: WardenOptions) {
    const composition = compose(resolveOptions(options));
    this.#composition = composition;
    this.metrics = composition.metrics;
    this.store = composition.store;
    this.#pipeline = composition.pipeline;
    this.#requirements = composition.requirements;
    this.#denials = composition.denials;
    this.#admin = composition.admin;
    this.#trail = composition.trail;
    registerLeakResponder(this, composition.leaks);
  }

  /**
   * Validates a route requirement against the policy (known purposes, well-formed scopes).
   * Adapters call it when a route is declared, so mistakes fail at start-up. Throws ConfigError.
   */
  requirement(requirement: Requirement): Requirement {
    this.#requirements.compile(requirement);
    return requirement;
  }

  /**
   * Runs the whole pipeline for one request and records the decision. In audit mode `'sync'` it
   * resolves once the event is durable, and gives `audit_unavailable` when it could not be.
   */
  async check(view: RequestView, requirement?: Requirement): Promise<Decision> {
    // Inline rather than through conclude(): one async frame per check, not two.
    const access = await this.beginNow(view, requirement);
    const durable = access.settle();
    if (this.#trail.mode === 'sync') {
      try {
        await durable;
      } catch {
        return this.#denials.of('audit_unavailable');
      }
    }
    return access.decision;
  }

  /**
   * Records an access's final decision now (see {@link Access.settle}) and gives it; in audit
   * mode `'sync'` it waits for the event and gives `audit_unavailable` when it could not be kept.
   */
  async conclude(access: Access, status?: number): Promise<Decision> {
    const durable = access.settle(status);
    if (this.#trail.mode === 'sync') {
      try {
        await durable;
      } catch {
        return this.#denials.of('audit_unavailable');
      }
    }
    return access.decision;
  }

  /** `'sync'` when responses wait for their audit event to be durable, else `'async'`. */
  get auditMode(): 'async' | 'sync' {
    return this.#trail.mode;
  }

  /**
   * Ties an access to the Node response that answers it (adapters call it once per request,
   * before anything is written). Audit mode `'async'`: the allow is recorded when the response
   * closes, with the status sent. Mode `'sync'`: the response is held until the event is durable
   * (see {@link holdUntilDurable}); a denial's response waits for the denial's event.
   */
  track(res: HeldResponse, access: Access): void {
    if (this.#trail.mode === 'sync') {
      holdUntilDurable(
        res,
        (status) => access.settle(status),
        this.#denials.of('audit_unavailable'),
      );
    } else if (access.decision.outcome === 'allow') {
      // `on`, not `once`: the response closes once, and `once` costs a wrapper per request.
      res.on('close', () => void access.settle(res.statusCode));
    }
  }

  /**
   * Runs the pipeline for one request without recording an allow yet, so route-level steps can
   * add requirements; the adapter calls `settle()` when the response is sent.
   */
  async begin(view: RequestView, requirement?: Requirement): Promise<Access> {
    return this.beginNow(view, requirement);
  }

  /**
   * {@link Warden.begin} for adapters: the access itself, without a promise, when the decision
   * needed no I/O (a cached or locally verified token, revocation and consent state in memory),
   * else a promise of it. Never throws for a request's content; a denial is recorded at once.
   */
  beginNow(view: RequestView, requirement?: Requirement): Access | Promise<Access> {
    return this.#pipeline.begin(view, requirement);
  }

  /** Refuses one token id until it expires. Audited; rejects if the store cannot record it. */
  revokeToken(tokenId: string, options?: RevokeTokenOptions): Promise<void> {
    return this.#admin.revokeToken(tokenId, options);
  }

  /** Refuses every token of a subject issued at or before `before` (default now). */
  revokeSubject(subject: string, options?: RevokeBeforeOptions): Promise<void> {
    return this.#admin.revokeSubject(subject, options);
  }

  /** Refuses every token of a client issued at or before `before` (default now). */
  revokeClient(client: string, options?: RevokeBeforeOptions): Promise<void> {
    return this.#admin.revokeClient(client, options);
  }

  /** Refuses every token issued at or before `before` (default now), for everyone. */
  revokeAll(options?: RevokeBeforeOptions): Promise<void> {
    return this.#admin.revokeAll(options);
  }

  /** Records a data subject's consent to a purpose. Audited. */
  grantConsent(input: GrantConsentInput): Promise<ConsentRecord> {
    return this.#admin.grantConsent(input);
  }

  /** Records a withdrawal: from now on no token, old or new, passes this purpose's check. */
  withdrawConsent(input: WithdrawConsentInput): Promise<ConsentRecord> {
    return this.#admin.withdrawConsent(input);
  }

  /**
   * Records a lifecycle event (token issued, API key created, signing key rotated…) in this
   * warden's audit trail. Never throws; the trail stamps version, id and time.
   */
  recordEvent(event: AuditEventInput): void {
    this.#trail.record(event);
  }

  /** Reads a consent record. */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.store.getConsent(subject, purpose);
  }

  /** Waits until every audit event recorded so far has been handed to the sinks. */
  flushAudit(): Promise<void> {
    return this.#trail.flush();
  }

  /**
   * Resolves when this warden can serve requests: the store answers (its `ping()`, within the
   * store's deadline; a store without one counts as usable), the audit trail takes events (under
   * `audit.onFailure: 'refuse'` it may not), and the keys of every trusted issuer are loaded.
   * Otherwise rejects, naming the cause: `StoreUnavailableError` (`store_unavailable`),
   * `AuditUnavailableError` (`audit_unavailable`) or a `TokenwardenError`
   * `key_source_unavailable`. For readiness probes; the adapters' health handlers answer with it.
   */
  ready(): Promise<void> {
    return this.#composition.ready();
  }

  /**
   * Stops the warden: flushes the audit trail, closes its sinks and what the warden opened. The
   * store is closed when the warden created it, or with `{ store: true }` (a store passed in,
   * e.g. a `RedisStore`, whose connection would otherwise keep the process alive). Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#composition.close(options);
  }
}

/**
 * Creates a warden: validates the options (throwing ConfigError with the option to fix) and
 * prepares the store, metrics and audit trail.
 *
 * @example
 * const warden = createWarden({
 *   jwt: {
 *     algorithms: ['RS256'],
 *     keys: [keyFromFile('/run/secrets/idp.pem', { kid: 'idp-1', alg: 'RS256' })],
 *     issuer: 'https://idp.example.com/',
 *     audience: 'orders-api',
 *   },
 *   purposes: ['marketing'],
 * });
 */
export function createWarden(options: WardenOptions): Warden {
  return new Warden(options);
}
