import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import type { Logger } from '../internal/logger';
import type { WardenMetrics } from '../metrics/types';
import type { AuditRecorder } from './lifecycle';
import {
  assertSigningAlgorithm,
  type SigningAlgorithm,
  type SigningKeyStore,
} from './signing-keys';

/** Options of {@link SigningKeyRing}. */
export interface SigningKeyRingOptions {
  /** Where the key set lives: `MemorySigningKeyStore` for one node, the Redis key store for many. */
  readonly store: SigningKeyStore;
  /** Algorithm of new keys. Default: `'ES256'`. */
  readonly algorithm?: SigningAlgorithm;
  /** Longest lifetime of a token signed by the ring, in ms; old keys verify this long after a rotation. Required. */
  readonly maxTokenLifetimeMs: number;
  /** Clock skew allowed by verifiers, in ms, added to how long old keys verify. Default: 5000. */
  readonly clockToleranceMs?: number;
  /** Rotate when the active key is this old, in ms. Default: none (rotate by command only). */
  readonly rotationPeriodMs?: number;
  /**
   * How long a new key is published (verifiable) before it signs, in ms, so every node knows it
   * before the first token it signs arrives. At least `refreshIntervalMs`. Default: 60000.
   */
  readonly activationDelayMs?: number;
  /** How often the ring reloads the set, retires expired keys and checks the rotation schedule, in ms. Default: 10000. */
  readonly refreshIntervalMs?: number;
  /**
   * Lifecycle audit events (`signing_key.created`, `.rotated`, `.retired`, and `.refused` when a
   * stored key set is refused). Default: none.
   */
  readonly audit?: AuditRecorder;
  /**
   * `signing_key_rotations_total` (each time a new key takes over, seen at a maintenance pass)
   * and `signing_key_age_seconds` (age of the active key, every pass). Default: none.
   */
  readonly metrics?: Pick<WardenMetrics, 'signingKeyRotation' | 'signingKeyAge'>;
  /**
   * Warnings when a background refresh fails; errors (to `error` when the logger has it, else
   * `warn`) when a stored key set is refused. Default: stderr.
   */
  readonly logger?: Pick<Logger, 'warn'> & Partial<Pick<Logger, 'error'>>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** The timing of a ring, its options checked and their defaults filled in. */
export interface SigningKeyRingTiming {
  readonly algorithm: SigningAlgorithm;
  /** How long a key verifies after it stops signing: the longest token lifetime plus clock skew. */
  readonly verifyForMs: number;
  readonly activationDelayMs: number;
  readonly refreshIntervalMs: number;
  readonly clock: Clock;
}

/**
 * Checks a ring's options and fills in their defaults.
 *
 * @throws ConfigError when an algorithm is not supported or the times do not fit together (a key
 *   must be published for at least one refresh before it signs, and signs longer than that).
 */
export function signingKeyRingTiming(options: SigningKeyRingOptions): SigningKeyRingTiming {
  const algorithm = assertSigningAlgorithm(
    options.algorithm ?? 'ES256',
    'signing key ring: algorithm',
  );
  const max = options.maxTokenLifetimeMs;
  if (!Number.isFinite(max) || max <= 0) {
    throw new ConfigError('signing key ring: maxTokenLifetimeMs must be a positive number of ms');
  }
  const verifyForMs = max + (options.clockToleranceMs ?? 5_000);
  const refreshIntervalMs = options.refreshIntervalMs ?? 10_000;
  const activationDelayMs = options.activationDelayMs ?? 60_000;
  if (!(refreshIntervalMs > 0)) {
    throw new ConfigError('signing key ring: refreshIntervalMs must be a positive number of ms');
  }
  if (!(activationDelayMs >= refreshIntervalMs)) {
    throw new ConfigError(
      'signing key ring: activationDelayMs must be at least refreshIntervalMs, so every node loads a new key before it signs',
    );
  }
  if (options.rotationPeriodMs !== undefined && !(options.rotationPeriodMs > activationDelayMs)) {
    throw new ConfigError(
      'signing key ring: rotationPeriodMs must be longer than activationDelayMs',
    );
  }
  return {
    algorithm,
    verifyForMs,
    activationDelayMs,
    refreshIntervalMs,
    clock: options.clock ?? systemClock,
  };
}
