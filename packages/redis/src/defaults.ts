/**
 * Every default of the Redis package, in one place. Times are in ms, lengths in bytes.
 */

/** Default key prefix. */
export const DEFAULT_PREFIX = 'tokenwarden:';

/** Default longest key, in bytes; longer keys carry a SHA-256 of the id instead of the id. */
export const DEFAULT_MAX_KEY_LENGTH = 256;

/**
 * Default per-call deadline, in ms, of the classes on the request path: `RedisStore`,
 * `RedisCredentialStore`, `RedisUsageLimiter` and `RedisReplayCache`.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 200;

/** Default command timeout of `RedisSigningKeyStore`, in ms (key loads happen at start-up). */
export const DEFAULT_SIGNING_KEY_TIMEOUT_MS = 1_000;

/** Default deadline of one audit stream command (`RedisStreamSink`, `AuditStreamReader`), in ms. */
export const DEFAULT_STREAM_TIMEOUT_MS = 2_000;

/** Largest `commandTimeoutMs` any class accepts, in ms. */
export const MAX_COMMAND_TIMEOUT_MS = 60_000;

/** Default interval of the invalidation feed's heartbeat, in ms. */
export const DEFAULT_HEARTBEAT_MS = 250;

/** Default retention of the audit stream: 90 days, in ms. */
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;

/**
 * How long a client may take to connect, in ms: `max(1000, 5 × commandTimeoutMs)`. It is the
 * `connectTimeout` of the clients opened from a URL, and the deadline of a signing key call, which
 * runs at start-up, right after its client was opened.
 */
export function connectTimeoutMs(commandTimeoutMs: number): number {
  return Math.max(1_000, 5 * commandTimeoutMs);
}

/**
 * Default longest wait of a fresh `RedisStore` for its first connection before its first write
 * or epoch command, in ms (`connectTimeoutMs`).
 */
export const DEFAULT_CONNECT_WAIT_MS = 2_000;
