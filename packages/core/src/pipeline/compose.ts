import { WardenAdmin } from '../admin';
import { withDefaultSealing } from '../audit/default-sealing';
import { clearSubjectsWarning } from '../audit/options';
import { Pseudonymizer } from '../audit/privacy';
import { AuditTrail } from '../audit/trail';
import { ApiKeyUsage } from '../issue/api-key-usage';
import { UsageLimits } from '../limits/usage-limits';
import { createPrometheusMetrics, noopMetrics } from '../metrics/prometheus';
import type { WardenMetrics } from '../metrics/types';
import { rateLimitedLog, type ResolvedOptions } from '../options/resolve';
import { CachingStore } from '../store/caching-store';
import { MemoryStore } from '../store/memory-store';
import { isSharedStore, type WardenStore } from '../store/types';
import { AuditUnavailableError } from '../audit/trail';
import { StoreUnavailableError, TokenwardenError } from '../errors';
import type { ApiKeyVerifyPolicy } from '../verify/api-key';
import { DpopVerifier } from '../verify/dpop';
import type { KeySourceFetchEvent } from '../verify/key-source';
import { TrustedIssuers } from '../verify/oidc';
import { VerifiedTokenCache } from '../verify/token-cache';
import { CredentialExposure } from '../leaks/exposure';
import { LeakResponder } from '../leaks/responder';
import type { TokenDerived } from './context';
import { Denials } from './denials';
import { Pipeline } from './pipeline';
import { PolicyRouting } from './policy-routing';
import { DecisionRecorder } from './record';
import { Requirements } from './requirements';
import type { Stage } from './stage';
import { AuthenticateStage } from './stages/authenticate';
import { AuthorizeStage } from './stages/authorize';
import { BearerOnlyStage } from './stages/bearer-only';
import { DpopStage } from './stages/dpop';
import { AuditGateStage, ExtractStage } from './stages/extract';
import { LimitsStage } from './stages/limits';
import { StateStage } from './stages/state';

/** What a warden is made of; built once from resolved options. */
export interface Composition {
  readonly metrics: WardenMetrics;
  /** The store the pipeline reads: the configured one, or a local cache in front of it. */
  readonly store: WardenStore;
  readonly trail: AuditTrail;
  readonly admin: WardenAdmin;
  readonly pipeline: Pipeline;
  /** Validates and compiles route requirements. */
  readonly requirements: Requirements;
  /** The denials of this warden (realm, DPoP challenge). */
  readonly denials: Denials;
  /** Identifies and revokes leaked credentials (secret-scanning reports, exposures). */
  readonly leaks: LeakResponder;
  /**
   * Closes what the warden opened, in order; the store only if the warden created it, or with
   * `{ store: true }`. Idempotent.
   */
  close(options?: CloseOptions): Promise<void>;
  /** See `Warden.ready`. */
  ready(): Promise<void>;
}

/** Options of `Warden.close`. */
export interface CloseOptions {
  /** Close the store too, also one passed in as `store` (it is shared by nothing else). */
  readonly store?: boolean;
}

/**
 * The composition root: builds every collaborator of a warden from resolved options (plain
 * data), once, and the list of stages the options call for. Nothing else constructs them.
 */
export function compose(options: ResolvedOptions): Composition {
  const { clock, logger, claims } = options;
  const metrics =
    options.metrics === false ? noopMetrics : createPrometheusMetrics(options.metrics);
  const logError = rateLimitedLog(logger);
  // Collaborators that validate their own settings come first, before any sink is opened.
  const dpop =
    options.dpop === undefined
      ? undefined
      : new DpopVerifier({ ...options.dpop.options, realm: options.realm, clock });
  const limits =
    options.limits === undefined || options.limits instanceof UsageLimits
      ? options.limits
      : new UsageLimits(options.limits);
  const ownsLimits = limits !== undefined && limits !== options.limits;
  const issuers = trustedIssuers(options, metrics);
  const jwt = options.jwt;
  // Dropped whenever a key set changes: the local ring's or any issuer's.
  const tokenCache = new VerifiedTokenCache<TokenDerived>(options.cache.tokens, {
    get version() {
      return (jwt?.ring.version ?? 0) + (issuers?.version ?? 0);
    },
  });
  const apiKeyUsage =
    options.apiKeys === undefined
      ? undefined
      : new ApiKeyUsage({
          store: options.apiKeys.store,
          flushIntervalMs: options.apiKeys.usageFlushIntervalMs,
          onError: (error) => logError('API key last-used times could not be written', error),
        });
  const apiKeys: ApiKeyVerifyPolicy | undefined =
    options.apiKeys === undefined
      ? undefined
      : {
          store: options.apiKeys.store,
          environments: options.apiKeys.environments,
          usage: apiKeyUsage,
        };
  const configured = options.store ?? new MemoryStore({ clock });
  const cachedStore =
    options.cache.state !== false && isSharedStore(configured)
      ? new CachingStore(configured, clock, options.cache.state, (result) =>
          metrics.cacheLookup('state', result),
        )
      : undefined;
  const store = cachedStore ?? configured;
  // Sealed by default when $TOKENWARDEN_MASTER_KEY is set and the store keeps subject keys.
  const audit = withDefaultSealing(options.audit, configured);
  const trail = new AuditTrail(audit, { clock, metrics, logError });
  const admin = new WardenAdmin({
    store,
    ownsStore: options.ownsStore,
    trail,
    metrics,
    clock,
    purposes: options.purposes,
    ...claims,
    retention: options.retention,
  });
  const denials = new Denials(options.realm, dpop);
  let closed = false;
  const pseudonyms = new Pseudonymizer(
    options.audit.fingerprintKey,
    options.audit.clientAddress,
    options.audit.userAgent,
  );
  const leaks = new LeakResponder({
    jwt,
    credentials: options.apiKeys?.store,
    admin,
    pseudonyms,
    metrics,
    clock,
    auditing: trail.enabled,
    logError,
  });

  const stages: Stage[] = [];
  if (trail.enabled && options.audit.onFailure === 'refuse') {
    stages.push(new AuditGateStage(trail, denials));
  }
  stages.push(
    new ExtractStage(
      options.extract,
      options.publicPaths,
      denials,
      new CredentialExposure(leaks, options.onExposure),
    ),
    new AuthenticateStage({ clock, denials, tokenCache, jwt, issuers, apiKeys, logError }),
  );
  const dpopStage = dpop && new DpopStage(dpop, options.dpop!.origin, denials, logError);
  const state = new StateStage(store, denials, claims.maxClaimLength, logError, (message) =>
    logger.warn(message),
  );
  const authorize = new AuthorizeStage(denials, clock, claims.maxClaimLength);
  // Without DPoP, a DPoP-bound token is refused rather than taken as a plain Bearer token.
  stages.push(dpopStage ?? new BearerOnlyStage(denials));
  stages.push(state);
  if (limits) stages.push(new LimitsStage(limits, denials, logError));
  stages.push(authorize);
  const routeStages = dpopStage ? [dpopStage, state, authorize] : [state, authorize];

  const requirements = new Requirements({
    assertPurpose: (purpose, where) => admin.assertPurpose(purpose, where),
    dpop: dpop !== undefined,
  });
  const routing = options.policy && new PolicyRouting(options.policy, requirements);
  const pipeline = new Pipeline({
    routing,
    stages,
    routeStages,
    requirements,
    denials,
    recorder: new DecisionRecorder(trail, metrics, pseudonyms),
    metrics,
    observing: metrics !== noopMetrics,
  });
  if (!trail.enabled) {
    logger.warn(
      'audit: false: access decisions and lifecycle changes leave no audit trail; leave the audit option out for JSON lines on standard output, or name audit.sinks',
    );
  }
  const clearSubjects = clearSubjectsWarning(audit);
  if (clearSubjects !== undefined) logger.warn(clearSubjects);
  if (options.audit.fingerprintKey === undefined && trail.enabled) {
    logger.warn(
      'audit.fingerprintKey is not set: token fingerprints use a random key and match only within this process',
    );
  }
  return {
    metrics,
    store,
    trail,
    admin,
    pipeline,
    requirements,
    denials,
    leaks,
    async close(closeOptions) {
      closed = true;
      await apiKeyUsage?.close();
      if (ownsLimits) await limits.close();
      await dpop?.close();
      await admin.close();
      await cachedStore?.close();
      if (closeOptions?.store === true && !options.ownsStore) await configured.close();
    },
    async ready() {
      if (closed) throw new StoreUnavailableError('the warden is closed');
      await pingStore(store);
      if (!trail.available) throw new AuditUnavailableError();
      const down = issuers === undefined ? [] : (await issuers.load()).filter((s) => !s.ok);
      if (down.length > 0) {
        const named = down.map((s) => `${s.issuer} (${s.reason ?? 'error'})`).join(', ');
        throw new TokenwardenError(
          'key_source_unavailable',
          `the keys of trusted issuers could not be loaded: ${named}`,
        );
      }
    },
  };
}

/** `store.ping()`, with any failure as `StoreUnavailableError` (the store's own passes as is). */
async function pingStore(store: WardenStore): Promise<void> {
  try {
    await store.ping?.();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreUnavailableError(`the store did not answer ping (${reason})`, { cause: error });
  }
}

function trustedIssuers(
  options: ResolvedOptions,
  metrics: WardenMetrics,
): TrustedIssuers | undefined {
  const issuers = options.issuers;
  if (issuers === undefined || issuers instanceof TrustedIssuers) return issuers;
  return new TrustedIssuers({
    issuers,
    clock: options.clock,
    onFetch: (_issuer: string, event: KeySourceFetchEvent) =>
      metrics.keySourceFetch(event.source, event.outcome),
  });
}
