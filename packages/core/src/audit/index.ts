export * from './types';
export { JsonLinesSink, MemorySink, type JsonLinesSinkOptions } from './sinks';
export { truncateAddress } from './privacy';
export type {
  AddressMode,
  AuditFailurePolicy,
  AuditMode,
  AuditOptions,
  UserAgentMode,
} from './options';
export { AuditUnavailableError, type AuditTrailStats } from './trail';
export { AUDIT_FIELDS, UNMATCHED_ROUTE, type AuditField } from './fields';
export {
  escapeJsonText,
  escapeText,
  escapeUnsafe,
  hasUnsafeChar,
  type EscapeStyle,
} from './escape';
export { auditLine, parseAuditLine, SeqFilter } from './line';
export {
  ERASED_PREFIX,
  PERSONAL_FIELDS,
  SubjectOpener,
  WITHHELD,
  type PersonalField,
  type SubjectKeyOptions,
  type SubjectOpenerOptions,
} from './seal';
export {
  decryptIdentifier,
  encryptIdentifier,
  FileSubjectKeyStore,
  loadPseudonymKey,
  MemorySubjectKeyStore,
  newWrappedKey,
  pseudonymOf,
  PSEUDONYM_KEY_NAME,
  PSEUDONYM_PREFIX,
  rewrapSubjectKeys,
  SubjectKeyError,
  subjectKeyContext,
  unwrapKey,
  type SubjectKeyStore,
} from './subject-keys';
export { SubjectCipher } from './subject-cipher';
export { RecordCipher } from './record-cipher';
export {
  canonicalJson,
  canonicalLine,
  CANONICAL_FIELDS,
  chainKeyId,
  ChainHasher,
  verifyChains,
  type ChainHead,
  type ChainProblem,
  type ChainProblemKind,
  type ChainReport,
  type VerifyChainOptions,
} from './chain';
export { storedLine } from './line';
export { CHAIN_KEY_ENV, type AuditCheckpointOptions, type ChainKeyRef } from './chain-options';
export {
  checkpointKeyFromChainKey,
  checkpointKeyId,
  checkpointPublicKey,
  ed25519Key,
  readCheckpoints,
  signCheckpoint,
  type Checkpoint,
  type CheckpointBody,
  type CheckpointProblem,
  type CheckpointReading,
  type CheckpointSink,
  type ReadCheckpointsOptions,
} from './checkpoints';
export { FileCheckpointSink } from './checkpoint-writer';
