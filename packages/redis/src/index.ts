export { DEFAULT_COMMAND_TIMEOUT_MS, RedisStore, type RedisStoreOptions } from './redis-store';
export { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './keys';
export { checkedUrl, openClient } from './client';
export { RedisUsageLimiter, type RedisCounterOptions } from './rate-limit';
export { RedisReplayCache } from './replay-cache';
export { RedisSigningKeyStore, type RedisSigningKeyStoreOptions } from './key-store';
export { RedisCredentialStore, type RedisCredentialStoreOptions } from './credential-store';
export {
  auditKeys,
  DEFAULT_AUDIT_RETENTION_MS,
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
