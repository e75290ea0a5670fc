import type { Policy } from '../policy/types';
import type { ReportHeader, ReportOptions } from './types';

/** Options of `processingReport`. */
export interface ProcessingOptions extends ReportOptions {
  /** The policy: purposes, lawful bases, data categories, clients, routes, limits. */
  readonly policy: Policy;
  /**
   * Most distinct data subjects counted exactly per processing activity; past it the count is a
   * lower bound (`dataSubjectsExact: false`). Default: 1000000.
   */
  readonly maxDataSubjects?: number;
}

/** What the trail shows of one processing activity over the period. */
export interface ObservedProcessing {
  /** Access decisions of the activity (allowed and denied). */
  readonly accesses: number;
  readonly allowed: number;
  readonly denied: number;
  readonly firstUse?: string;
  readonly lastUse?: string;
  /** Distinct data subjects whose data allowed accesses reached. */
  readonly dataSubjects: number;
  /** False when there were more than `maxDataSubjects`: `dataSubjects` is then a lower bound. */
  readonly dataSubjectsExact: boolean;
  /** Allowed accesses whose event names no data subject (people cannot be counted for them). */
  readonly allowedWithoutDataSubject: number;
  /** Data categories the allowed accesses reached (from the policy routes they hit). */
  readonly dataCategories: readonly string[];
  /** Per client (recipient), most accesses first. */
  readonly clients: readonly {
    readonly client: string;
    readonly allowed: number;
    readonly denied: number;
  }[];
  /** Why accesses were refused, most frequent first. */
  readonly denials: readonly { readonly reason: string; readonly count: number }[];
  /** Consent given, withdrawn and lapsed for the purpose in the period. */
  readonly consent: {
    readonly granted: number;
    readonly withdrawn: number;
    readonly expired: number;
  };
}

/** One processing activity: a purpose of the policy, or a lawful basis its routes name alone. */
export interface ProcessingActivity {
  /** The purpose, or `<basis> (no purpose named)` for routes that name only a lawful basis. */
  readonly name: string;
  /** The policy's purpose, when the activity is one. */
  readonly purpose?: string;
  readonly description?: string;
  /** The lawful basis (Art. 6(1)): consent, contract, legal_obligation, … */
  readonly lawfulBasis: string;
  /** Whether the policy declares the activity (false: seen in the trail only). */
  readonly inPolicy: boolean;
  /** Categories of data subjects, from the purpose's `dataSubjects`. */
  readonly dataSubjectCategories: readonly string[];
  /** Categories of personal data its routes reach (scopes → data categories). */
  readonly dataCategories: readonly string[];
  /** The policy routes of the activity. */
  readonly routes: readonly string[];
  /** Clients whose granted scopes open at least one of its routes. */
  readonly recipients: readonly string[];
  /** Time limit for erasure, from the purpose's `retention`, in seconds. */
  readonly retentionSeconds?: number;
  readonly observed: ObservedProcessing;
}

/** A client of the policy (or seen in the trail) as a recipient of personal data. */
export interface ProcessingRecipient {
  readonly client: string;
  readonly inPolicy: boolean;
  readonly description?: string;
  /** The category of recipient, from the client's `recipient.category`. */
  readonly category?: string;
  /** Where it processes the data (ISO 3166-1 alpha-2), from `recipient.country`. */
  readonly country?: string;
  /** True for a country outside the EEA: a transfer (Art. 44–49); undefined when not stated. */
  readonly thirdCountry?: boolean;
  readonly scopes: readonly string[];
  readonly dataCategories: readonly string[];
  /** Activities whose routes its scopes open. */
  readonly activities: readonly string[];
  readonly observed: {
    readonly allowed: number;
    readonly denied: number;
    readonly firstUse?: string;
    readonly lastUse?: string;
    readonly tokensIssued: number;
    /** Activities its allowed accesses served. */
    readonly activities: readonly string[];
  };
}

/** The technical measures Tokenwarden enforces (Art. 30(1)(g), Art. 32), configured and observed. */
export interface SecurityMeasures {
  readonly tokens: {
    /** The policy's cap on token lifetimes, in seconds. */
    readonly maxLifetimeSeconds: number;
    readonly clientCaps: readonly {
      readonly client: string;
      readonly maxLifetimeSeconds: number;
    }[];
    /** Access tokens issued in the period (`token.issued`, refresh tokens aside). */
    readonly issued: number;
    readonly longestIssuedSeconds?: number;
    /** Tokens issued with a lifetime above their client's cap. */
    readonly issuedOverCap: number;
  };
  readonly apiKeys: {
    readonly maxAgeSeconds: number;
    readonly clients: readonly {
      readonly client: string;
      readonly maxAgeSeconds: number;
      readonly rotationPeriodSeconds?: number;
    }[];
    readonly created: number;
    readonly rotated: number;
    readonly revoked: number;
  };
  readonly refreshTokens: {
    /** Refresh tokens rotate on every use; a reused one revokes its family. */
    readonly idleLifetimeSeconds: number;
    readonly familyLifetimeSeconds: number;
    readonly clients: readonly string[];
    readonly refreshed: number;
    readonly reuseDetected: number;
  };
  readonly signing: {
    readonly algorithm: string;
    readonly rotationPeriodSeconds?: number;
    /** Signing keys shared through Redis are encrypted (AES-256-GCM) with a master key. */
    readonly encryptedAtRest: boolean;
    readonly keysRotated: number;
  };
  readonly revocation: {
    readonly tokens: number;
    readonly apiKeys: number;
    readonly subjects: number;
    readonly clients: number;
    readonly all: number;
    /** Requests refused because their token was revoked. */
    readonly refusedRevoked: number;
  };
  readonly consent: {
    /** Requests refused for missing, withdrawn or lapsed consent. */
    readonly refused: number;
    readonly granted: number;
    readonly withdrawn: number;
  };
  readonly accessControl: {
    readonly decisions: number;
    readonly allowed: number;
    readonly denied: number;
    readonly denials: readonly { readonly reason: string; readonly count: number }[];
  };
  readonly audit: {
    readonly chainVerified: boolean;
    readonly keyed: boolean;
    readonly producers: number;
    /** Client addresses as kept: truncated networks, keyed hashes, none. */
    readonly addresses: { readonly truncated: number; readonly hashed: number };
    /** Events naming a token by keyed fingerprint (the token itself is never kept). */
    readonly fingerprints: number;
    /** The store's state restored from the trail or its loss accepted (`state.*`). */
    readonly stateRecoveries: number;
  };
}

/** Something the record needs that the policy does not state: the controller fills it in. */
export interface ProcessingGap {
  /** Where in the record: `controller`, `purposes.marketing.retention`, … */
  readonly field: string;
  /** What belongs there, and where to state it. */
  readonly hint: string;
}

/** The records of processing activities (GDPR Art. 30(1)) from the policy and the trail. */
export interface ProcessingReport extends ReportHeader {
  readonly kind: 'processing';
  /** From the policy's `controller`; absent fields are in `toComplete`. */
  readonly controller: {
    readonly name?: string;
    readonly contact?: string;
    readonly dpo?: string;
  };
  readonly activities: readonly ProcessingActivity[];
  readonly recipients: readonly ProcessingRecipient[];
  readonly security: SecurityMeasures;
  /**
   * Allowed accesses to personal data with neither purpose nor lawful basis (in the event or
   * its policy route): processing the record cannot place.
   */
  readonly unattributed: {
    readonly allowed: number;
    readonly routes: readonly { readonly route: string; readonly allowed: number }[];
  };
  /** Policy routes that reach personal data without a purpose or lawful basis. */
  readonly routesWithoutBasis: readonly string[];
  readonly toComplete: readonly ProcessingGap[];
}
