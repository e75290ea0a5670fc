import type { AllowDecision, Decision, DenyDecision, Principal } from '../decision';
import type { LawfulBasis, SubjectResolver } from '../policy/requirement';
import type { RequestView } from '../request';
import type { StoreSnapshot } from '../store/types';
import type { LimitOutcome } from '../limits/usage-limits';
import type { CredentialScheme } from '../verify/extract';
import type { DpopMode } from '../verify/dpop';
import type { VerifiedToken } from '../verify/jwt';

/** A requirement after validation against the warden's policy. */
export interface CompiledRequirement {
  readonly public: boolean;
  readonly scopes: readonly string[];
  /** Scopes of which one is enough, when the route names any. */
  readonly anyScopes?: readonly string[];
  /** Claim checks, compiled to predicates that never throw. */
  readonly claims?: readonly ClaimPredicate[];
  readonly consent?: { readonly purpose: string; readonly subject?: SubjectResolver };
  readonly lawfulBasis?: {
    readonly basis: LawfulBasis;
    readonly purpose?: string;
    /** Whose personal data the route touches, recorded in the audit trail. */
    readonly subject?: SubjectResolver;
  };
  /** The route's DPoP mode, when it sets one. */
  readonly dpop?: DpopMode;
  /** Whose data the route touches, for the record: a resolver, or `'token'` (the caller). */
  readonly dataSubject?: SubjectResolver | 'token';
}

/** A compiled claim check: true when the claims pass. Never throws. */
export type ClaimPredicate = (claims: Readonly<Record<string, unknown>>) => boolean;

/** The requirement of a request with none: any valid token. */
export const NO_REQUIREMENT: CompiledRequirement = Object.freeze({ public: false, scopes: [] });

/** Derived from a verified token once, kept in the token cache with it. */
export interface TokenDerived {
  readonly principal: Principal;
  /** The audit fingerprint, computed on first use. */
  fingerprint: string | undefined;
  /** Whether the token is bound to a key (`cnf`), computed on first use. */
  keyBound: boolean | undefined;
}

/** The store operations the pipeline times (the `operation` label of the store metrics). */
export type StoreOperation = 'lookup' | 'consent';

/** What the stages of a request did, read once by the runner for the metrics. */
export interface Observations {
  /** The token cache was asked: a hit, or a miss (then verified). */
  tokenCache: 'hit' | 'miss' | undefined;
  /** The DPoP check's result. */
  dpop: 'dpop' | 'bearer' | 'fail' | undefined;
  /** The store operation a stage ran (the runner times it and records it), and whether it failed. */
  storeOperation: StoreOperation | undefined;
  storeFailed: boolean;
  /** The state stage saw the store's state become lost, or current again, on this request. */
  stateLoss: 'lost' | 'restored' | undefined;
  /** The usage limits' answer. */
  limits: LimitOutcome | undefined;
  /** The scope check's result. */
  scope: 'pass' | 'fail' | undefined;
  /** The consent check's purpose and verdict. */
  consentPurpose: string | undefined;
  consent: 'pass' | 'consent_missing' | 'consent_withdrawn' | 'consent_expired' | undefined;
}

/**
 * Everything one request's stages read and write: the request, the requirement, the credential
 * and what was learnt about it, and the decision. Stages only touch this object and their own
 * collaborators. The runner turns it into the final decision, metrics and one audit event.
 */
export class RequestContext implements Observations {
  /** The decision so far: a denial by default, until the last stage allows. */
  decision: Decision;
  /** The requirement being checked (the middleware's, then each route step's). */
  req: CompiledRequirement = NO_REQUIREMENT;
  /** `'begin'` for the middleware's run, `'route'` for a route step's. */
  phase: 'begin' | 'route' = 'begin';
  /** A public route (its requirement, or `publicPaths`). */
  isPublic = false;
  /** The raw credential, when one was found. */
  token: string | undefined = undefined;
  /** How the credential was presented. */
  scheme: CredentialScheme = 'bearer';
  /** The verified token. */
  verified: VerifiedToken | undefined = undefined;
  /** What is derived once per verified token and cached with it. */
  derived: TokenDerived | undefined = undefined;
  /** True when a DPoP proof bound the token to the caller's key. */
  dpopBound = false;
  /** The data subject the requirement's consent is about, when resolved. */
  consentTarget: string | undefined = undefined;
  /** Revocation marks and the consent record, from the state stage. */
  snapshot: Pick<StoreSnapshot, 'consent'> | undefined = undefined;
  /** Headers for the allowed response (DPoP nonce, usage limits). */
  headers: Readonly<Record<string, string>> | undefined = undefined;
  /** When the credential was checked (epoch ms, from the warden's clock). */
  now = 0;
  /** Time spent deciding, in ms (route steps add theirs). */
  elapsedMs = 0;
  /** When the current phase started (`performance.now()`). */
  started: number;
  /** Facts for the audit event. */
  dataSubject: string | undefined = undefined;
  purpose: string | undefined = undefined;
  lawfulBasis: LawfulBasis | 'consent' | undefined = undefined;

  tokenCache: Observations['tokenCache'] = undefined;
  dpop: Observations['dpop'] = undefined;
  storeOperation: Observations['storeOperation'] = undefined;
  storeFailed = false;
  stateLoss: Observations['stateLoss'] = undefined;
  limits: LimitOutcome | undefined = undefined;
  scope: Observations['scope'] = undefined;
  consentPurpose: string | undefined = undefined;
  consent: Observations['consent'] = undefined;

  /** The durability promise of the recorded decision, once recorded. */
  durable: Promise<void> | undefined = undefined;

  constructor(
    readonly view: RequestView,
    initial: DenyDecision,
    started: number,
  ) {
    this.decision = initial;
    this.started = started;
  }

  /** The allow so far (stages after authentication only run on one). */
  get allowed(): AllowDecision {
    return this.decision as AllowDecision;
  }

  /** Clears the observations of the previous phase. */
  resetObservations(): void {
    this.tokenCache = undefined;
    this.dpop = undefined;
    this.storeOperation = undefined;
    this.storeFailed = false;
    this.stateLoss = undefined;
    this.limits = undefined;
    this.scope = undefined;
    this.consentPurpose = undefined;
    this.consent = undefined;
  }
}

/** No consent record. */
export const NO_STATE: Pick<StoreSnapshot, 'consent'> = Object.freeze({});
