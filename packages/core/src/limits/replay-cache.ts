import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { boundedCallerKey } from './caller';
import { CallerShareFullError, CAPACITY_SWEEP_GAP_MS, Shares, type Share } from './shares';

/**
 * Remembers one-time identifiers (a DPoP proof's `jti`) until they would be refused anyway, so a
 * captured proof cannot be replayed. Implementations: {@link MemoryReplayCache} here,
 * `RedisReplayCache` in @tokenwarden/redis (one `SET NX PXAT`).
 */
export interface ReplayCache {
  /**
   * Records `id` until `expiresAt` (epoch ms). Resolves true the first time an id is seen, false
   * for every later use while it is remembered. Rejects (never guesses) when it cannot answer.
   * `caller` names who the id counts against in a cache that bounds each caller's share (the
   * memory cache): when that share is full the call rejects with `CallerShareFullError`; a
   * shared cache may ignore it.
   */
  markUsed(id: string, expiresAt: number, caller?: string): Promise<boolean>;
  /** Releases timers and connections the cache owns. */
  close?(): Promise<void>;
}

/** Options of {@link MemoryReplayCache}. */
export interface MemoryReplayCacheOptions {
  /**
   * Most ids held at once. When full, expired ids are swept; if it is still full the call is
   * refused with `StoreCapacityError` rather than forgetting an id that could then be replayed.
   * Default: 100000.
   */
  maxEntries?: number;
  /**
   * Most ids one caller (a client and subject) holds at once: past it only that caller is
   * refused (`CallerShareFullError`, 429 `dpop_proof_limit_exceeded` in the warden) until one of
   * its ids expires, so one caller cannot fill the cache for others. Ids marked without a caller
   * count against `maxEntries` only. At most `maxEntries`.
   * Default: a fifth of `maxEntries` (20000: about 65 proofs a second from one caller, for
   * proofs remembered 305 s).
   */
  maxEntriesPerCaller?: number;
  /** How often expired ids are swept, in ms; the timer is unref'd. Default: 60000. */
  sweepIntervalMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

interface Seen {
  readonly until: number;
  /** The share of the caller the id counts against; none when no caller was named. */
  readonly share: Share | undefined;
}

/**
 * One-time ids in this process: for development, tests and single-node deployments. Behind a load
 * balancer, a proof replayed to another node is only caught by a shared cache (`RedisReplayCache`).
 * Bounded, and fair: each caller holds at most `maxEntriesPerCaller` ids, and a caller whose
 * share is full is refused alone; no live id is ever forgotten to make room.
 *
 * @example
 * const dpop = new DpopVerifier({ replayCache: new MemoryReplayCache({ maxEntries: 50_000 }) });
 */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, Seen>();
  private readonly shares: Shares;
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private lastSweepAt = Number.NEGATIVE_INFINITY;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryReplayCacheOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxEntries = positiveInt(options.maxEntries ?? 100_000, 'maxEntries');
    const perCaller = positiveInt(
      options.maxEntriesPerCaller ?? Math.max(1, Math.floor(this.maxEntries / 5)),
      'maxEntriesPerCaller',
    );
    if (perCaller > this.maxEntries) {
      throw new ConfigError(
        `MemoryReplayCache option 'maxEntriesPerCaller' must not exceed maxEntries`,
      );
    }
    this.shares = new Shares(perCaller);
    const every = positiveInt(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.sweeper = setInterval(() => this.sweep(this.clock.now()), every);
    this.sweeper.unref();
  }

  /**
   * True the first time `id` is seen (and it is then remembered until `expiresAt`, counted
   * against `caller`'s share). Rejects with `CallerShareFullError` when the caller's share is
   * full, with `StoreCapacityError` when the whole cache is.
   */
  async markUsed(id: string, expiresAt: number, caller?: string): Promise<boolean> {
    if (typeof id !== 'string' || id === '')
      throw new TypeError('MemoryReplayCache: id must be a non-empty string');
    if (!Number.isFinite(expiresAt))
      throw new TypeError('MemoryReplayCache: expiresAt must be epoch ms');
    const now = this.clock.now();
    const known = this.seen.get(id);
    if (known !== undefined) {
      if (known.until > now) return false;
      this.forget(id, known);
    }
    if (expiresAt <= now) return true;
    const key = boundedCallerKey(caller);
    const share = key === undefined ? undefined : this.shares.get(key);
    if (share !== undefined && share.size >= this.shares.perCaller) {
      // No id of this share expires before `earliest`: sweep only when one may have.
      if (share.earliest <= now) this.sweepIfDue(now);
      if (share.size >= this.shares.perCaller) {
        throw new CallerShareFullError(
          'MemoryReplayCache',
          this.shares.perCaller,
          this.retryAt(share, now) - now,
        );
      }
    }
    if (this.seen.size >= this.maxEntries) {
      this.sweepIfDue(now);
      if (this.seen.size >= this.maxEntries) {
        throw new StoreCapacityError(
          `MemoryReplayCache holds ${this.maxEntries} ids; raise maxEntries or use a shared cache`,
        );
      }
    }
    // The share may have been emptied and dropped by the sweep: look it up again.
    const held =
      key === undefined ? undefined : this.shares.add(key, this.shares.get(key), expiresAt);
    this.seen.set(id, { until: expiresAt, share: held });
    return true;
  }

  /** Stops the sweeper and forgets every id. */
  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.seen.clear();
    this.shares.clear();
  }

  /** Number of ids held (expired ones included until swept). */
  get size(): number {
    return this.seen.size;
  }

  /** Number of ids `caller` holds (expired ones included until swept). */
  sizeOf(caller: string): number {
    const key = boundedCallerKey(caller);
    return key === undefined ? 0 : (this.shares.get(key)?.size ?? 0);
  }

  /** When the full `share` may have room: its earliest expiry, or the next allowed sweep. */
  private retryAt(share: Share, now: number): number {
    if (share.earliest > now) return share.earliest;
    return Math.max(now + 1, this.lastSweepAt + CAPACITY_SWEEP_GAP_MS);
  }

  private forget(id: string, entry: Seen): void {
    this.seen.delete(id);
    if (entry.share !== undefined) this.shares.remove(entry.share);
  }

  /** A sweep forced by a full cache or share runs at most once per second. */
  private sweepIfDue(now: number): void {
    if (now - this.lastSweepAt >= CAPACITY_SWEEP_GAP_MS) this.sweep(now);
  }

  private sweep(now: number): void {
    this.lastSweepAt = now;
    this.shares.beginSweep();
    for (const [id, entry] of this.seen) {
      if (entry.until <= now) this.forget(id, entry);
      else if (entry.share !== undefined) this.shares.keep(entry.share, entry.until);
    }
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`MemoryReplayCache option '${name}' must be a positive integer`);
  }
  return value;
}
