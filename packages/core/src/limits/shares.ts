import { StoreCapacityError } from '../errors';

/**
 * Per-caller accounting of a bounded memory structure (the replay cache, the usage limiter):
 * each entry belongs to the caller that created it, and a caller may hold at most `perCaller`
 * entries, so one caller filling its share cannot fill the structure for the others.
 */

/** One caller's share: how many live entries it holds, and when the first of them may expire. */
export interface Share {
  /** The caller's key. */
  readonly caller: string;
  size: number;
  /**
   * A lower bound of the earliest expiry (epoch ms) of the share's entries: exact after a sweep,
   * lowered as entries are added. No entry of the share expires before it.
   */
  earliest: number;
}

/**
 * The caller already holds its whole share of a bounded memory structure: only this caller is
 * refused (others still have room), until `retryAfterMs` from now at the earliest.
 */
export class CallerShareFullError extends StoreCapacityError {
  /** Ms until one of the caller's entries can expire and make room (at least 1). */
  readonly retryAfterMs: number;

  constructor(structure: string, perCaller: number, retryAfterMs: number) {
    super(`${structure} holds ${perCaller} entries for this caller, its share; retry later`);
    this.retryAfterMs = Math.max(1, Math.ceil(retryAfterMs));
  }
}

/** Shortest time between two sweeps made because a structure or a share was full, in ms. */
export const CAPACITY_SWEEP_GAP_MS = 1_000;

/** The shares of one structure, keyed by caller. */
export class Shares {
  private readonly byCaller = new Map<string, Share>();

  constructor(
    /** Most entries one caller may hold. */
    readonly perCaller: number,
  ) {}

  /** The caller's share, or undefined while it holds nothing. */
  get(caller: string): Share | undefined {
    return this.byCaller.get(caller);
  }

  /** Counts a new entry expiring at `expiresAt` against the caller's share; returns the share. */
  add(caller: string, share: Share | undefined, expiresAt: number): Share {
    let held = share;
    if (held === undefined) {
      held = { caller, size: 0, earliest: expiresAt };
      this.byCaller.set(caller, held);
    }
    held.size += 1;
    if (expiresAt < held.earliest) held.earliest = expiresAt;
    return held;
  }

  /** Forgets one entry of `share`, and the share once it holds none. */
  remove(share: Share): void {
    share.size -= 1;
    if (share.size <= 0 && this.byCaller.get(share.caller) === share) {
      this.byCaller.delete(share.caller);
    }
  }

  /** Before a sweep: every earliest expiry is recomputed from the entries the sweep keeps. */
  beginSweep(): void {
    for (const share of this.byCaller.values()) share.earliest = Number.POSITIVE_INFINITY;
  }

  /** During a sweep: an entry of `share` that stays, expiring at `expiresAt`. */
  keep(share: Share, expiresAt: number): void {
    if (expiresAt < share.earliest) share.earliest = expiresAt;
  }

  /** Number of callers holding entries. */
  get callers(): number {
    return this.byCaller.size;
  }

  clear(): void {
    this.byCaller.clear();
  }
}
