import { withDefaultSealing } from './audit/default-sealing';
import { AuditTrail, clean } from './audit/trail';
import { assertNotice } from './consent/index';
import type { AuditEventInput } from './audit/types';
import type { AuditOptions } from './audit/options';
import { resolveAuditOptions } from './audit/options';
import type { AuditEventType } from './audit/types';
import { ConfigError, TokenwardenError } from './errors';
import { systemClock, type Clock } from './internal/clock';
import { optionKeys, rejectUnknownKeys } from './internal/option-keys';
import { isSafeId } from './internal/text';
import { createPrometheusMetrics, noopMetrics } from './metrics/prometheus';
import type { MetricsOptions, WardenMetrics } from './metrics/types';
import {
  rateLimitedLog,
  resolveClaimLimits,
  resolvePurposes,
  stderrLogger,
} from './options/resolve';
import { AUDIT_OPTION_KEYS, METRICS_OPTION_KEYS } from './options/known-keys';
import type { Logger, WardenOptions } from './options/types';
import { dropUndefined } from './store/memory-store';
import { resolveRetention, type ResolvedRetention, type RetentionOptions } from './store/retention';
import type { ConsentRecord, MarkScope, WardenStore } from './store/types';

/** Options of {@link WardenAdmin.revokeToken}. */
export interface RevokeTokenOptions {
  /**
   * When the token expires (epoch ms); the revocation is kept until then. Default: now plus the
   * maximum lifetime and clock tolerance, which outlives any token the warden accepts.
   */
  readonly expiresAt?: number;
  /** Who revoked, for the audit trail. */
  readonly actor?: string;
  /** Why, for the audit trail (e.g. `'leaked'`). */
  readonly reason?: string;
}

/** Options of the revocation by subject, client or for everyone. */
export interface RevokeBeforeOptions {
  /** Tokens issued at or before this time (epoch ms) are refused. Default: now. */
  readonly before?: number;
  readonly actor?: string;
  readonly reason?: string;
}

/** A consent grant, as an operator or a consent form reports it. */
export interface GrantConsentInput {
  readonly subject: string;
  readonly purpose: string;
  /** When the consent lapses (epoch ms). Default: until withdrawn. */
  readonly expiresAt?: number;
  /** Where the consent was collected: `privacy-portal`, `api`, `cli`, a form id. */
  readonly source?: string;
  /** The notice agreed to: `<id>@<version>` or `sha256:<64 hex>` of its text. */
  readonly notice?: string;
  /** A reference to the proof of the grant (form submission id, receipt hash). */
  readonly evidence?: string;
  readonly actor?: string;
}

/** A consent withdrawal. */
export interface WithdrawConsentInput {
  readonly subject: string;
  readonly purpose: string;
  readonly source?: string;
  readonly actor?: string;
  /**
   * How long the withdrawn record is kept, in ms, before it is deleted. Default: the warden's
   * `retention.consentAfterWithdrawalMs`, else the store's own default.
   */
  readonly retentionMs?: number;
}

/** What the lifecycle operations need; a warden shares its own. @internal */
export interface AdminContext {
  readonly store: WardenStore;
  readonly ownsStore: boolean;
  readonly trail: AuditTrail;
  readonly metrics: WardenMetrics;
  readonly clock: Clock;
  readonly purposes: ReadonlySet<string>;
  readonly maxLifetimeMs: number;
  readonly clockToleranceMs: number;
  readonly maxClaimLength: number;
  /** How long records outlive their use (`retention` option); absent: the stores' defaults. */
  readonly retention?: ResolvedRetention;
}

/**
 * The lifecycle side of a warden: revocation, consent, lifecycle audit events. Every change is
 * audited, and rejects if the store cannot record it. A warden has one (its revoke and consent
 * methods delegate to it); {@link createAdmin} makes one without JWT settings, for operator tools.
 */
export class WardenAdmin {
  private closed = false;

  /** @internal Use {@link createAdmin} or a warden. */
  constructor(private readonly context: AdminContext) {}

  /** The store the changes go to. */
  get store(): WardenStore {
    return this.context.store;
  }

  /** Refuses one token id until it expires. Audited; rejects if the store cannot record it. */
  async revokeToken(tokenId: string, options: RevokeTokenOptions = {}): Promise<void> {
    this.assertId(tokenId, 'tokenId');
    const { maxLifetimeMs, clockToleranceMs } = this.context;
    // A token may carry an iat up to the tolerance ahead, and is accepted up to the tolerance
    // past its exp: the revocation outlives both.
    const expiresAt =
      options.expiresAt ?? this.context.clock.now() + maxLifetimeMs + clockToleranceMs;
    await this.lifecycle(
      'token.revoked',
      { tokenId, actor: options.actor, detail: detail({ expiresAt, reason: options.reason }) },
      () =>
        this.context.store.revokeToken(
          tokenId,
          expiresAt + clockToleranceMs + (this.context.retention?.revocationMarksMs ?? 0),
        ),
    );
    this.context.metrics.revocation('token');
  }

  /** Refuses every token of a subject issued at or before `before` (default now). */
  revokeSubject(subject: string, options: RevokeBeforeOptions = {}): Promise<void> {
    return this.revokeBefore('subject', subject, options);
  }

  /** Refuses every token of a client issued at or before `before` (default now). */
  revokeClient(client: string, options: RevokeBeforeOptions = {}): Promise<void> {
    return this.revokeBefore('client', client, options);
  }

  /** Refuses every token issued at or before `before` (default now), for everyone. */
  revokeAll(options: RevokeBeforeOptions = {}): Promise<void> {
    return this.revokeBefore('all', '', options);
  }

  private async revokeBefore(
    scope: MarkScope,
    id: string,
    options: RevokeBeforeOptions,
  ): Promise<void> {
    if (scope !== 'all') this.assertId(id, scope);
    const before = options.before ?? this.context.clock.now();
    const { maxLifetimeMs, clockToleranceMs, retention } = this.context;
    const keepUntil =
      before + maxLifetimeMs + clockToleranceMs + (retention?.revocationMarksMs ?? 0);
    const type: AuditEventType = `${scope}.revoked`;
    await this.lifecycle(
      type,
      {
        subject: scope === 'subject' ? id : undefined,
        client: scope === 'client' ? id : undefined,
        actor: options.actor,
        detail: detail({ before, reason: options.reason }),
      },
      () => this.context.store.setNotBefore(scope, id, before, keepUntil),
    );
    this.context.metrics.revocation(scope);
  }

  /** Records a data subject's consent to a purpose. Audited. */
  async grantConsent(input: GrantConsentInput): Promise<ConsentRecord> {
    this.assertPurpose(input.purpose, 'grantConsent');
    this.assertId(input.subject, 'subject');
    assertNotice(input.notice);
    const grantedAt = this.context.clock.now();
    return this.lifecycle(
      'consent.granted',
      {
        dataSubject: input.subject,
        purpose: input.purpose,
        actor: input.actor,
        detail: detail({
          grantedAt,
          expiresAt: input.expiresAt,
          source: input.source,
          notice: input.notice,
          evidence: input.evidence,
        }),
      },
      () =>
        this.context.store.grantConsent(
          dropUndefined({
            subject: input.subject,
            purpose: input.purpose,
            grantedAt,
            expiresAt: input.expiresAt,
            source: input.source,
            notice: input.notice,
            evidence: input.evidence,
          }),
        ),
    );
  }

  /** Records a withdrawal: from now on no token, old or new, passes this purpose's check. */
  async withdrawConsent(input: WithdrawConsentInput): Promise<ConsentRecord> {
    this.assertPurpose(input.purpose, 'withdrawConsent');
    this.assertId(input.subject, 'subject');
    const withdrawnAt = this.context.clock.now();
    const retentionMs = input.retentionMs ?? this.context.retention?.consentAfterWithdrawalMs;
    const keepUntil = retentionMs === undefined ? undefined : withdrawnAt + retentionMs;
    return this.lifecycle(
      'consent.withdrawn',
      {
        dataSubject: input.subject,
        purpose: input.purpose,
        actor: input.actor,
        detail: detail({ withdrawnAt, source: input.source, keepUntil }),
      },
      () =>
        this.context.store.withdrawConsent(
          dropUndefined({
            subject: input.subject,
            purpose: input.purpose,
            withdrawnAt,
            source: input.source,
            keepUntil,
          }),
        ),
    );
  }

  /** Every consent record of a data subject, sorted by purpose. */
  async consentRecords(subject: string): Promise<readonly ConsentRecord[]> {
    this.assertId(subject, 'subject');
    return this.context.store.consentRecords(subject);
  }

  /**
   * Erases every consent record of a data subject (the right to erasure); resolves with the
   * purposes erased. Audited as `consent.erased`: the history stays in the audit trail.
   */
  async eraseConsent(
    subject: string,
    options: { readonly actor?: string; readonly reason?: string } = {},
  ): Promise<readonly string[]> {
    this.assertId(subject, 'subject');
    return this.lifecycle(
      'consent.erased',
      { dataSubject: subject, actor: options.actor, detail: detail({ reason: options.reason }) },
      () => this.context.store.eraseConsent(subject),
    );
  }

  /** Reads a consent record. */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.context.store.getConsent(subject, purpose);
  }

  /** Records a lifecycle event in the audit trail. Never throws. */
  recordEvent(event: AuditEventInput): void {
    this.context.trail.record(event);
  }

  /** Resolves when every audit event recorded so far has been handed to the sinks. */
  flushAudit(): Promise<void> {
    return this.context.trail.flush();
  }

  /** Flushes the audit trail, closes sinks and the store if it was created here. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.context.trail.close();
    if (this.context.ownsStore) await this.context.store.close();
  }

  /** Throws ConfigError unless the purpose is declared. @internal */
  assertPurpose(purpose: string, where: string): void {
    if (!this.context.purposes.has(purpose)) {
      const known = [...this.context.purposes];
      throw new ConfigError(
        `${where}: purpose '${String(purpose)}' is not declared; add it to the 'purposes' option` +
          (known.length > 0 ? ` (declared: ${known.join(', ')})` : ''),
      );
    }
  }

  private assertId(id: string, name: string): void {
    if (!isSafeId(id, this.context.maxClaimLength)) {
      throw new TypeError(
        `${name} must be a non-empty string of at most ${this.context.maxClaimLength} printable characters`,
      );
    }
  }

  private async lifecycle<T>(
    type: AuditEventType,
    fields: Omit<AuditEventInput, 'type' | 'outcome'>,
    change: () => Promise<T>,
  ): Promise<T> {
    try {
      const result = await change();
      this.context.trail.record({ ...fields, type, outcome: 'success' });
      return result;
    } catch (error) {
      const reason = error instanceof TokenwardenError ? error.code : 'store_unavailable';
      this.context.trail.record({ ...fields, type, outcome: 'failure', reason });
      throw error;
    }
  }
}

/** Options of {@link createAdmin}. */
export interface AdminOptions {
  /** Where revocations and consent records go (e.g. a RedisStore shared with the API nodes). */
  readonly store: WardenStore;
  /** Purposes consent may be granted for. Default: none. */
  readonly purposes?: WardenOptions['purposes'];
  /** The API's maximum token lifetime, which bounds how long revocations are kept. Default: 1 h. */
  readonly maxLifetimeMs?: number;
  /** The API's clock tolerance. Default: 5 s. */
  readonly clockToleranceMs?: number;
  /** Longest accepted id (token id, subject, client). Default: 256. */
  readonly maxClaimLength?: number;
  /**
   * Where the lifecycle audit events go. Default: JSON lines on standard output. `false`: nowhere
   * (for read-only use, which records nothing).
   */
  readonly audit?: AuditOptions | false;
  /** Prometheus metrics; `false` turns them off. Default: `false`. */
  readonly metrics?: MetricsOptions | false;
  /** Warnings and errors. Default: stderr. */
  readonly logger?: Logger;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
  /** How long records outlive their use; must match the API's. Default: the stores' own. */
  readonly retention?: RetentionOptions;
}

/** Every option of {@link createAdmin} (held to the interface by the compiler). */
const ADMIN_OPTION_KEYS = optionKeys<AdminOptions>()([
  'store',
  'purposes',
  'maxLifetimeMs',
  'clockToleranceMs',
  'maxClaimLength',
  'audit',
  'metrics',
  'logger',
  'clock',
  'retention',
]);

/**
 * The lifecycle operations of a warden without its JWT settings: for operator tools (the
 * `tokenwarden` CLI) and back offices that revoke tokens or record consent. The settings that
 * bound revocation lifetimes must match the API's.
 *
 * @example
 * const admin = createAdmin({ store: new RedisStore({ url }), purposes: ['marketing'] });
 * await admin.revokeSubject('user-42', { actor: 'dpo@example.com', reason: 'leaked' });
 */
export function createAdmin(options: AdminOptions): WardenAdmin {
  if (options === null || typeof options !== 'object' || options.store === undefined) {
    throw new ConfigError('createAdmin needs { store }: the store the API nodes read');
  }
  rejectUnknownKeys(options, ADMIN_OPTION_KEYS);
  rejectUnknownKeys(options.audit, AUDIT_OPTION_KEYS, 'audit.');
  rejectUnknownKeys(options.metrics, METRICS_OPTION_KEYS, 'metrics.');
  const logger = options.logger ?? stderrLogger;
  const metrics =
    options.metrics === undefined || options.metrics === false
      ? noopMetrics
      : createPrometheusMetrics(options.metrics);
  const clock = options.clock ?? systemClock;
  const audit = withDefaultSealing(resolveAuditOptions(options.audit), options.store);
  const trail = new AuditTrail(audit, {
    clock,
    metrics,
    logError: rateLimitedLog(logger),
  });
  return new WardenAdmin({
    store: options.store,
    ownsStore: false,
    trail,
    metrics,
    clock,
    purposes: resolvePurposes(options.purposes),
    ...resolveClaimLimits(options),
    retention: resolveRetention(options.retention),
  });
}

/** Audit detail without the absent fields. */
function detail(
  value: Readonly<Record<string, string | number | boolean | undefined>>,
): Readonly<Record<string, string | number | boolean>> | undefined {
  const out = clean(value) as Readonly<Record<string, string | number | boolean>>;
  return Object.keys(out).length > 0 ? out : undefined;
}
