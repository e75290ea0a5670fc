export type {
  ConsentGrant,
  ConsentRecord,
  ConsentWithdrawal,
  EpochOrigin,
  EpochStore,
  Invalidation,
  InvalidationFeed,
  InvalidationListener,
  MarkScope,
  SharedStore,
  StoreEpoch,
  StoreQuery,
  StoreSnapshot,
  WardenStore,
} from './types';
export { MemoryStore, type MemoryStoreOptions } from './memory-store';
export { DEFAULT_CONSENT_RETENTION_MS, isEpochStore, isSharedStore } from './types';
export { CachingStore, type StateCacheOptions } from './caching-store';
export { resolveRetention, type ResolvedRetention, type RetentionOptions } from './retention';
export {
  DEFAULT_CREDENTIAL_RETENTION_MS,
  type ApiKeyRecord,
  type ApiKeyRotation,
  type CredentialStore,
  type FamilyAccessToken,
  type FamilyAccessTracking,
  type FamilyRevocationReason,
  type RefreshFamily,
  type RefreshRotation,
  type RefreshTokenRecord,
} from './credential-types';
export {
  MemoryCredentialStore,
  type MemoryCredentialStoreOptions,
} from './memory-credential-store';
