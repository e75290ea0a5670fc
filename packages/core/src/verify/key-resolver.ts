import type { KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { KeySourceError } from './key-source';
import { toRingKey, type JwtAlgorithm, type KeySelector, type RingKey } from './key-ring';

/**
 * Verification keys that live elsewhere (a KMS, a database, another service), looked up by the
 * token's `kid` and `alg` when a token names a key not cached yet. Give it as `jwt.keys`.
 *
 * @example
 * keys: {
 *   resolve: async (kid, alg) => (kid === undefined ? undefined : kms.publicKey(kid, alg)),
 * }
 */
export interface KeyResolver {
  /**
   * The key for a token's `kid` (undefined when the token has none) and `alg` (one of
   * `jwt.algorithms`): a public (or private) key for RS*, PS*, ES* and EdDSA, a secret for HS*;
   * or `undefined` when there is no such key (the token is refused `key_unknown`). A rejection
   * answers 503 `key_source_unavailable`: the error is logged, never shown to clients.
   */
  resolve(kid: string | undefined, alg: JwtAlgorithm): Promise<KeyObject | undefined>;
  /** How long a resolved key is used before it is asked for again, in ms. Default: 600000. */
  readonly cacheMaxAgeMs?: number;
  /** How long the answer "no such key" is kept, in ms. Default: 30000. */
  readonly missCacheMs?: number;
  /** Most answers (keys and misses) kept; the oldest goes first. Default: 1000. */
  readonly maxEntries?: number;
}

/** Whether `value` is a {@link KeyResolver} (rather than a list of keys or a key selector). */
export function isKeyResolver(value: unknown): value is KeyResolver {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as KeyResolver).resolve === 'function' &&
    typeof (value as { select?: unknown }).select !== 'function'
  );
}

interface Entry {
  readonly key: RingKey | undefined;
  readonly expiresAt: number;
}

/** Most look-ups waiting for the resolver at once; a flood of random `kid`s waits for none. */
const MAX_PENDING = 64;

/**
 * A {@link KeySelector} over a {@link KeyResolver}: `select` answers synchronously from what was
 * resolved (so a known key costs no promise), and `prepare` asks the resolver for a key not
 * cached yet, once per `kid` and `alg` at a time. Each answer is bound to the `alg` it was asked
 * for, so a token naming another algorithm cannot make a key serve it. `version` changes when a
 * key the ring held is replaced or gone, so verified tokens are checked again.
 */
export class ResolvedKeys implements KeySelector {
  private readonly resolver: KeyResolver;
  private readonly algorithms: readonly JwtAlgorithm[];
  private readonly clock: Clock;
  private readonly cacheMaxAgeMs: number;
  private readonly missCacheMs: number;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private currentVersion = 0;

  constructor(
    resolver: KeyResolver,
    algorithms: readonly JwtAlgorithm[],
    clock: Clock = systemClock,
    option = 'jwt.keys',
  ) {
    this.resolver = resolver;
    this.algorithms = algorithms;
    this.clock = clock;
    this.cacheMaxAgeMs = whole(resolver.cacheMaxAgeMs ?? 600_000, `${option}.cacheMaxAgeMs`);
    this.missCacheMs = whole(resolver.missCacheMs ?? 30_000, `${option}.missCacheMs`);
    this.maxEntries = whole(resolver.maxEntries ?? 1_000, `${option}.maxEntries`);
  }

  /** Changes when a key held is replaced or gone. */
  get version(): number {
    return this.currentVersion;
  }

  /** The resolved key for `kid` and `alg`, while fresh; undefined otherwise. */
  select(kid: string | undefined, alg?: JwtAlgorithm): RingKey | undefined {
    if (alg === undefined) return undefined;
    const entry = this.entries.get(entryKey(kid, alg));
    return entry !== undefined && this.clock.now() < entry.expiresAt ? entry.key : undefined;
  }

  /**
   * Asks the resolver for `kid` and `alg` unless a fresh answer is held. Rejects with
   * {@link KeySourceError} when the resolver fails, returns an unusable key, or too many
   * look-ups are waiting already.
   */
  prepare(kid: string | undefined, alg?: JwtAlgorithm): Promise<void> {
    if (alg === undefined || !this.algorithms.includes(alg)) return Promise.resolve();
    const key = entryKey(kid, alg);
    const entry = this.entries.get(key);
    if (entry !== undefined && this.clock.now() < entry.expiresAt) return Promise.resolve();
    let waiting = this.pending.get(key);
    if (waiting === undefined) {
      if (this.pending.size >= MAX_PENDING) {
        return Promise.reject(
          new KeySourceError('too many key look-ups are waiting for the resolver', 'busy'),
        );
      }
      waiting = this.lookUp(key, kid, alg).finally(() => this.pending.delete(key));
      this.pending.set(key, waiting);
    }
    return waiting;
  }

  private async lookUp(key: string, kid: string | undefined, alg: JwtAlgorithm): Promise<void> {
    let material: KeyObject | undefined;
    try {
      material = await this.resolver.resolve(kid, alg);
    } catch (error) {
      throw new KeySourceError('the key resolver failed', 'error', { cause: error });
    }
    let resolved: RingKey | undefined;
    if (material !== undefined && material !== null) {
      let ring: RingKey;
      try {
        ring = toRingKey({ kid: kid ?? 'resolved', alg, key: material }, [alg]);
      } catch (cause) {
        const message = `the key resolver gave a key unusable for ${alg}`;
        throw new KeySourceError(message, 'unusable key', { cause });
      }
      resolved = { ...ring, kid: kid ?? '' };
    }
    const previous = this.entries.get(key)?.key;
    if (
      previous !== undefined &&
      !(resolved !== undefined && resolved.keyObject.equals(previous.keyObject))
    ) {
      this.currentVersion += 1;
    }
    this.entries.delete(key);
    this.entries.set(key, {
      key: resolved,
      expiresAt:
        this.clock.now() + (resolved === undefined ? this.missCacheMs : this.cacheMaxAgeMs),
    });
    if (this.entries.size > this.maxEntries) this.evictOne();
  }

  /** Drops the oldest answer, preferring an expired one or a miss. */
  private evictOne(): void {
    const now = this.clock.now();
    let oldest: string | undefined;
    for (const [key, entry] of this.entries) {
      oldest ??= key;
      if (entry.key === undefined || entry.expiresAt <= now) {
        this.entries.delete(key);
        return;
      }
    }
    if (oldest !== undefined) {
      this.entries.delete(oldest);
      // A key held is gone: tokens verified with it are checked again.
      this.currentVersion += 1;
    }
  }
}

function entryKey(kid: string | undefined, alg: JwtAlgorithm): string {
  // A kid has no control characters (checked before a key is looked up), so NUL separates.
  return kid === undefined ? alg : `${alg}\u0000${kid}`;
}

function whole(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`${option} must be a positive whole number`);
  }
  return value;
}
