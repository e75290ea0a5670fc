import type { SecretRef } from '../issue/secrets';
import type { SigningAlgorithm } from '../issue/signing-keys';
import type { PolicyRoute } from '../internal/route-policy';
import type { LawfulBasis } from './requirement';

export type { PolicyDataSubject, PolicyRoute } from '../internal/route-policy';

/** One finding of {@link checkPolicy}: where, how bad, what is wrong and how to fix it. */
export interface PolicyDiagnostic {
  readonly severity: 'error' | 'warning';
  /** 1-based line and column in the file. */
  readonly line: number;
  readonly column: number;
  /** Dotted path of the offending value, e.g. `clients.crm.scopes[1]`. */
  readonly path: string;
  /** What is wrong and what to change. */
  readonly message: string;
}

/** A scope: what it allows and the personal data it reaches. */
export interface PolicyScope {
  readonly description: string;
  readonly dataCategories: readonly string[];
}

/** A purpose of processing and its lawful basis. */
export interface PolicyPurpose {
  readonly description: string;
  readonly lawfulBasis: LawfulBasis | 'consent';
  /** Categories of data subjects (`customers`, `employees`…); empty when not stated. */
  readonly dataSubjects: readonly string[];
  /** How long the data processed for the purpose is kept, in ms, when stated. */
  readonly retentionMs?: number;
}

/** Who receives personal data through a client (records of processing, Art. 30). */
export interface PolicyRecipient {
  /** The category of recipient, as the policy names it. */
  readonly category: string;
  /** ISO 3166-1 alpha-2 code of the country the recipient processes the data in, when stated. */
  readonly country?: string;
}

/** The controller responsible for the processing, and how to reach them. */
export interface PolicyController {
  readonly name: string;
  readonly contact: string;
  /** Contact of the data protection officer, when there is one. */
  readonly dpo?: string;
}

/** A client after validation; durations in ms. */
export interface PolicyClient {
  readonly description?: string;
  readonly scopes: readonly string[];
  readonly maxTokenLifetimeMs: number;
  readonly apiKeyMaxAgeMs: number;
  readonly rotationPeriodMs?: number;
  readonly secret?: SecretRef;
  /** Receives a refresh token with client_credentials (see `refreshTokenClientsFromPolicy`). */
  readonly refreshTokens: boolean;
  /** Who receives personal data through the client, when stated. */
  readonly recipient?: PolicyRecipient;
}

/** The policy's `retention:` block, in ms; each one absent when the policy does not set it. */
export interface PolicyRetention {
  /** The audit trail (Redis stream trimming, rotated JSON-lines files). */
  readonly auditMs?: number;
  /** Events waiting in a spool for a sink that is down. */
  readonly spoolMs?: number;
  /** A consent record after its withdrawal. */
  readonly consentAfterWithdrawalMs?: number;
  /** Revocation marks, past the expiry of every token they refuse. */
  readonly revocationMarksMs?: number;
}

/** A validated policy; every duration in ms. It holds references to secrets, never secrets. */
export interface Policy {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  /** The controller, when the policy names one. */
  readonly controller?: PolicyController;
  readonly limits: {
    readonly maxTokenLifetimeMs: number;
    readonly maxApiKeyAgeMs: number;
    readonly clockToleranceMs: number;
    /** Idle timeout of a refresh token. */
    readonly refreshTokenLifetimeMs: number;
    /** Absolute lifetime of a refresh-token family. */
    readonly refreshFamilyLifetimeMs: number;
  };
  readonly signing: {
    readonly algorithm: SigningAlgorithm;
    readonly rotationPeriodMs?: number;
    readonly activationDelayMs: number;
    readonly masterKey?: SecretRef;
    readonly previousMasterKeys: readonly SecretRef[];
  };
  readonly scopes: Readonly<Record<string, PolicyScope>>;
  readonly purposes: Readonly<Record<string, PolicyPurpose>>;
  readonly clients: Readonly<Record<string, PolicyClient>>;
  readonly routes?: readonly PolicyRoute[];
  /** How long Tokenwarden's own records are kept, when the policy says. */
  readonly retention?: PolicyRetention;
}

/** The result of {@link checkPolicy}: the policy when it has no errors, and every finding. */
export interface PolicyCheckResult {
  readonly policy?: Policy;
  readonly diagnostics: readonly PolicyDiagnostic[];
}
