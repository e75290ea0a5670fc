import { hostname } from 'node:os';
import { ConfigError } from '../errors';
import {
  resolveChainSettings,
  type AuditCheckpointOptions,
  type ChainKeyRef,
} from './chain-options';
import type { ResolvedCheckpointOptions } from './checkpoint-writer';
import type { SubjectKeyOptions } from './seal';
import { JsonLinesSink } from './sinks';
import type { AuditSink } from './types';

/** How client addresses appear in audit events. */
export type AddressMode = 'truncate' | 'hash' | 'omit';

/** How user agents are kept in audit events. */
export type UserAgentMode = 'keep' | 'hash' | 'omit';

/**
 * When a request may go on relative to its audit event:
 * - `'async'`: at once; events are batched and written off the request path. A process crash
 *   loses at most the events still in memory (at most `maxQueue`, in steady state about
 *   `flushIntervalMs` of traffic plus the batch being written).
 * - `'sync'`: group commit; `record()` resolves once the event is in every sink or in the file
 *   spool (fsynced), and many requests share one write. Needs `spoolDir`.
 */
export type AuditMode = 'async' | 'sync';

/**
 * What happens when neither a sink nor the spool can take events:
 * - `'drop'`: the events are dropped, counted (`tokenwarden_audit_events_total{result="dropped"}`)
 *   and logged; requests go on.
 * - `'refuse'`: the trail reports itself unavailable, so requests are refused with 503
 *   `audit_unavailable` until events can be stored again; in sync mode `record()` rejects.
 */
export type AuditFailurePolicy = 'drop' | 'refuse';

/** Audit settings. */
export interface AuditOptions {
  /**
   * Where events go: one or more sinks. Default: JSON lines on standard output (a
   * `JsonLinesSink` named `stdout`), so a warden is accountable from its first request. An empty
   * list is refused: `audit: false` is the one way to run without a trail.
   */
  readonly sinks?: readonly AuditSink[];
  /**
   * HMAC key (≥ 32 bytes) for token fingerprints and hashed addresses, so a leaked token can be
   * found in the trail without the trail holding tokens. Default: a random key per process
   * (fingerprints then match only within one process; a warning says so).
   */
  readonly fingerprintKey?: string | Buffer;
  /**
   * Client addresses: `'truncate'` (IPv4 /24, IPv6 /48), `'hash'` (keyed HMAC) or `'omit'`.
   * Default: `'truncate'`.
   */
  readonly clientAddress?: AddressMode;
  /**
   * User agents: `'keep'` (at most 200 characters, control characters removed), `'hash'` (keyed
   * HMAC, so uses from one client program can be grouped without keeping it) or `'omit'`.
   * Default: `'keep'`: an incident report needs to tell a leaked token's new user from its owner.
   */
  readonly userAgent?: UserAgentMode;
  /** `'async'` or `'sync'` (group commit). Default: `'async'`. */
  readonly mode?: AuditMode;
  /** Most events handed to a sink in one write. Default: 500. */
  readonly batchSize?: number;
  /**
   * Longest wait, in ms, between an event being recorded and its batch being written in async
   * mode (a full batch goes at once). Default: 50.
   */
  readonly flushIntervalMs?: number;
  /** Most events waiting in memory; past it the failure policy applies. Default: 10000. */
  readonly maxQueue?: number;
  /**
   * Directory of the spool files (one per sink): while a sink fails, its events are appended
   * there and replayed in order when it recovers, also after a restart. One audit trail per
   * directory. Default: none (events are spooled in memory, bounded by `spoolMaxBytes`, and lost
   * if the process ends before the sink recovers).
   */
  readonly spoolDir?: string;
  /**
   * Most bytes of events waiting in a spool; past it the failure policy applies. Default:
   * 1 GiB for a file spool, 32 MiB for the memory spool.
   */
  readonly spoolMaxBytes?: number;
  /**
   * Longest an event may wait in a spool, in ms (the policy's `retention.spool`): older ones are
   * dropped when their turn to be replayed comes, counted
   * (`tokenwarden_audit_events_total{result="dropped"}`) and logged. Default: none (kept until
   * delivered).
   */
  readonly spoolMaxAgeMs?: number;
  /** `'drop'` (count and log) or `'refuse'` (503 `audit_unavailable`). Default: `'drop'`. */
  readonly onFailure?: AuditFailurePolicy;
  /**
   * HMAC-SHA-256 key (≥ 32 bytes) of the hash chain: only holders of the key can extend or
   * rewrite the chain undetected. The bytes, or where to read them at start-up: `{ env }` or
   * `{ file }`. Default: `{ env: 'TOKENWARDEN_AUDIT_CHAIN_KEY' }`; with sinks and no key the
   * warden does not start (ConfigError) unless `chain: false`.
   */
  readonly chainKey?: string | Buffer | ChainKeyRef;
  /**
   * `false`: chain events with a plain SHA-256, no key. That catches accidental damage only:
   * whoever can write the trail can recompute an unkeyed chain, and `tokenwarden audit verify`
   * then needs `--unkeyed`. Default: `true` (keyed; a chain key is required).
   */
  readonly chain?: boolean;
  /**
   * Signed checkpoints of the chain (producer, seq, hash, time; Ed25519), written every
   * `everyEvents` events or `everyMs` ms to a place other than the events, so `tokenwarden audit
   * verify --checkpoints` catches a cut tail with a rewound head, a cut start and a vanished
   * producer. Default: none.
   */
  readonly checkpoints?: AuditCheckpointOptions;
  /**
   * Name of this producer in event ids and chains, e.g. the pod name; a start time and random
   * suffix are added so every process starts its own chain. 1–48 characters `[A-Za-z0-9._-]`.
   * Default: the host name.
   */
  readonly producer?: string;
  /** A sink write that has not settled after this many ms counts as failed. Default: 5000. */
  readonly writeTimeoutMs?: number;
  /** First delay before retrying a failed sink, in ms (doubling up to 5 s). Default: 250. */
  readonly retryIntervalMs?: number;
  /**
   * Per-data-subject encryption of `subject` and `dataSubject`: each is stored as a keyed
   * pseudonym plus a copy encrypted under that person's own key, so `tokenwarden erase` can make
   * one person's events unreadable without breaking the hash chain. See docs/privacy.md.
   * Default: none: identifiers are stored in clear, and a warden with a trail logs one warning at
   * start-up saying so. `false` states that choice (a trail that names people in clear, none of
   * whom can be erased from it) and silences the warning.
   */
  readonly subjectKeys?: SubjectKeyOptions | false;
}

/** Audit settings after validation and defaults. */
export interface ResolvedAuditOptions {
  readonly sinks: readonly AuditSink[];
  readonly fingerprintKey: Buffer | undefined;
  readonly clientAddress: AddressMode;
  readonly userAgent: UserAgentMode;
  readonly mode: AuditMode;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxQueue: number;
  readonly spoolDir: string | undefined;
  readonly spoolMaxBytes: number;
  readonly spoolMaxAgeMs: number | undefined;
  readonly onFailure: AuditFailurePolicy;
  readonly chainKey: Buffer | undefined;
  readonly checkpoints: ResolvedCheckpointOptions | undefined;
  readonly producer: string;
  readonly writeTimeoutMs: number;
  readonly retryIntervalMs: number;
  /** The sealing of `subject` and `dataSubject`; `undefined`: they are written in clear. */
  readonly subjectKeys: SubjectKeyOptions | undefined;
  /** Whether `subject` and `dataSubject` are in clear by choice (`subjectKeys: false`). */
  readonly subjectsInClearChosen: boolean;
}

const PRODUCER = /^[A-Za-z0-9._-]{1,48}$/;

/** The sinks of `audit: false`: none. */
const NO_SINKS: readonly AuditSink[] = Object.freeze([]);

/**
 * Validates the audit settings; throws ConfigError naming the option to fix. Without `sinks`,
 * events go to standard output as JSON lines; `false` means no trail at all (no sinks).
 */
export function resolveAuditOptions(options: AuditOptions | false = {}): ResolvedAuditOptions {
  if (options === false) return resolveAuditOptions({ sinks: NO_SINKS });
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('audit must be an object of audit settings, or false for no trail');
  }
  const fingerprintKey = keyOf(options.fingerprintKey, 'audit.fingerprintKey');
  const clientAddress = options.clientAddress ?? 'truncate';
  if (!['truncate', 'hash', 'omit'].includes(clientAddress)) {
    throw new ConfigError("audit.clientAddress must be 'truncate', 'hash' or 'omit'");
  }
  const userAgent = options.userAgent ?? 'keep';
  if (!['keep', 'hash', 'omit'].includes(userAgent)) {
    throw new ConfigError("audit.userAgent must be 'keep', 'hash' or 'omit'");
  }
  const mode = options.mode ?? 'async';
  if (mode !== 'async' && mode !== 'sync') {
    throw new ConfigError("audit.mode must be 'async' or 'sync'");
  }
  const onFailure = options.onFailure ?? 'drop';
  if (onFailure !== 'drop' && onFailure !== 'refuse') {
    throw new ConfigError("audit.onFailure must be 'drop' or 'refuse'");
  }
  const spoolDir = options.spoolDir;
  if (spoolDir !== undefined && (typeof spoolDir !== 'string' || spoolDir === '')) {
    throw new ConfigError('audit.spoolDir must be a directory path');
  }
  if (mode === 'sync' && spoolDir === undefined) {
    throw new ConfigError(
      "audit.mode 'sync' needs audit.spoolDir: a request waits until its event is in the sinks or on local disk",
    );
  }
  const sinks = options.sinks ?? [new JsonLinesSink({ name: 'stdout' })];
  if (!Array.isArray(sinks) || sinks.some((s) => typeof s?.write !== 'function')) {
    throw new ConfigError('audit.sinks must be a list of sinks, each with a write(events) method');
  }
  if (sinks.length === 0 && sinks !== NO_SINKS) {
    throw new ConfigError(
      'audit.sinks is empty: name at least one sink, leave it out for JSON lines on standard output, or set audit: false to run with no audit trail (not recommended)',
    );
  }
  const producerName = options.producer ?? sanitizedHost();
  if (typeof producerName !== 'string' || !PRODUCER.test(producerName)) {
    throw new ConfigError('audit.producer must be 1 to 48 characters of A-Z, a-z, 0-9, ., _ or -');
  }
  const maxQueue = integer(options.maxQueue ?? 10_000, 'audit.maxQueue', 1, 10_000_000);
  const subjectKeys = options.subjectKeys;
  if (
    subjectKeys !== undefined &&
    subjectKeys !== false &&
    (subjectKeys === null || typeof subjectKeys !== 'object')
  ) {
    throw new ConfigError(
      'audit.subjectKeys must be { store, masterKey } to seal subject and dataSubject per person, or false to keep them in clear',
    );
  }
  return {
    sinks,
    fingerprintKey,
    clientAddress,
    userAgent,
    mode,
    batchSize: integer(options.batchSize ?? 500, 'audit.batchSize', 1, 100_000),
    flushIntervalMs: integer(options.flushIntervalMs ?? 50, 'audit.flushIntervalMs', 0, 60_000),
    maxQueue,
    spoolDir,
    spoolMaxBytes: integer(
      options.spoolMaxBytes ?? (spoolDir === undefined ? 32 * 2 ** 20 : 2 ** 30),
      'audit.spoolMaxBytes',
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    spoolMaxAgeMs:
      options.spoolMaxAgeMs === undefined
        ? undefined
        : integer(options.spoolMaxAgeMs, 'audit.spoolMaxAgeMs', 1, Number.MAX_SAFE_INTEGER),
    onFailure,
    ...resolveChainSettings(options, sinks.length > 0, keyOf),
    producer: producerName,
    writeTimeoutMs: integer(options.writeTimeoutMs ?? 5_000, 'audit.writeTimeoutMs', 1, 600_000),
    retryIntervalMs: integer(options.retryIntervalMs ?? 250, 'audit.retryIntervalMs', 1, 60_000),
    subjectKeys: subjectKeys === false ? undefined : subjectKeys,
    subjectsInClearChosen: subjectKeys === false,
  };
}

/**
 * The start-up warning of a trail that names people in clear because `audit.subjectKeys` was not
 * given (neither sealing nor `false`), or `undefined`: a warden logs it once, as it does for
 * `audit: false`. Names no identifier.
 */
export function clearSubjectsWarning(audit: ResolvedAuditOptions): string | undefined {
  if (audit.sinks.length === 0 || audit.subjectKeys !== undefined) return undefined;
  if (audit.subjectsInClearChosen) return undefined;
  return "audit.subjectKeys is not set: the audit trail writes subject and dataSubject in clear, and one person's events cannot be erased from it; seal them per person: set TOKENWARDEN_MASTER_KEY (with a RedisStore, or TOKENWARDEN_SUBJECT_KEYS naming a key directory) or audit.subjectKeys (see docs/privacy.md), or set audit.subjectKeys: false to keep them in clear and silence this warning";
}

/** A key of at least 32 bytes; throws ConfigError naming the option. @internal */
export function keyOf(key: string | Buffer | undefined, name: string): Buffer | undefined {
  if (key === undefined) return undefined;
  const bytes = Buffer.isBuffer(key)
    ? key
    : typeof key === 'string'
      ? Buffer.from(key, 'utf8')
      : undefined;
  if (bytes === undefined || bytes.length < 32) {
    throw new ConfigError(`${name} must be at least 32 bytes of random data`);
  }
  return bytes;
}

function integer(value: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The host name as a producer name: allowed characters only, at most 48. */
function sanitizedHost(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 48);
  return name === '' ? 'node' : name;
}
