import { ConfigError, StoreCapacityError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';

/**
 * Remembers one-time identifiers (a DPoP proof's `jti`) until they would be refused anyway, so a
 * captured proof cannot be replayed. Implementations: {@link MemoryReplayCache} here,
 * `RedisReplayCache` in @tokenwarden/redis (one `SET NX PXAT`).
 */
export interface ReplayCache {
  /**
   * Records `id` until `expiresAt` (epoch ms). Resolves true the first time an id is seen, false
   * for every later use while it is remembered. Rejects (never guesses) when it cannot answer.
   */
  markUsed(id: string, expiresAt: number): Promise<boolean>;
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
  /** How often expired ids are swept, in ms; the timer is unref'd. Default: 60000. */
  sweepIntervalMs?: number;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

/**
 * One-time ids in this process: for development, tests and single-node deployments. Behind a load
 * balancer, a proof replayed to another node is only caught by a shared cache (`RedisReplayCache`).
 *
 * @example
 * const dpop = new DpopVerifier({ replayCache: new MemoryReplayCache({ maxEntries: 50_000 }) });
 */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryReplayCacheOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxEntries = positiveInt(options.maxEntries ?? 100_000, 'maxEntries');
    const every = positiveInt(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** True the first time `id` is seen (and it is then remembered until `expiresAt`). */
  async markUsed(id: string, expiresAt: number): Promise<boolean> {
    if (typeof id !== 'string' || id === '')
      throw new TypeError('MemoryReplayCache: id must be a non-empty string');
    if (!Number.isFinite(expiresAt))
      throw new TypeError('MemoryReplayCache: expiresAt must be epoch ms');
    const now = this.clock.now();
    const until = this.seen.get(id);
    if (until !== undefined && until > now) return false;
    if (expiresAt <= now) return true;
    if (until === undefined && this.seen.size >= this.maxEntries) {
      this.sweep();
      if (this.seen.size >= this.maxEntries) {
        throw new StoreCapacityError(
          `MemoryReplayCache holds ${this.maxEntries} ids; raise maxEntries or use a shared cache`,
        );
      }
    }
    this.seen.set(id, expiresAt);
    return true;
  }

  /** Stops the sweeper and forgets every id. */
  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.seen.clear();
  }

  /** Number of ids held (expired ones included until swept). */
  get size(): number {
    return this.seen.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, until] of this.seen) if (until <= now) this.seen.delete(id);
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`MemoryReplayCache option '${name}' must be a positive integer`);
  }
  return value;
}
