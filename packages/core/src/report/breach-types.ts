import type { ExposureOptions, ExposureReport } from './exposure-types';

/** Options of `breachReport`: those of the exposure report, and when the breach was detected. */
export interface BreachOptions extends ExposureOptions {
  /**
   * When the controller became aware of the breach (epoch ms): the 72 hours of Art. 33(1) run
   * from then. Default: now.
   */
  readonly detectedAt?: number;
  /** Most data subjects listed for notification (the count covers them all). Default: 100000. */
  readonly maxSubjectsListed?: number;
}

/** A data subject whose personal data the breach reached: one row of the notification list. */
export interface BreachSubject {
  readonly dataSubject: string;
  /** Data categories of theirs that were reached. */
  readonly dataCategories: readonly string[];
  /** Allowed accesses to their data in the breach window. */
  readonly accesses: number;
  readonly firstAccess: string;
  readonly lastAccess: string;
}

/** Something only the controller can state, with the provision that asks for it. */
export interface BreachGap {
  readonly field: string;
  /** `Art. 33(3)(c)`, … */
  readonly article: string;
  readonly hint: string;
}

/** An action on the credential recorded in the audit trail (revocation, rotation). */
export interface BreachMeasure {
  readonly time: string;
  /** The audit event type: `token.revoked`, `apikey.rotated`, … */
  readonly type: string;
  readonly description: string;
  readonly actor?: string;
  readonly reason?: string;
}

/**
 * A personal-data breach through a leaked credential, for the notification to the supervisory
 * authority (GDPR Art. 33) and to the data subjects (Art. 34): built on the exposure report.
 */
export interface BreachReport extends Omit<ExposureReport, 'kind'> {
  readonly kind: 'breach';
  /** From the policy's `controller`; what is absent is in `toComplete`. */
  readonly controller: {
    readonly name?: string;
    readonly contact?: string;
    readonly dpo?: string;
  };
  /**
   * Which uses count as the breach: those from the suspected leak on (`suspected_leak`), or,
   * without a leak time, every use in the period (`period`).
   */
  readonly window: { readonly basis: 'suspected_leak' | 'period'; readonly from?: string };
  readonly nature: {
    readonly summary: string;
    /** Personal data was read (allowed GET/HEAD requests in the window). */
    readonly confidentiality: boolean;
    /** Personal data may have been changed (other allowed methods in the window). */
    readonly integrity: boolean;
    readonly reads: number;
    readonly changes: number;
  };
  readonly concerned: {
    /** Data categories allowed requests in the window reached. */
    readonly dataCategories: readonly string[];
    /** Distinct data subjects reached in the window (exact). */
    readonly dataSubjects: number;
    /**
     * True when the number of people is a lower bound: some allowed requests to personal data
     * name no data subject, or no policy maps routes to data categories.
     */
    readonly approximate: boolean;
    /** Allowed requests in the window that reached personal data: the records concerned. */
    readonly records: number;
    readonly recordsWithoutDataSubject: number;
  };
  readonly timeline: {
    readonly issuedAt?: string;
    readonly expiresAt?: string;
    readonly suspectedLeakAt?: string;
    readonly firstUse?: string;
    readonly lastUse?: string;
    readonly firstUseInWindow?: string;
    readonly lastUseInWindow?: string;
    readonly detectedAt: string;
    readonly revokedAt?: string;
    /** Detection plus 72 hours (Art. 33(1)). */
    readonly notifyAuthorityBy: string;
    /** Hours from the report's generation to that deadline; negative once it has passed. */
    readonly hoursLeft: number;
    readonly overdue: boolean;
  };
  /** What was done, from the trail: revocations that apply, rotations of the key. */
  readonly measures: readonly BreachMeasure[];
  /** Findings that need action now (not revoked, uses after revocation, broken chain). */
  readonly warnings: readonly string[];
  readonly toComplete: readonly BreachGap[];
  /** The data subjects to notify (Art. 34), at most `maxSubjectsListed`. */
  readonly subjects: readonly BreachSubject[];
  readonly subjectsTruncated: boolean;
}
