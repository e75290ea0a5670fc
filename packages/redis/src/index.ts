export { RedisStore, type RedisStoreOptions } from './redis-store';
export { subjectNameKey } from './subject-names';
export {
  migrateSubjectNames,
  type SubjectNameMigration,
  type SubjectNameMigrationOptions,
} from './subject-names-migrate';
export { StoreNotReplicatedError, type StoreDurability } from './store-durability';
export {
  DEFAULT_AUDIT_RETENTION_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_PREFIX,
} from './defaults';
export { checkedUrl, openClient } from './client';
export { RedisUsageLimiter } from './rate-limit';
export type { RedisCounterOptions } from './counters';
export { RedisReplayCache } from './replay-cache';
export { RedisSigningKeyStore, type RedisSigningKeyStoreOptions } from './key-store';
export { chainKeyKey, RedisChainKeyStore, type RedisChainKeyStoreOptions } from './chain-key-store';
export {
  checkpointsKey,
  RedisCheckpointSink,
  type RedisCheckpointSinkOptions,
} from './checkpoint-sink';
export { RedisSubjectKeyStore, type RedisSubjectKeyStoreOptions } from './subject-key-store';
export { RedisCredentialStore, type RedisCredentialStoreOptions } from './credential-store';
export {
  auditKeys,
  auditRegistryKey,
  producerAuditKeys,
  producerTag,
  MAX_ENTRY_CHARS,
  MAX_EVENTS_PER_ENTRY,
  RedisStreamSink,
  type AuditStreamConnection,
  type RedisStreamSinkOptions,
} from './stream-sink';
export {
  AuditStreamReader,
  entryTime,
  type FollowOptions,
  type RangeOptions,
  type StreamedEvent,
  type StreamInfo,
} from './stream-reader';
export { RedisAuditSource, type RedisAuditSourceOptions } from './report-source';
export {
  KeyLayoutMigrationError,
  migrateKeyLayout,
  type KeyLayoutMigration,
  type KeyLayoutMigrationOptions,
} from './store-migrate';
export {
  rewrapConsentRecords,
  type ConsentRewrap,
  type ConsentRewrapOptions,
} from './consent-rewrap';
