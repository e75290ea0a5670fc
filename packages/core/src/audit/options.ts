import { ConfigError } from '../errors';
import type { AuditSink } from './types';

/** How client addresses appear in audit events. */
export type AddressMode = 'truncate' | 'hash' | 'omit';

/** Audit settings. */
export interface AuditOptions {
  /** Where events go. Default: none (events are still counted). */
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
}

/** Audit settings after validation and defaults. */
export interface ResolvedAuditOptions {
  readonly sinks: readonly AuditSink[];
  readonly fingerprintKey: Buffer | undefined;
  readonly clientAddress: AddressMode;
}

/** Validates the audit settings; throws ConfigError naming the option to fix. */
export function resolveAuditOptions(options: AuditOptions = {}): ResolvedAuditOptions {
  const fingerprintKey = options.fingerprintKey;
  const keyBytes =
    fingerprintKey === undefined
      ? undefined
      : Buffer.isBuffer(fingerprintKey)
        ? fingerprintKey
        : Buffer.from(fingerprintKey, 'utf8');
  if (keyBytes !== undefined && keyBytes.length < 32) {
    throw new ConfigError('audit.fingerprintKey must be at least 32 bytes of random data');
  }
  const clientAddress = options.clientAddress ?? 'truncate';
  if (!['truncate', 'hash', 'omit'].includes(clientAddress)) {
    throw new ConfigError("audit.clientAddress must be 'truncate', 'hash' or 'omit'");
  }
  return { sinks: options.sinks ?? [], fingerprintKey: keyBytes, clientAddress };
}
