import {
  ConfigError,
  DEFAULT_CONSENT_RETENTION_MS,
  systemClock,
  type Clock,
  type Logger,
  type RecordCipher,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, type ConnectionTarget } from './connection';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_WAIT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_PREFIX,
  MAX_COMMAND_TIMEOUT_MS,
} from './defaults';
import { KeySpace } from './keys';
import { checkedDurability, type StoreDurability } from './store-durability';
import type { EpochMode } from './store-epoch';
import { checkedSubjectNameKey, SubjectNames } from './subject-names';

/** Options of `RedisStore`. Pass exactly one of `url` and `client`. */
export interface RedisStoreOptions {
  /**
   * A `redis://` or `rediss://` URL. The store then opens its own fail-fast client (no offline
   * queue, one retry per command, `commandTimeout`, reconnect delay capped at 1 s, an `error`
   * listener) and closes it in `close()`. Mutually exclusive with `client`.
   */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` you own. It is used as is and never closed by the store; set
   * `commandTimeout` (and ideally `enableOfflineQueue: false`) on it, although the store also
   * bounds every call by `commandTimeoutMs` itself. The store defines its twelve `tokenwarden*`
   * script commands on it. Mutually exclusive with `url`.
   */
  client?: Redis | Cluster;
  /**
   * Prefix of every key. Without braces the `{tw}` hash tag is appended (`tokenwarden:{tw}:`), so
   * all keys share one cluster slot; a prefix may instead carry its own tag, e.g. `app:{tenant1}:`.
   * At most 128 bytes. Default: `'tokenwarden:'`.
   */
  prefix?: string;
  /**
   * Deadline of each store call, in ms, including the wait for a (re)connecting client. A call
   * that misses it rejects with `StoreUnavailableError`. Default: 200.
   */
  commandTimeoutMs?: number;
  /**
   * Longest key, in bytes. A key that would be longer carries the SHA-256 of the encoded id
   * instead of the id, so hostile ids of any length cost a bounded key. Default: 256.
   */
  maxKeyLength?: number;
  /**
   * How often, in ms, the store checks that its invalidation subscription still delivers (it
   * publishes a heartbeat on its own channel and expects it back). Local caches are emptied and
   * bypassed when a heartbeat cannot be published or none came back for two intervals, which
   * bounds how long a node cut off from Redis serves cached state. Default: 250.
   */
  heartbeatMs?: number;
  /**
   * Time source for "is this entry still live". Redis also drops entries itself (PEXPIREAT) at
   * the same epoch-ms times. Default: the system clock.
   */
  clock?: Clock;
  /**
   * What the store does when Redis holds no epoch of the state and no record of a lost one (see
   * "State loss" in the README). `'create'`: the first store to read starts the first epoch, as a
   * new deployment needs. `'require'`: it never does, and refuses with `store_state_lost` until
   * `tokenwarden state init` (a new deployment) or `tokenwarden state restore` writes one; this
   * also catches a Redis that lost its state while every node restarted with it. Either way a
   * store that knew an epoch never accepts another one written over a lost state.
   * Default: `'create'`.
   */
  epoch?: 'create' | 'require';
  /**
   * Acknowledged means replicated: after every revocation (`revokeToken`, `setNotBefore`) and
   * consent withdrawal the store sends `WAIT replicas timeoutMs` on the same connection (on a
   * Cluster, to the master of the written key), and rejects with `StoreNotReplicatedError`
   * (`store_unavailable`) when fewer replicas acknowledged the write in time. Such a call may take
   * up to `commandTimeoutMs + timeoutMs`; a client passed in needs a `commandTimeout` at least that
   * long. Default: not set (a write is reported once the primary applied it).
   */
  durability?: StoreDurability;
  /**
   * Where keys live. `'single'`: every key under one hash tag (`{tw}`), one slot, one shard.
   * `'sharded'`: the keys of one data subject (its revocations, its not-before mark, its consent
   * records) share the hash tag of its bucket, one of 64 whose slots are spread evenly over Redis
   * Cluster's masters; client and deployment marks and revocations by token id alone are copied
   * into every bucket, so a lookup is still one script on one shard. See "Sharding on Redis
   * Cluster" in the README. Default: `'single'`.
   */
  layout?: 'single' | 'sharded';
  /**
   * Longest wait, in ms, for the first connection before the first write (revocation, consent)
   * or epoch command of a fresh store, so an admin call or a CLI command made right after start
   * is not held to `commandTimeoutMs` while the connection is still being made (a busy machine,
   * a Redis still starting). Requests' lookups never wait for it. 0: no wait. Default: 2,000.
   */
  connectTimeoutMs?: number;
  /**
   * How long a withdrawn consent record is kept before Redis deletes it (PEXPIREAT), in ms, when
   * the withdrawal names no `keepUntil` (a warden with `retention.consentAfterWithdrawalMs`, or
   * the policy's `retention.consentAfterWithdrawal`, names one). 0 deletes it at once. Default:
   * `DEFAULT_CONSENT_RETENTION_MS` (3 years).
   */
  consentRetentionMs?: number;
  /**
   * Encrypts what a consent record holds beyond its times (source, notice, evidence) at rest,
   * with the master key (AES-256-GCM, bound to the record, with the master key's id so it can
   * rotate): `new RecordCipher(masterKey(...), previousMasterKeys)`. Records written without it
   * are still read. Default: none (stored as JSON). See docs/privacy.md.
   */
  recordCipher?: RecordCipher;
  /**
   * Where the store logs its connection's changes of state, once each: Redis unreachable, with
   * the cause (`ECONNREFUSED 127.0.0.1:6390`, `WRONGPASS`…, never the URL's password), and
   * Redis answering again. `false`: not logged. Default: stderr.
   */
  logger?: Pick<Logger, 'warn' | 'error'> | false;
  /**
   * 32 random bytes (read them with `subjectNameKey(text)` from a file or an environment
   * variable, like the master key). With it, every key name built from a data subject's id (its
   * not-before mark, its consent records and consent index, its bucket in the `'sharded'` layout)
   * holds the HMAC-SHA-256 of the id under this key (128 bits, base64url) instead of the id, so a
   * mark kept after the subject's erasure does not name the person. Every node needs the same key.
   * Redis records which naming its keys use; a store configured otherwise refuses every call with
   * a `ConfigError` (`config_invalid`): move an existing deployment with
   * `migrateSubjectNames` (`tokenwarden state migrate-keys --hash-subject-names`). Default: none
   * (the ids, encoded).
   */
  subjectNameKey?: Buffer;
}

const stderrLogger: Pick<Logger, 'warn' | 'error'> = {
  warn: (message) => console.warn(`[tokenwarden] ${message}`),
  error: (message) => console.error(`[tokenwarden] ${message}`),
};

/** The options of a `RedisStore`, checked and with their defaults. @internal */
export interface ResolvedStoreOptions {
  readonly target: ConnectionTarget;
  readonly durability: StoreDurability | undefined;
  readonly connectWaitMs: number;
  readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  readonly channel: string;
  readonly heartbeatMs: number;
  readonly clock: Clock;
  readonly epoch: EpochMode;
  readonly consentRetentionMs: number;
  readonly recordCipher: RecordCipher | undefined;
  /** How data subjects are named in keys. */
  readonly names: SubjectNames;
}

/**
 * Checks the options of a `RedisStore` without opening anything, so an invalid option never
 * leaves a client behind.
 *
 * @throws ConfigError when the options are missing, ambiguous or out of range.
 * @internal
 */
export function resolveStoreOptions(options: RedisStoreOptions): ResolvedStoreOptions {
  const durability = checkedDurability(options?.durability);
  const target = connectionTarget(options, {
    owner: 'RedisStore',
    defaultTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
    waitMs: durability?.timeoutMs ?? 0,
    logger: options.logger === false ? undefined : (options.logger ?? stderrLogger),
  });
  const connectWaitMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_WAIT_MS;
  if (
    !Number.isSafeInteger(connectWaitMs) ||
    connectWaitMs < 0 ||
    connectWaitMs > MAX_COMMAND_TIMEOUT_MS
  ) {
    throw new ConfigError(
      `RedisStore option 'connectTimeoutMs' must be an integer from 0 to ${MAX_COMMAND_TIMEOUT_MS}`,
    );
  }
  const layout = options.layout ?? 'single';
  if (layout !== 'single' && layout !== 'sharded') {
    throw new ConfigError(`RedisStore option 'layout' must be 'single' or 'sharded'`);
  }
  const names = new SubjectNames(checkedSubjectNameKey(options.subjectNameKey));
  const keys = new KeySpace(
    options.prefix ?? DEFAULT_PREFIX,
    options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
    layout,
    names,
  );
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 10) {
    throw new ConfigError(`RedisStore option 'heartbeatMs' must be an integer of at least 10`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') {
    throw new ConfigError(`RedisStore option 'clock' must have a now() method`);
  }
  const epoch = options.epoch ?? 'create';
  if (epoch !== 'create' && epoch !== 'require') {
    throw new ConfigError(`RedisStore option 'epoch' must be 'create' or 'require'`);
  }
  const consentRetentionMs = options.consentRetentionMs ?? DEFAULT_CONSENT_RETENTION_MS;
  if (!Number.isSafeInteger(consentRetentionMs) || consentRetentionMs < 0) {
    throw new ConfigError(
      `RedisStore option 'consentRetentionMs' must be a whole number of ms (0 or more)`,
    );
  }
  const channel = keys.base + 'invalidate';
  return {
    target,
    durability,
    connectWaitMs,
    keys,
    channel,
    heartbeatMs,
    clock,
    epoch,
    consentRetentionMs,
    recordCipher: checkedCipher(options.recordCipher),
    names,
  };
}

function checkedCipher(cipher: RecordCipher | undefined): RecordCipher | undefined {
  if (
    cipher !== undefined &&
    (typeof cipher?.seal !== 'function' || typeof cipher.open !== 'function')
  ) {
    throw new ConfigError("RedisStore option 'recordCipher' must be a RecordCipher");
  }
  return cipher;
}
