import type { ApiKeyRecord } from '../store/credential-types';
import type { Policy } from '../policy/types';
import type { StoreSnapshot, WardenStore } from '../store/types';
import type { ReportHeader, ReportOptions } from './types';

/** Which credential leaked: one token, one API key, everything of a client or of a subject. */
export type ExposureSelector =
  | { readonly tokenId: string }
  | { readonly apiKeyId: string }
  | { readonly client: string }
  | { readonly subject: string };

/** Options of `exposureReport`. */
export interface ExposureOptions extends ReportOptions {
  /** The policy: scopes → routes, data categories, purposes; client limits. */
  readonly policy?: Policy;
  /** When the credential is suspected to have leaked (epoch ms): uses from then on are flagged. */
  readonly leakedAt?: number;
  /** The store, for the revocation state now (`lookup`). */
  readonly store?: Pick<WardenStore, 'lookup'>;
  /** The API key's record (from the credential store), for an `apiKeyId` report. */
  readonly apiKey?: ApiKeyRecord;
  /** Most uses listed one by one (the counts cover them all). Default: 10000. */
  readonly maxUsesListed?: number;
  /** Most addresses, user agents and routes counted one by one. Default: 1000 each. */
  readonly maxDistinct?: number;
}

/** One use of the credential: an access decision. */
export interface ExposureUse {
  readonly time: string;
  readonly outcome: string;
  readonly reason?: string;
  readonly method?: string;
  readonly route?: string;
  readonly status?: number;
  readonly tokenId?: string;
  readonly client?: string;
  readonly subject?: string;
  readonly dataSubject?: string;
  readonly purpose?: string;
  readonly lawfulBasis?: string;
  readonly clientAddress?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  /** At or after the suspected leak time. */
  readonly afterLeak: boolean;
}

/** A revocation that applies (or may apply) to the credential. */
export interface ExposureRevocation {
  readonly time: string;
  readonly type: string;
  readonly outcome: string;
  readonly actor?: string;
  readonly reason?: string;
  /** For not-before marks: tokens issued at or before this time are refused. */
  readonly before?: string;
}

/** A route the credential could call, from the policy. */
export interface ReachableRoute {
  readonly route: string;
  readonly scopes: readonly string[];
  readonly dataCategories: readonly string[];
  readonly purpose?: string;
  readonly lawfulBasis?: string;
}

/** Distinct data subjects touched in one data category. */
export interface CategoryCount {
  readonly category: string;
  readonly dataSubjects: number;
  readonly dataSubjectsAfterLeak: number;
  /** Allowed uses that touched the category. */
  readonly uses: number;
}

/** The answer to "this credential leaked: what could it reach, what did it reach". */
export interface ExposureReport extends ReportHeader {
  readonly kind: 'exposure';
  readonly credential: {
    readonly kind: 'token' | 'api_key' | 'client' | 'subject';
    readonly id: string;
  };
  readonly leakedAt?: string;
  readonly couldReach: {
    /** Scopes the credential carries (or the client may be granted). */
    readonly scopes: readonly string[];
    /** Where the scopes were learnt: `issuance`, `uses`, `api_key`, `policy`. */
    readonly scopesFrom: readonly string[];
    readonly dataCategories: readonly string[];
    readonly routes: readonly ReachableRoute[];
    readonly purposes: readonly { readonly purpose: string; readonly lawfulBasis: string }[];
    /** When the token or key was issued and until when it is valid, when known. */
    readonly issuedAt?: string;
    readonly expiresAt?: string;
    readonly lifetimeSeconds?: number;
    /** The policy's cap for the client: longest token lifetime and API-key age, in seconds. */
    readonly maxTokenLifetimeSeconds?: number;
    readonly maxApiKeyAgeSeconds?: number;
    /** Tokens issued to the credential in the period (`token.issued`). */
    readonly tokensIssued: number;
  };
  readonly revocation: {
    readonly revoked: boolean;
    /** Earliest revocation that applies. */
    readonly revokedAt?: string;
    readonly events: readonly ExposureRevocation[];
    /** The store's answer now, when a store was given. */
    readonly current?: StoreSnapshot;
    /** Allowed uses after the revocation (should be none beyond propagation). */
    readonly allowedAfterRevocation: number;
  };
  readonly didReach: {
    readonly uses: number;
    readonly allowed: number;
    readonly denied: number;
    readonly firstUse?: string;
    readonly lastUse?: string;
    readonly usesAfterLeak: number;
    readonly allowedAfterLeak: number;
    readonly firstUseAfterLeak?: string;
    /** Distinct token ids seen in the uses (exact up to 100000). */
    readonly tokens: number;
    readonly routes: readonly {
      readonly route: string;
      readonly allowed: number;
      readonly denied: number;
    }[];
    readonly dataSubjectsByCategory: readonly CategoryCount[];
    /** Distinct data subjects touched by allowed uses, over every category. */
    readonly dataSubjects: number;
    readonly dataSubjectsAfterLeak: number;
    /** The data subjects touched (sorted; at most `maxUsesListed`). */
    readonly dataSubjectIds: readonly string[];
    /** Allowed uses on routes with personal data whose event names no data subject. */
    readonly allowedWithoutDataSubject: number;
    readonly clientAddresses: readonly {
      readonly address: string;
      readonly uses: number;
      readonly afterLeak: number;
    }[];
    readonly userAgents: readonly { readonly userAgent: string; readonly uses: number }[];
    readonly usesListed: readonly ExposureUse[];
    /** True when more uses happened than are listed. */
    readonly usesTruncated: boolean;
  };
}
