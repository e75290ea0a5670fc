import { Pseudonymizer } from './audit/privacy';
import {
  WardenAdmin,
  type GrantConsentInput,
  type RevokeBeforeOptions,
  type RevokeTokenOptions,
  type WithdrawConsentInput,
} from './admin';
import { AuditTrail, type AuditEventInput } from './audit/trail';
import { evaluateConsent } from './consent';
import {
  deny,
  type AllowDecision,
  type Decision,
  type DenyDecision,
  type Principal,
} from './decision';
import { ConfigError, type ErrorCode } from './errors';
import { holdUntilDurable, type HeldResponse } from './http/node';
import { isSafeId } from './internal/text';
import { createPrometheusMetrics, noopMetrics } from './metrics/prometheus';
import type { WardenMetrics } from './metrics/types';
import { resolveOptions, type ResolvedOptions, type WardenOptions } from './policy/options';
import {
  LAWFUL_BASES,
  type LawfulBasis,
  type Requirement,
  type SubjectResolver,
} from './policy/requirement';
import type { RequestView } from './request';
import { isRevoked } from './revocation';
import { CachingStore } from './store/caching-store';
import {
  isSharedStore,
  type ConsentRecord,
  type StoreQuery,
  type StoreSnapshot,
  type WardenStore,
} from './store/types';
import { extractToken } from './verify/extract';
import { verifyJwt, type VerifiedToken, type VerifyResult } from './verify/jwt';
import type { CredentialScheme } from './verify/extract';
import type { DpopMode } from './verify/dpop';
import {
  API_KEY_ISSUER,
  looksLikeApiKey,
  verifyApiKey,
  type ApiKeyVerifyPolicy,
} from './verify/api-key';
import { VerifiedTokenCache, type CachedToken } from './verify/token-cache';
import { ApiKeyUsage } from './issue/api-keys';

/** A requirement after validation against the warden's policy. */
interface CompiledRequirement {
  readonly public: boolean;
  readonly scopes: readonly string[];
  readonly consent?: { readonly purpose: string; readonly subject?: SubjectResolver };
  readonly lawfulBasis?: {
    readonly basis: LawfulBasis;
    readonly purpose?: string;
    /** Whose personal data the route touches, recorded in the audit trail. */
    readonly subject?: SubjectResolver;
  };
  /** The route's DPoP mode, when it sets one. */
  readonly dpop?: DpopMode;
}

const NO_REQUIREMENT: CompiledRequirement = Object.freeze({ public: false, scopes: [] });
/** No consent record. */
const NO_STATE: Pick<StoreSnapshot, 'consent'> = Object.freeze({});
// RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What a route-level adapter step receives from {@link Warden.begin}. */
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

const DURABLE: Promise<void> = Promise.resolve();

/**
 * The enforcement pipeline: extract → verify → revocation → scope → consent → record.
 * Framework adapters turn their request into a {@link RequestView} and call {@link Warden.check}
 * (or {@link Warden.begin} plus route-level {@link Access.authorize}).
 */
export class Warden {
  /** The metrics this warden records; `render()` gives the Prometheus text. */
  readonly metrics: WardenMetrics;
  /** The store holding revocation marks and consent records. */
  readonly store: WardenStore;
  private readonly options: ResolvedOptions;
  private readonly pseudonyms: Pseudonymizer;
  private readonly compiled = new WeakMap<Requirement, CompiledRequirement>();
  private readonly denials = new Map<ErrorCode, DenyDecision>();
  private readonly trail: AuditTrail;
  private readonly admin: WardenAdmin;
  private readonly tokenCache: VerifiedTokenCache<TokenDerived>;
  private readonly apiKeys: ApiKeyVerifyPolicy | undefined;
  private readonly apiKeyUsage: ApiKeyUsage | undefined;
  /** The store as configured, when {@link Warden.store} is a local cache in front of it. */
  private readonly cachedStore: CachingStore | undefined;
  private lastLogAt = new Map<string, number>();

  constructor(options: WardenOptions) {
    this.options = resolveOptions(options, {
      onKeyFetch: (event) => this.metrics.keySourceFetch(event.source, event.outcome),
    });
    this.metrics =
      this.options.metrics === false ? noopMetrics : createPrometheusMetrics(this.options.metrics);
    const { tokens, state } = this.options.cache;
    const { jwt, issuers } = this.options;
    // Dropped whenever a key set changes: the local ring's or any issuer's.
    this.tokenCache = new VerifiedTokenCache(tokens, {
      get version() {
        return (jwt?.ring.version ?? 0) + (issuers?.version ?? 0);
      },
    });
    const apiKeys = this.options.apiKeys;
    this.apiKeyUsage =
      apiKeys === undefined
        ? undefined
        : new ApiKeyUsage({
            store: apiKeys.store,
            flushIntervalMs: apiKeys.usageFlushIntervalMs,
            onError: (error) =>
              this.logError('API key last-used times could not be written', error),
          });
    this.apiKeys =
      apiKeys === undefined
        ? undefined
        : { store: apiKeys.store, environments: apiKeys.environments, usage: this.apiKeyUsage };
    const configured = this.options.store;
    this.cachedStore =
      state !== false && isSharedStore(configured)
        ? new CachingStore(configured, this.options.clock, state, (result) =>
            this.metrics.cacheLookup('state', result),
          )
        : undefined;
    this.store = this.cachedStore ?? configured;
    this.pseudonyms = new Pseudonymizer(
      this.options.audit.fingerprintKey,
      this.options.audit.clientAddress,
      this.options.audit.userAgent,
    );
    this.trail = new AuditTrail(this.options.audit, {
      clock: this.options.clock,
      metrics: this.metrics,
      logError: (message, error) => this.logError(message, error),
    });
    this.admin = new WardenAdmin({
      store: this.store,
      ownsStore: this.options.ownsStore,
      trail: this.trail,
      metrics: this.metrics,
      clock: this.options.clock,
      purposes: this.options.purposes,
      maxLifetimeMs: this.options.claims.maxLifetimeMs,
      clockToleranceMs: this.options.claims.clockToleranceMs,
      maxClaimLength: this.options.claims.maxClaimLength,
    });
    if (this.options.audit.fingerprintKey === undefined && this.trail.enabled) {
      this.options.logger.warn(
        'audit.fingerprintKey is not set: token fingerprints use a random key and match only within this process',
      );
    }
  }

  /**
   * Validates a route requirement against the policy (known purposes, well-formed scopes).
   * Adapters call it when a route is declared, so mistakes fail at start-up. Throws ConfigError.
   */
  requirement(requirement: Requirement): Requirement {
    this.compile(requirement);
    return requirement;
  }

  /**
   * Runs the whole pipeline for one request and records the decision. In audit mode `'sync'` it
   * resolves once the event is durable, and gives `audit_unavailable` when it could not be.
   */
  async check(view: RequestView, requirement?: Requirement): Promise<Decision> {
    const access = await this.beginNow(view, requirement);
    const durable = access.settle();
    if (durable !== DURABLE) {
      try {
        await durable;
      } catch {
        return this.denial('audit_unavailable');
      }
    }
    return access.decision;
  }

  /** `'sync'` when responses wait for their audit event to be durable, else `'async'`. */
  get auditMode(): 'async' | 'sync' {
    return this.options.audit.mode;
  }

  /**
   * Ties an access to the Node response that answers it (adapters call it once per request,
   * before anything is written). Audit mode `'async'`: the allow is recorded when the response
   * closes, with the status sent. Mode `'sync'`: the response is held until the event is durable
   * (see {@link holdUntilDurable}); a denial's response waits for the denial's event.
   */
  track(res: HeldResponse, access: Access): void {
    if (this.options.audit.mode === 'sync') {
      holdUntilDurable(res, (status) => access.settle(status), this.denial('audit_unavailable'));
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
    const started = performance.now();
    const req = requirement ? this.compile(requirement) : NO_REQUIREMENT;
    const access = new PendingAccess(this, view, started);
    access.req = req;
    access.isPublic = req.public || this.isPublicPath(view);
    if (!this.trail.available) {
      // audit.onFailure 'refuse': neither a sink nor the spool can store events, and no request
      // may be served without its audit record.
      access.refuse('audit_unavailable');
      return access;
    }
    const extracted = extractToken(view, this.options.extract);
    if (!extracted.ok) {
      if (access.isPublic && extracted.code === 'token_missing') {
        access.allow({ outcome: 'allow', reason: 'public_route' });
        // Sending no token never gets more than sending one: scopes or consent still need it.
        if (req !== NO_REQUIREMENT) this.applyRequirement(access, req, undefined, {});
        access.stopClock();
        return access;
      }
      access.refuse(extracted.code);
      return access;
    }
    const token = extracted.token;
    access.token = token;
    access.scheme = extracted.scheme;
    const now = this.options.clock.now();
    if (this.apiKeys !== undefined && looksLikeApiKey(token))
      return this.verifyKeyThen(access, now);
    const cached = this.tokenCache.get(token, now);
    if (cached !== undefined) {
      this.metrics.cacheLookup('token', 'hit');
      return this.afterVerify(access, cached, now);
    }
    if (this.options.issuers !== undefined || this.options.jwt === undefined) {
      return this.verifyFromIssuersThen(access, now);
    }
    return this.afterJwt(access, verifyJwt(token, this.options.jwt, now), now);
  }

  /** An API key: never cached, so a key revoked or past its rotation overlap is refused at once. */
  private async verifyKeyThen(access: PendingAccess, now: number): Promise<PendingAccess> {
    const verified = await verifyApiKey(access.token!, this.apiKeys!, now);
    if (!verified.ok) {
      access.refuse(verified.failure.code, verified.failure.detail);
      return access;
    }
    return this.afterVerify(access, { token: verified.token, extra: undefined }, now);
  }

  private async verifyFromIssuersThen(access: PendingAccess, now: number): Promise<PendingAccess> {
    return this.afterJwt(access, await this.verifyFromIssuers(access.token!, now), now);
  }

  /** After a signature check: refuses, or caches the token and goes on. */
  private afterJwt(
    access: PendingAccess,
    verified: VerifyResult,
    now: number,
  ): PendingAccess | Promise<PendingAccess> {
    if (!verified.ok) {
      access.refuse(verified.failure.code, verified.failure.detail);
      return access;
    }
    const cached = this.tokenCache.set(access.token!, verified.token, now);
    this.metrics.cacheLookup('token', 'miss');
    return this.afterVerify(access, cached, now);
  }

  /** Stage 3 onwards for a verified credential: DPoP, revocation and consent state, limits. */
  private afterVerify(
    access: PendingAccess,
    cached: CachedToken<TokenDerived>,
    now: number,
  ): PendingAccess | Promise<PendingAccess> {
    const token = cached.token;
    access.verified = token;
    access.derived = cached.extra ??= { principal: principalOf(token), fingerprint: undefined };
    if (token.issuer !== API_KEY_ISSUER) {
      // API keys live for days and are not tokens in these histograms' sense.
      this.metrics.tokenAge(Math.max(0, (now - token.issuedAt) / 1000));
      this.metrics.tokenLifetime((token.expiresAt - token.issuedAt) / 1000);
    }
    if (this.options.dpop !== undefined) return this.dpopThen(access);
    return this.lookupState(access);
  }

  private async dpopThen(access: PendingAccess): Promise<PendingAccess> {
    const dpop = this.options.dpop!;
    const view = access.view;
    const token = access.verified!;
    const result = await dpop.verifier.check({
      scheme: access.scheme,
      accessToken: access.token!,
      claims: token.claims,
      proofs: view.headerValues('dpop'),
      method: view.method,
      url: dpop.origin + view.url,
      mode: access.req.dpop,
    });
    this.metrics.dpopCheck(result.ok ? result.via : 'fail');
    if (!result.ok) {
      if (result.failure.code === 'store_unavailable') {
        this.logError('DPoP replay cache failed; requests are refused', result.failure.detail);
      }
      access.refuseWith(result.failure.code, result.failure.headers);
      return access;
    }
    access.dpopBound = result.via === 'dpop';
    if (hasAny(result.headers)) access.headers = result.headers;
    return this.lookupState(access);
  }

  /** Revocation marks and the route's consent: from memory when the store can, else one call. */
  private lookupState(access: PendingAccess): PendingAccess | Promise<PendingAccess> {
    const req = access.req;
    const token = access.verified!;
    const consentTarget = req.consent
      ? this.dataSubject(req.consent.subject, access.view, token)
      : undefined;
    access.consentTarget = consentTarget;
    const query: StoreQuery = {
      tokenId: token.tokenId,
      subject: token.subject,
      client: token.client,
      consent:
        req.consent && consentTarget !== undefined
          ? { subject: consentTarget, purpose: req.consent.purpose }
          : undefined,
    };
    const store = this.store;
    if (store.cachedLookup !== undefined) {
      const started = performance.now();
      const snapshot = store.cachedLookup(query);
      if (snapshot !== undefined) {
        this.metrics.storeCall('lookup', (performance.now() - started) / 1000, false);
        return this.afterState(access, snapshot);
      }
    }
    return this.lookupStateThen(access, query);
  }

  private async lookupStateThen(access: PendingAccess, query: StoreQuery): Promise<PendingAccess> {
    const snapshot = await this.timedStore('lookup', () => this.store.lookup(query));
    if (snapshot === undefined) {
      access.refuse('store_unavailable');
      return access;
    }
    return this.afterState(access, snapshot);
  }

  private afterState(
    access: PendingAccess,
    snapshot: StoreSnapshot,
  ): PendingAccess | Promise<PendingAccess> {
    if (isRevoked(snapshot, access.verified!.issuedAt)) {
      access.refuse('token_revoked');
      return access;
    }
    if (this.options.limits !== undefined) return this.limitsThen(access, snapshot);
    return this.admit(access, snapshot);
  }

  private async limitsThen(access: PendingAccess, snapshot: StoreSnapshot): Promise<PendingAccess> {
    const limited = await this.checkLimits(access.verified!);
    if (limited.outcome === 'deny') {
      access.refuseWith(limited.code, { ...access.headers, ...limited.headers });
      return access;
    }
    if (limited.headers !== undefined) access.headers = { ...access.headers, ...limited.headers };
    return this.admit(access, snapshot);
  }

  /** The allow, then the route's own requirement (scope, consent, lawful basis). */
  private admit(access: PendingAccess, snapshot: StoreSnapshot): PendingAccess {
    const req = access.req;
    access.allow({
      outcome: 'allow',
      reason: access.isPublic ? 'public_route' : 'authorized',
      principal: access.derived!.principal,
      headers: access.headers,
    });
    if (req !== NO_REQUIREMENT) this.applyRequirement(access, req, access.consentTarget, snapshot);
    access.stopClock();
    return access;
  }

  /**
   * Stages 4 and 5 (scope, consent, or another lawful basis) on an allowed access. A denial is
   * recorded at once; an allow replaces the access's decision.
   */
  private applyRequirement(
    access: PendingAccess,
    req: CompiledRequirement,
    consentTarget: string | undefined,
    snapshot: Pick<StoreSnapshot, 'consent'>,
  ): Decision {
    const current = access.decision as AllowDecision;
    const principal = current.principal;
    if (req.scopes.length > 0) {
      if (!principal) return access.refuse('token_missing');
      let ok = true;
      for (const scope of req.scopes) if (!principal.scopes.includes(scope)) ok = false;
      this.metrics.scopeCheck(ok ? 'pass' : 'fail');
      if (!ok) return access.refuse('insufficient_scope', 'scope missing', req.scopes);
    }
    if (req.consent) {
      if (!principal) return access.refuse('token_missing');
      const purpose = req.consent.purpose;
      access.facts.purpose = purpose;
      access.facts.lawfulBasis = 'consent';
      if (consentTarget === undefined) return access.refuse('data_subject_unresolved');
      access.facts.dataSubject = consentTarget;
      const verdict = evaluateConsent(
        snapshot.consent,
        principal.issuedAt,
        this.options.clock.now(),
      );
      this.metrics.consentCheck(
        purpose,
        verdict === 'pass' ? 'pass' : 'fail',
        verdict === 'pass' ? 'granted' : verdict,
      );
      if (verdict !== 'pass') return access.refuse(verdict);
      return access.allow({
        outcome: 'allow',
        reason: 'consent',
        principal,
        dataSubject: consentTarget,
        purpose,
        lawfulBasis: 'consent',
        headers: current.headers,
      });
    }
    if (req.lawfulBasis) {
      access.facts.lawfulBasis = req.lawfulBasis.basis;
      access.facts.purpose = req.lawfulBasis.purpose;
      let dataSubject = current.dataSubject;
      if (req.lawfulBasis.subject) {
        // The route says whose data it touches: the audit trail records it, or nothing is served.
        dataSubject = this.dataSubject(req.lawfulBasis.subject, access.view, access.verified);
        if (dataSubject === undefined) return access.refuse('data_subject_unresolved');
        access.facts.dataSubject = dataSubject;
      }
      return access.allow({
        outcome: 'allow',
        reason: current.reason === 'public_route' ? 'public_route' : 'lawful_basis',
        principal,
        dataSubject,
        purpose: req.lawfulBasis.purpose,
        lawfulBasis: req.lawfulBasis.basis,
        headers: current.headers,
      });
    }
    return current;
  }

  /**
   * Route-level step after {@link Warden.begin}: one more store call only for consent, none when
   * the consent record is in memory.
   * @internal Adapters call it through {@link Access.authorize} or {@link Access.authorizeNow}.
   */
  authorizeAccess(access: PendingAccess, requirement: Requirement): Decision | Promise<Decision> {
    if (access.decision.outcome === 'deny') return access.decision;
    const req = this.compile(requirement);
    const started = performance.now();
    if (req.dpop === 'required' && access.verified && !access.dpopBound) {
      access.elapsedMs += performance.now() - started;
      return this.refuseUnbound(access);
    }
    const token = access.verified;
    const target =
      req.consent && token ? this.dataSubject(req.consent.subject, access.view, token) : undefined;
    if (req.consent === undefined || target === undefined) {
      return this.completeAuthorize(access, req, target, NO_STATE, started);
    }
    const store = this.store;
    if (store.cachedConsent !== undefined) {
      const record = store.cachedConsent(target, req.consent.purpose);
      if (record !== undefined) {
        this.metrics.storeCall('consent', (performance.now() - started) / 1000, false);
        const snapshot = record === null ? NO_STATE : { consent: record };
        return this.completeAuthorize(access, req, target, snapshot, started);
      }
    }
    return this.consentThen(access, req, target, started);
  }

  private async consentThen(
    access: PendingAccess,
    req: CompiledRequirement,
    subject: string,
    started: number,
  ): Promise<Decision> {
    const purpose = req.consent!.purpose;
    const record = await this.timedStore('consent', async () => ({
      consent: await this.store.getConsent(subject, purpose),
    }));
    if (record === undefined) {
      access.elapsedMs += performance.now() - started;
      return access.refuse('store_unavailable');
    }
    return this.completeAuthorize(access, req, subject, record, started);
  }

  private completeAuthorize(
    access: PendingAccess,
    req: CompiledRequirement,
    target: string | undefined,
    snapshot: Pick<StoreSnapshot, 'consent'>,
    started: number,
  ): Decision {
    const decision = access.decision;
    if (req.public && decision.outcome === 'allow' && !decision.principal) return decision;
    access.elapsedMs += performance.now() - started;
    return this.applyRequirement(access, req, target, snapshot);
  }

  /**
   * Verifies a token with the issuer its `iss` names (only that issuer's keys), else with the
   * local `jwt` settings. Never throws.
   */
  private async verifyFromIssuers(token: string, now: number): Promise<VerifyResult> {
    const { issuers, jwt } = this.options;
    const prepared =
      jwt === undefined ? await issuers!.prepare(token) : await issuers!.prepareIfOwn(token);
    if (prepared === undefined) return verifyJwt(token, jwt!, now);
    if (!prepared.ok) {
      const { code, detail } = prepared.failure;
      if (code === 'key_source_unavailable') {
        this.logError('the keys of a trusted issuer could not be read', detail);
      }
      return { ok: false, failure: { code, detail } };
    }
    return verifyJwt(token, prepared.policy, now);
  }

  /** Counts one use against the usage limits; a denial carries the 429 or 503 headers. */
  private async checkLimits(
    token: VerifiedToken,
  ): Promise<
    | { outcome: 'allow'; headers?: Readonly<Record<string, string>> }
    | { outcome: 'deny'; code: ErrorCode; headers?: Readonly<Record<string, string>> }
  > {
    const limits = this.options.limits!.limits;
    const apiKey = token.issuer === API_KEY_ISSUER;
    const outcome = await limits.check({
      tokenId: apiKey ? undefined : token.tokenId,
      apiKeyId: apiKey ? token.tokenId : undefined,
      client: token.client,
      subject: token.subject,
    });
    if (outcome.outcome === 'allow') {
      for (const state of outcome.states) this.metrics.usageLimit(state.rule, 'allow');
      return hasAny(outcome.headers)
        ? { outcome: 'allow', headers: outcome.headers }
        : { outcome: 'allow' };
    }
    if (outcome.outcome === 'limited') {
      this.metrics.usageLimit(outcome.rule, 'limited');
      return { outcome: 'deny', code: 'usage_limit_exceeded', headers: outcome.headers };
    }
    this.metrics.usageLimit('any', 'unavailable');
    this.logError(
      outcome.allow
        ? 'usage limits could not be checked; requests pass uncounted (limits.failMode open)'
        : 'usage limits could not be checked; requests are refused with store_unavailable',
      outcome.error,
    );
    return outcome.allow ? { outcome: 'allow' } : { outcome: 'deny', code: 'store_unavailable' };
  }

  /** Refuses a Bearer-presented token on a route that requires DPoP. */
  private async refuseUnbound(access: PendingAccess): Promise<Decision> {
    const dpop = this.options.dpop!;
    const token = access.verified!;
    const result = await dpop.verifier.check({
      scheme: 'bearer',
      accessToken: access.token ?? '',
      claims: token.claims,
      proofs: undefined,
      method: access.view.method,
      url: dpop.origin + access.view.url,
      mode: 'required',
    });
    if (result.ok) return access.decision;
    this.metrics.dpopCheck('fail');
    return access.refuseWith(result.failure.code, result.failure.headers);
  }

  /** Refuses one token id until it expires. Audited; rejects if the store cannot record it. */
  revokeToken(tokenId: string, options?: RevokeTokenOptions): Promise<void> {
    return this.admin.revokeToken(tokenId, options);
  }

  /** Refuses every token of a subject issued at or before `before` (default now). */
  revokeSubject(subject: string, options?: RevokeBeforeOptions): Promise<void> {
    return this.admin.revokeSubject(subject, options);
  }

  /** Refuses every token of a client issued at or before `before` (default now). */
  revokeClient(client: string, options?: RevokeBeforeOptions): Promise<void> {
    return this.admin.revokeClient(client, options);
  }

  /** Refuses every token issued at or before `before` (default now), for everyone. */
  revokeAll(options?: RevokeBeforeOptions): Promise<void> {
    return this.admin.revokeAll(options);
  }

  /** Records a data subject's consent to a purpose. Audited. */
  grantConsent(input: GrantConsentInput): Promise<ConsentRecord> {
    return this.admin.grantConsent(input);
  }

  /** Records a withdrawal: from now on no token, old or new, passes this purpose's check. */
  withdrawConsent(input: WithdrawConsentInput): Promise<ConsentRecord> {
    return this.admin.withdrawConsent(input);
  }

  /**
   * Records a lifecycle event (token issued, API key created, signing key rotated…) in this
   * warden's audit trail. Never throws; the trail stamps version, id and time.
   */
  recordEvent(event: AuditEventInput): void {
    this.trail.record(event);
  }

  /** Reads a consent record. */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.store.getConsent(subject, purpose);
  }

  /** Waits until every audit event recorded so far has been handed to the sinks. */
  flushAudit(): Promise<void> {
    return this.trail.flush();
  }

  /** Flushes the audit trail, closes sinks and the store if the warden created it. Idempotent. */
  async close(): Promise<void> {
    await this.apiKeyUsage?.close();
    if (this.options.limits?.owned) await this.options.limits.limits.close();
    await this.options.dpop?.verifier.close();
    await this.admin.close();
    await this.cachedStore?.close();
  }

  /**
   * Records a finished access decision: metrics and one audit event.
   * @internal Called by the access itself (on a denial, or `settle()`).
   */
  record(access: PendingAccess, status: number | undefined): Promise<void> {
    const decision = access.decision;
    const reason = decision.outcome === 'deny' ? decision.code : decision.reason;
    this.metrics.decision(decision.outcome, reason, access.elapsedMs / 1000);
    if (!this.trail.enabled) return DURABLE;
    const token = access.verified;
    const view = access.view;
    const requestId = view.headerValues('x-request-id')?.[0];
    const durable = this.trail.record({
      type: 'access.decision',
      outcome: decision.outcome,
      reason,
      tokenId: token?.tokenId,
      tokenFingerprint:
        access.token === undefined
          ? undefined
          : access.derived
            ? (access.derived.fingerprint ??= this.pseudonyms.fingerprint(access.token))
            : this.pseudonyms.fingerprint(access.token),
      subject: token?.subject,
      client: token?.client,
      scopes: token?.scopes,
      route: (view.route ?? view.path).slice(0, 512),
      method: view.method,
      status: status ?? (decision.outcome === 'deny' ? decision.status : undefined),
      dataSubject: access.facts.dataSubject,
      purpose: access.facts.purpose,
      lawfulBasis: access.facts.lawfulBasis,
      requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : undefined,
      clientAddress: this.pseudonyms.address(view.ip),
      userAgent: this.pseudonyms.userAgent(view.headerValues('user-agent')?.[0]),
    });
    if (durable === undefined) return DURABLE;
    // Marked handled here; whoever awaits it still sees the rejection.
    durable.catch(() => undefined);
    return durable;
  }

  /** The cached denial of a code. @internal */
  denial(code: ErrorCode, scopes?: readonly string[]): DenyDecision {
    if (scopes) return this.withDpopChallenge(deny(code, this.options.realm, scopes));
    let cached = this.denials.get(code);
    if (!cached) {
      cached = this.withDpopChallenge(deny(code, this.options.realm));
      this.denials.set(code, cached);
    }
    return cached;
  }

  /** A denial whose headers depend on the request (DPoP, usage limits). @internal */
  denialWith(code: ErrorCode, headers: Readonly<Record<string, string>>): DenyDecision {
    return deny(code, this.options.realm, undefined, headers);
  }

  /** With DPoP on, a 401 offers both schemes (RFC 9449 §7.1). */
  private withDpopChallenge(decision: DenyDecision): DenyDecision {
    const dpop = this.options.dpop;
    const bearer = decision.headers['www-authenticate'];
    if (dpop === undefined || decision.status !== 401 || bearer === undefined) return decision;
    const challenge =
      dpop.verifier.mode === 'required'
        ? dpop.verifier.challenge()
        : `${bearer}, ${dpop.verifier.challenge()}`;
    return { ...decision, headers: { ...decision.headers, 'www-authenticate': challenge } };
  }

  /** Logs at most once a minute per message, so a failing backend cannot flood the logs. @internal */
  logError(message: string, error: unknown): void {
    const now = Date.now();
    if ((this.lastLogAt.get(message) ?? 0) > now - 60_000) return;
    this.lastLogAt.set(message, now);
    this.options.logger.error(message, {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  }

  private compile(requirement: Requirement): CompiledRequirement {
    const cached = this.compiled.get(requirement);
    if (cached) return cached;
    if (requirement === null || typeof requirement !== 'object') {
      throw new ConfigError('a route requirement must be an object');
    }
    const scopes = [...(requirement.scopes ?? [])];
    for (const s of scopes) {
      if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) {
        throw new ConfigError(
          `scope '${String(s)}' is not a valid scope name (RFC 6749: printable ASCII, no spaces or quotes)`,
        );
      }
    }
    if (requirement.consent && requirement.lawfulBasis) {
      throw new ConfigError(
        'a route declares both consent and another lawful basis; choose one (GDPR Art. 6 needs exactly one basis per purpose)',
      );
    }
    let consent: CompiledRequirement['consent'];
    if (requirement.consent) {
      const { purpose, subject } = requirement.consent;
      this.admin.assertPurpose(purpose, 'requireConsent');
      const resolver = subjectResolver(subject, 'requireConsent');
      consent = resolver ? { purpose, subject: resolver } : { purpose };
    }
    let lawfulBasis: CompiledRequirement['lawfulBasis'];
    if (requirement.lawfulBasis) {
      const { basis, purpose, subject } = requirement.lawfulBasis;
      if (!LAWFUL_BASES.includes(basis)) {
        throw new ConfigError(
          `lawful basis '${String(basis)}' is unknown; use ${LAWFUL_BASES.join(', ')} (or requireConsent for consent)`,
        );
      }
      if (purpose !== undefined) this.admin.assertPurpose(purpose, 'lawfulBasis');
      const resolver = subjectResolver(subject, 'lawfulBasis');
      lawfulBasis = {
        basis,
        ...(purpose !== undefined ? { purpose } : {}),
        ...(resolver ? { subject: resolver } : {}),
      };
    }
    if (requirement.dpop !== undefined) {
      if (requirement.dpop !== 'required') {
        throw new ConfigError("a route's dpop must be 'required' (or absent)");
      }
      if (this.options.dpop === undefined) {
        throw new ConfigError(
          "a route requires DPoP but the warden has no 'dpop' option: add dpop: { publicOrigin }",
        );
      }
    }
    const compiled: CompiledRequirement = Object.freeze({
      public: requirement.public === true,
      scopes,
      ...(consent ? { consent } : {}),
      ...(lawfulBasis ? { lawfulBasis } : {}),
      ...(requirement.dpop ? { dpop: requirement.dpop } : {}),
    });
    this.compiled.set(requirement, compiled);
    return compiled;
  }

  private isPublicPath(view: RequestView): boolean {
    const paths = this.options.publicPaths;
    // The path is read only when there is something to compare it with.
    if (paths.length === 0) return false;
    const path = view.path;
    for (const p of paths) {
      if (typeof p === 'string' ? p === path : p.test(path)) return true;
    }
    return false;
  }

  /** The data subject a route names (default: the token's subject), if it is a safe id. */
  private dataSubject(
    resolver: SubjectResolver | undefined,
    view: RequestView,
    token: VerifiedToken | undefined,
  ): string | undefined {
    let subject: string | undefined;
    try {
      subject = resolver ? resolver(view) : token?.subject;
    } catch {
      return undefined;
    }
    return isSafeId(subject, this.options.claims.maxClaimLength) ? subject : undefined;
  }

  /** Calls the store, timing it; resolves `undefined` when it fails (the caller fails closed). */
  private async timedStore<T>(operation: string, call: () => Promise<T>): Promise<T | undefined> {
    const started = performance.now();
    try {
      const value = await call();
      this.metrics.storeCall(operation, (performance.now() - started) / 1000, false);
      return value;
    } catch (error) {
      this.metrics.storeCall(operation, (performance.now() - started) / 1000, true);
      this.logError(
        `store ${operation} failed; requests are refused with store_unavailable`,
        error,
      );
      return undefined;
    }
  }
}

/** Per-request state between {@link Warden.begin} and {@link Access.settle}. Internal. */
export class PendingAccess implements Access {
  decision: Decision;
  token: string | undefined;
  verified: VerifiedToken | undefined;
  /** How the credential was presented. */
  scheme: CredentialScheme = 'bearer';
  /** True when a DPoP proof bound the token to the caller's key. */
  dpopBound = false;
  /** What is derived once per verified token and cached with it. */
  derived: TokenDerived | undefined;
  /** The requirement given to {@link Warden.begin}, compiled. */
  req: CompiledRequirement = NO_REQUIREMENT;
  /** A public route (its requirement, or `publicPaths`). */
  isPublic = false;
  /** The data subject the begin requirement's consent is about, when resolved. */
  consentTarget: string | undefined;
  /** Headers for the allowed response (DPoP nonce, usage limits). */
  headers: Readonly<Record<string, string>> | undefined;
  elapsedMs = 0;
  readonly facts: {
    dataSubject?: string;
    purpose?: string;
    lawfulBasis?: LawfulBasis | 'consent';
  } = {};
  private durable: Promise<void> | undefined;

  constructor(
    private readonly warden: Warden,
    readonly view: RequestView,
    private readonly started: number,
  ) {
    this.decision = warden.denial('token_missing');
  }

  allow(decision: AllowDecision): AllowDecision {
    this.decision = decision;
    return decision;
  }

  /** Stops the clock of the pipeline's own work (route steps add theirs to it). */
  stopClock(): void {
    this.elapsedMs = performance.now() - this.started;
  }

  /** Denies and records at once. */
  refuse(code: ErrorCode, _detail?: string, scopes?: readonly string[]): DenyDecision {
    const decision = this.warden.denial(code, scopes);
    this.decision = decision;
    if (this.elapsedMs === 0) this.stopClock();
    this.durable = this.warden.record(this, undefined);
    return decision;
  }

  /** Denies with request-specific headers (DPoP challenge, usage limits) and records at once. */
  refuseWith(code: ErrorCode, headers: Readonly<Record<string, string>>): DenyDecision {
    const decision = this.warden.denialWith(code, headers);
    this.decision = decision;
    if (this.elapsedMs === 0) this.stopClock();
    this.durable = this.warden.record(this, undefined);
    return decision;
  }

  async authorize(requirement: Requirement): Promise<Decision> {
    return this.warden.authorizeAccess(this, requirement);
  }

  authorizeNow(requirement: Requirement): Decision | Promise<Decision> {
    return this.warden.authorizeAccess(this, requirement);
  }

  settle(status?: number): Promise<void> {
    return (this.durable ??= this.warden.record(this, status));
  }
}

/** Derived from a verified token once, kept in the token cache with it. */
interface TokenDerived {
  readonly principal: Principal;
  /** The audit fingerprint, computed on first use. */
  fingerprint: string | undefined;
}

/** A route's `subject` option as a resolver; throws ConfigError naming the step when malformed. */
function subjectResolver(
  subject: SubjectResolver | { readonly param: string } | undefined,
  step: string,
): SubjectResolver | undefined {
  if (subject === undefined) return undefined;
  if (typeof subject === 'function') return subject;
  if (subject === null || typeof subject !== 'object' || typeof subject.param !== 'string') {
    throw new ConfigError(`${step}: 'subject' must be a function or { param: 'name' }`);
  }
  const name = subject.param;
  return (view) => view.param?.(name);
}

function hasAny(headers: Readonly<Record<string, string>>): boolean {
  for (const _ in headers) return true;
  return false;
}

function principalOf(token: VerifiedToken): Principal {
  return {
    subject: token.subject,
    ...(token.client !== undefined ? { client: token.client } : {}),
    scopes: token.scopes,
    tokenId: token.tokenId,
    issuer: token.issuer,
    issuedAt: token.issuedAt,
    expiresAt: token.expiresAt,
    claims: token.claims,
  };
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
