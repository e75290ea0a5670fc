import { createHash } from 'node:crypto';

/**
 * The caller a bounded in-memory structure (the replay cache, the usage limiter) counts entries
 * against, so one caller filling its share leaves everyone else's untouched: the pair of the
 * token's client and subject. Neither can be chosen by the caller: both come from a verified
 * credential. A client's users are separate callers; a client minting many tokens for itself is
 * one. Long pairs are hashed, so the key stays short.
 *
 * @example
 * callerKey('billing-service', 'billing-service'); // one caller, however many tokens it mints
 */
export function callerKey(client: string | undefined, subject: string | undefined): string {
  const key = `${client ?? ''}\u0000${subject ?? ''}`;
  return key.length <= MAX_CALLER_KEY ? key : hashed(key);
}

/**
 * A caller key as given to a memory structure, bounded; undefined for none (such entries count
 * against the whole structure only).
 */
export function boundedCallerKey(caller: string | undefined): string | undefined {
  if (caller === undefined || caller === '') return undefined;
  return caller.length <= MAX_CALLER_KEY ? caller : hashed(caller);
}

/** Longest caller key kept as is; a longer one is replaced by its SHA-256. */
const MAX_CALLER_KEY = 256;

function hashed(key: string): string {
  return `#${createHash('sha256').update(key).digest('base64url')}`;
}
