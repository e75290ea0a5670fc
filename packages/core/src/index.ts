/**
 * `@tokenwarden/core`: the public face of the request path. Offline tools have their own entries
 * (`@tokenwarden/core/policy`, `@tokenwarden/core/reports`); `packages/core/api-report.md` lists
 * every exported name, so a change of this surface shows in review.
 */
export { type Access } from './access';
export {
  type AdminOptions,
  createAdmin,
  type GrantConsentInput,
  type RevokeBeforeOptions,
  type RevokeTokenOptions,
  WardenAdmin,
  type WithdrawConsentInput,
} from './admin';
export {
  type AddressMode,
  type AuditFailurePolicy,
  type AuditMode,
  type AuditOptions,
  type UserAgentMode,
} from './audit/options';
export { JsonLinesSink, type JsonLinesSinkOptions, MemorySink } from './audit/sinks';
export { type AuditCheckpointOptions, type ChainKeyRef } from './audit/chain-options';
export { checkpointPublicKey, type CheckpointSink } from './audit/checkpoints';
export { FileCheckpointSink } from './audit/checkpoint-writer';
export {
  FileChainKeyStore,
  loadChainKey,
  rewrapChainKey,
  type ChainKeyStore,
  type LoadChainKeyOptions,
} from './issue/chain-key-store';
export { RecordCipher } from './audit/record-cipher';
export { type SubjectKeyOptions } from './audit/seal';
export { MASTER_KEY_ENV, SUBJECT_KEYS_ENV, type SubjectKeyHome } from './audit/default-sealing';
export {
  FileSubjectKeyStore,
  MemorySubjectKeyStore,
  SubjectKeyError,
  type SubjectKeyStore,
} from './audit/subject-keys';
export { AuditUnavailableError } from './audit/trail';
export {
  AUDIT_SCHEMA_VERSION,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventType,
  type AuditSink,
} from './audit/types';
export { type ConsentVerdict, evaluateConsent, isConsentNotice } from './consent/index';
export {
  type AllowDecision,
  type AllowReason,
  type Decision,
  type DenyDecision,
  isDenied,
  type Principal,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
} from './decision';
export {
  ConfigError,
  type ErrorCode,
  StoreCapacityError,
  StoreStateLostError,
  StoreUnavailableError,
  TokenwardenError,
} from './errors';
export { TokenwardenDenial } from './http/denial';
export { SecretScanning, type SecretScanningOptions } from './http/secret-scanning';
export { type Clock, systemClock } from './internal/clock';
export { type CredentialType } from './internal/credential-format';
export { LAWFUL_BASES, type LawfulBasis } from './internal/gdpr';
export { type Logger } from './internal/logger';
export {
  type ApiKeyClientRules,
  ApiKeyError,
  apiKeyOptionsFromPolicy,
  type ApiKeyPolicy,
  type ApiKeyRefusal,
  type ApiKeysOptions,
  type CreateApiKeyInput,
  type IssuedApiKey,
  type RotateApiKeyOptions,
} from './issue/api-key-options';
export { ApiKeys } from './issue/api-keys';
export { EnvelopeError, masterKey, type MasterKey } from './internal/envelope';
export { type TokenRevoker } from './issue/lifecycle';
export { RefreshTokens } from './issue/refresh';
export {
  type IssuedRefreshToken,
  type RefreshExpectation,
  type RefreshGrant,
  type RefreshResult,
  type RefreshTokensOptions,
} from './issue/refresh-grant';
export {
  createSecretSource,
  type NamedSecretReader,
  type SecretRef,
  type SecretSource,
  type SecretSourceOptions,
} from './issue/secrets';
export { SigningKeyRing, type SigningKeyRingOptions } from './issue/signing-key-ring';
export { SigningKeyError, type SigningKeyProblem } from './issue/signing-key-integrity';
export { type SigningKeySource, staticSigningKey } from './issue/signing-key-source';
export {
  generateSigningKey,
  type Jwk,
  type JwkSet,
  jwksOf,
  MemorySigningKeyStore,
  newKeyPair,
  type RotateOptions,
  type SigningAlgorithm,
  type SigningKeyInfo,
  signingKeyObject,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
} from './issue/signing-keys';
export {
  type IssuedTokenPair,
  TokenEndpoint,
  type TokenEndpointOptions,
} from './issue/token-endpoint';
export {
  type IssuedToken,
  IssueError,
  type IssueErrorCode,
  type IssuerClient,
  type IssueRequest,
  TokenIssuer,
  type TokenIssuerOptions,
} from './issue/token-issuer';
export {
  MemoryReplayCache,
  type MemoryReplayCacheOptions,
  type ReplayCache,
} from './limits/replay-cache';
export { type CredentialKind, type LimitAlgorithm, type UsageLimiter } from './limits/types';
export { type LimitRule, UsageLimits, type UsageLimitsOptions } from './limits/usage-limits';
export { METRICS } from './metrics/names';
export { type ExposurePlace, type MetricsOptions, type WardenMetrics } from './metrics/types';
export {
  addOpenApiSecurity,
  type OpenApiDocument,
  type OpenApiRequirement,
  type OpenApiRoute,
  type OpenApiSecurityOptions,
} from './openapi';
export { DEFAULTS } from './options/defaults';
export {
  type ApiKeyOptions,
  type CacheOptions,
  type CredentialOptions,
  type JwtOptions,
  type PurposeDefinition,
  type WardenDpopOptions,
  type WardenOptions,
} from './options/types';
export {
  type ClaimRequirement,
  type ClaimValue,
  type ConsentRequirement,
  type LawfulBasisRequirement,
  type Requirement,
  type SubjectResolver,
} from './policy/requirement';
export {
  checkPolicyDrift,
  type DriftFinding,
  type DriftKind,
  type DriftMode,
  type DriftReportOptions,
} from './policy/drift';
export type { PolicyDataSubject, PolicyRoute, RoutePolicy } from './internal/route-policy';
export { type RequestView } from './request';
export { type StateCacheOptions } from './store/caching-store';
export {
  type ApiKeyRecord,
  type ApiKeyRotation,
  type CredentialStore,
  type FamilyAccessToken,
  type FamilyAccessTracking,
  type FamilyRevocationReason,
  type RefreshFamily,
  type RefreshRotation,
  type RefreshTokenRecord,
} from './store/credential-types';
export {
  MemoryCredentialStore,
  type MemoryCredentialStoreOptions,
} from './store/memory-credential-store';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store';
export { type RetentionOptions } from './store/retention';
export {
  DEFAULT_CONSENT_RETENTION_MS,
  type ConsentGrant,
  type ConsentRecord,
  type ConsentWithdrawal,
  type EpochOrigin,
  type EpochStore,
  type MarkScope,
  type StoreEpoch,
  type StoreQuery,
  type StoreSnapshot,
  type WardenStore,
} from './store/types';
export { type DpopMode, type DpopOptions, DpopVerifier } from './verify/dpop';
export { DPOP_ALGORITHMS, type DpopAlgorithm } from './verify/dpop-proof';
export { type ClaimProfile } from './verify/claims';
export { RemoteJwks, type RemoteJwksOptions } from './verify/jwks';
export { type KeyResolver } from './verify/key-resolver';
export {
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  keyFromEnv,
  keyFromFile,
  type KeySelector,
  type KeySourceOptions,
  type VerificationKey,
} from './verify/key-ring';
export { KeySourceError, type KeySourceErrorCode } from './verify/key-source';
export {
  type TrustedIssuerOptions,
  TrustedIssuers,
  type TrustedIssuersOptions,
} from './verify/oidc';
export { type CloseOptions, createWarden, Warden } from './warden';
export {
  type GracefulShutdownOptions,
  gracefulShutdown,
  type ShutdownServer,
} from './http/shutdown';
// Building blocks for custom servers, audit sinks and API-key checks (see the docs).
export {
  type ChainHead,
  type ChainProblem,
  type ChainProblemKind,
  type ChainReport,
  type VerifyChainOptions,
  verifyChains,
} from './audit/chain';
export { SeqFilter, auditLine } from './audit/line';
export {
  type HeldResponse,
  type NodeRequestLike,
  type NodeResponseLike,
  headerValuesOf,
  holdUntilDurable,
  writeDenial,
} from './http/node';
export {
  type CredentialFormatError,
  type ParsedCredential,
  generateCredential,
  hashCredential,
  parseCredential,
} from './internal/credential-format';
export { ApiKeyUsage, type ApiKeyUsageOptions } from './issue/api-key-usage';
export { type ResolvedLimitRule, resolveLimitRules } from './limits/usage-limits';
export { type ApiKeyVerifyPolicy, looksLikeApiKey, verifyApiKey } from './verify/api-key';
