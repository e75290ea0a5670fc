import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  evaluateBucket,
  evaluateSliding,
  type BucketState,
  type Evaluation,
  type SlidingState,
} from './algorithms';
import type { LimitCheck, LimitState, UsageLimiter } from './types';

/** Options of {@link MemoryUsageLimiter}. */
export interface MemoryUsageLimiterOptions {
  /**
   * Most counters held at once. When full, expired counters are swept; if it is still full the
   * call is refused with `StoreCapacityError` (handled by the fail mode) rather than forgetting a
   * live counter, which would hand its credential a fresh budget. Default: 100000.
   */
  maxCounters?: number;
  /** How often expired counters are swept, in ms; the timer is unref'd. Default: 60000. */
  sweepIntervalMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

interface Counter {
  state: SlidingState | BucketState;
  /** Epoch ms after which the counter is back to its initial state and may be dropped. */
  expiresAt: number;
}

/**
 * Usage counters in this process: for development, tests and single-node deployments. Bounded,
 * lazily expired, one unref'd sweeper. Several nodes need the shared `RedisUsageLimiter`.
 *
 * @example
 * const limits = new UsageLimits({ rules, limiter: new MemoryUsageLimiter({ maxCounters: 10_000 }) });
 */
export class MemoryUsageLimiter implements UsageLimiter {
  private readonly counters = new Map<string, Counter>();
  private readonly clock: Clock;
  private readonly maxCounters: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryUsageLimiterOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxCounters = positiveInt(options.maxCounters ?? 100_000, 'maxCounters');
    const every = positiveInt(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Counts one use against every check, all or nothing. */
  async consume(checks: readonly LimitCheck[], cost: number): Promise<readonly LimitState[]> {
    const now = this.clock.now();
    const keys = checks.map(counterKey);
    const evaluations: Evaluation<SlidingState | BucketState>[] = checks.map((check, i) => {
      const stored = this.live(keys[i] as string, now);
      return check.algorithm === 'token-bucket'
        ? evaluateBucket(stored as BucketState | undefined, check.limit, check.windowMs, cost, now)
        : evaluateSliding(
            stored as SlidingState | undefined,
            check.limit,
            check.windowMs,
            cost,
            now,
          );
    });
    const allowed = evaluations.every((e) => e.state.allowed);
    const fresh = keys.filter((key) => !this.counters.has(key)).length;
    if (allowed && fresh > 0 && this.counters.size + fresh > this.maxCounters) {
      this.sweep();
      if (this.counters.size + fresh > this.maxCounters) {
        throw new StoreCapacityError(
          `MemoryUsageLimiter holds ${this.maxCounters} counters; raise maxCounters or use a shared limiter`,
        );
      }
    }
    evaluations.forEach((evaluation, i) => {
      const key = keys[i] as string;
      const state = allowed ? evaluation.next : evaluation.unchanged;
      // A refused call writes only counters that already exist: refusals must not fill memory.
      if (allowed || this.counters.has(key)) {
        this.counters.set(key, { state, expiresAt: now + evaluation.ttlMs });
      }
    });
    // In a refused call nothing was consumed: counters that had room keep their `cost`.
    return evaluations.map((e) =>
      allowed || !e.state.allowed ? e.state : { ...e.state, remaining: e.state.remaining + cost },
    );
  }

  /** Stops the sweeper and forgets every counter. */
  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.counters.clear();
  }

  /** Number of counters held (expired ones included until swept). */
  get size(): number {
    return this.counters.size;
  }

  private live(key: string, now: number): SlidingState | BucketState | undefined {
    const counter = this.counters.get(key);
    if (counter === undefined) return undefined;
    if (counter.expiresAt <= now) {
      this.counters.delete(key);
      return undefined;
    }
    return counter.state;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, counter] of this.counters) {
      if (counter.expiresAt <= now) this.counters.delete(key);
    }
  }
}

/** One map key per (rule, algorithm, kind, id); NUL cannot occur in a rule name or kind. */
function counterKey(check: LimitCheck): string {
  return `${check.rule}\u0000${check.algorithm}\u0000${check.kind}\u0000${check.id}`;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`MemoryUsageLimiter option '${name}' must be a positive integer`);
  }
  return value;
}
