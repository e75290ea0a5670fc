import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  evaluateBucket,
  evaluateSliding,
  type BucketState,
  type Evaluation,
  type SlidingState,
} from './algorithms';
import { boundedCallerKey } from './caller';
import { CAPACITY_SWEEP_GAP_MS, Shares, type Share } from './shares';
import type { LimitCheck, LimitState, UsageLimiter } from './types';

/** Options of {@link MemoryUsageLimiter}. */
export interface MemoryUsageLimiterOptions {
  /**
   * Most counters held at once. When full, expired counters are swept; if it is still full the
   * call is refused with `StoreCapacityError` (handled by the fail mode) rather than forgetting a
   * live counter, which would hand its credential a fresh budget. Default: 100000.
   */
  maxCounters?: number;
  /**
   * Most counters one caller (a client and subject) creates and holds at once. A call that would
   * need more is refused for that caller alone, as if its new counters were exhausted (429
   * `usage_limit_exceeded` with `Retry-After` until one of its counters expires), so one caller
   * minting credentials cannot fill the limiter for others. At most `maxCounters`. Default: a
   * tenth of `maxCounters` (10000). Counters created without a caller count against
   * `maxCounters` only.
   */
  maxCountersPerCaller?: number;
  /** How often expired counters are swept, in ms; the timer is unref'd. Default: 60000. */
  sweepIntervalMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

interface Counter {
  state: SlidingState | BucketState;
  /** Epoch ms after which the counter is back to its initial state and may be dropped. */
  expiresAt: number;
  /** The share of the caller that created the counter; none when no caller was named. */
  readonly share: Share | undefined;
}

/**
 * Usage counters in this process: for development, tests and single-node deployments. Bounded,
 * lazily expired, one unref'd sweeper; each caller holds at most `maxCountersPerCaller` counters
 * and is refused alone past it. Several nodes need the shared `RedisUsageLimiter`.
 *
 * @example
 * const limits = new UsageLimits({ rules, limiter: new MemoryUsageLimiter({ maxCounters: 10_000 }) });
 */
export class MemoryUsageLimiter implements UsageLimiter {
  private readonly counters = new Map<string, Counter>();
  private readonly shares: Shares;
  private readonly clock: Clock;
  private readonly maxCounters: number;
  private lastSweepAt = Number.NEGATIVE_INFINITY;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryUsageLimiterOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxCounters = positiveInt(options.maxCounters ?? 100_000, 'maxCounters');
    const perCaller = positiveInt(
      options.maxCountersPerCaller ?? Math.max(1, Math.floor(this.maxCounters / 10)),
      'maxCountersPerCaller',
    );
    if (perCaller > this.maxCounters) {
      throw new ConfigError(
        `MemoryUsageLimiter option 'maxCountersPerCaller' must not exceed maxCounters`,
      );
    }
    this.shares = new Shares(perCaller);
    const every = positiveInt(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.sweeper = setInterval(() => this.sweep(this.clock.now()), every);
    this.sweeper.unref();
  }

  /**
   * Counts one use against every check, all or nothing. New counters count against `caller`'s
   * share; when it is full, the checks that need one come back refused and nothing is counted.
   */
  async consume(
    checks: readonly LimitCheck[],
    cost: number,
    caller?: string,
  ): Promise<readonly LimitState[]> {
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
    let allowed = evaluations.every((e) => e.state.allowed);
    let fresh = 0;
    for (const key of keys) if (!this.counters.has(key)) fresh += 1;
    const owner = boundedCallerKey(caller);
    let shareFullUntil: number | undefined;
    if (allowed && fresh > 0) {
      shareFullUntil = owner === undefined ? undefined : this.shareFull(owner, fresh, now);
      if (shareFullUntil !== undefined) {
        allowed = false;
      } else if (this.counters.size + fresh > this.maxCounters) {
        this.sweepIfDue(now);
        if (this.counters.size + fresh > this.maxCounters) {
          throw new StoreCapacityError(
            `MemoryUsageLimiter holds ${this.maxCounters} counters; raise maxCounters or use a shared limiter`,
          );
        }
      }
    }
    evaluations.forEach((evaluation, i) => {
      const key = keys[i] as string;
      const counter = this.counters.get(key);
      if (counter !== undefined) {
        counter.state = allowed ? evaluation.next : evaluation.unchanged;
        counter.expiresAt = now + evaluation.ttlMs;
      } else if (allowed) {
        // A refused call writes only counters that already exist: refusals must not fill memory.
        const expiresAt = now + evaluation.ttlMs;
        const share =
          owner === undefined
            ? undefined
            : this.shares.add(owner, this.shares.get(owner), expiresAt);
        this.counters.set(key, { state: evaluation.next, expiresAt, share });
      }
    });
    return evaluations.map((e, i) => {
      if (allowed) return e.state;
      if (shareFullUntil !== undefined && !this.counters.has(keys[i] as string)) {
        // A refused call created nothing: the check without a counter needed a new one, and the
        // caller may not open another before one of its own expires.
        const wait = Math.max(1, Math.ceil(shareFullUntil - now));
        return { allowed: false, remaining: 0, resetMs: wait, retryAfterMs: wait };
      }
      // In a refused call nothing was consumed: counters that had room keep their `cost`.
      return e.state.allowed ? { ...e.state, remaining: e.state.remaining + cost } : e.state;
    });
  }

  /** Stops the sweeper and forgets every counter. */
  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.counters.clear();
    this.shares.clear();
  }

  /** Number of counters held (expired ones included until swept). */
  get size(): number {
    return this.counters.size;
  }

  /** Number of counters `caller` created and holds (expired ones included until swept). */
  sizeOf(caller: string): number {
    const key = boundedCallerKey(caller);
    return key === undefined ? 0 : (this.shares.get(key)?.size ?? 0);
  }

  /**
   * Undefined when `caller` may create `fresh` more counters; else when it may have room
   * (epoch ms): its earliest counter's expiry, or the next allowed sweep.
   */
  private shareFull(caller: string, fresh: number, now: number): number | undefined {
    const perCaller = this.shares.perCaller;
    if (fresh > perCaller) return now + CAPACITY_SWEEP_GAP_MS;
    let share = this.shares.get(caller);
    if (share === undefined || share.size + fresh <= perCaller) return undefined;
    // No counter of this share expires before `earliest`: sweep only when one may have.
    if (share.earliest <= now) {
      this.sweepIfDue(now);
      share = this.shares.get(caller);
      if (share === undefined || share.size + fresh <= perCaller) return undefined;
    }
    if (share.earliest > now) return share.earliest;
    return Math.max(now + 1, this.lastSweepAt + CAPACITY_SWEEP_GAP_MS);
  }

  private live(key: string, now: number): SlidingState | BucketState | undefined {
    const counter = this.counters.get(key);
    if (counter === undefined) return undefined;
    if (counter.expiresAt <= now) {
      this.forget(key, counter);
      return undefined;
    }
    return counter.state;
  }

  private forget(key: string, counter: Counter): void {
    this.counters.delete(key);
    if (counter.share !== undefined) this.shares.remove(counter.share);
  }

  /** A sweep forced by a full limiter or share runs at most once per second. */
  private sweepIfDue(now: number): void {
    if (now - this.lastSweepAt >= CAPACITY_SWEEP_GAP_MS) this.sweep(now);
  }

  private sweep(now: number): void {
    this.lastSweepAt = now;
    this.shares.beginSweep();
    for (const [key, counter] of this.counters) {
      if (counter.expiresAt <= now) this.forget(key, counter);
      else if (counter.share !== undefined) this.shares.keep(counter.share, counter.expiresAt);
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
