import type { AuditEventInput } from '../audit/types';
import { ConfigError } from '../errors';
import { isSafeId } from '../internal/text';

/**
 * Where lifecycle events go (`apikey.*`, `token.*`, `signing_key.*`): a `Warden` or `WardenAdmin`
 * has this method (`warden.recordEvent`).
 */
export interface AuditRecorder {
  recordEvent(event: AuditEventInput): void;
}

/** Revokes tokens by id: a `Warden` or `WardenAdmin` has this method. */
export interface TokenRevoker {
  revokeToken(
    tokenId: string,
    options?: { readonly expiresAt?: number; readonly actor?: string; readonly reason?: string },
  ): Promise<void>;
}

/** One day in ms. */
export const DAY_MS = 24 * 3_600_000;

/** Longest id (client, subject, key id, name) the lifecycle services accept. */
export const MAX_ID_LENGTH = 256;

/** `value` as an id of at most {@link MAX_ID_LENGTH} printable characters; else a TypeError. */
export function checkedId(value: unknown, name: string): string {
  if (!isSafeId(value, MAX_ID_LENGTH)) {
    throw new TypeError(
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} printable characters`,
    );
  }
  return value;
}

/** `value` as a whole number of ms, positive (or, with `zero`, non-negative); else a ConfigError. */
export function msOption(value: number, name: string, zero = false): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    (!zero && value === 0)
  ) {
    throw new ConfigError(
      `'${name}' must be a ${zero ? 'non-negative' : 'positive'} integer number of ms`,
    );
  }
  return value;
}

/** A duration in the largest whole unit (days, hours, minutes, else ms). */
export function formatDuration(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms} ms`;
}
