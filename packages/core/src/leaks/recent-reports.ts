import { ConfigError } from '../errors';
import type { Clock } from '../internal/clock';

/**
 * The digests of recently accepted reports, so a captured report sent again is refused. A report
 * carries no time or nonce of its own, so the digest (SHA-256 of the raw body, not of the
 * signature: an ECDSA signature can be re-encoded into another valid one, the body cannot be
 * changed) is remembered for `windowMs`. Bounded: at most `maxEntries` digests; when full, expired
 * ones go first, then the oldest. Per process: a report replayed to another node is processed
 * there again, which changes nothing (revoking a revoked credential is a no-op) but one more
 * `credential.leaked` event. Timer-free: entries expire when looked at.
 */
export class RecentReports {
  // Insertion order is age order: every entry lives exactly `windowMs`.
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly clock: Clock,
  ) {
    if (!Number.isInteger(windowMs) || windowMs <= 0) {
      throw new ConfigError(
        'secret scanning: replayWindowMs must be a positive whole number of ms',
      );
    }
    if (!Number.isInteger(maxEntries) || maxEntries <= 0) {
      throw new ConfigError('secret scanning: replayCacheEntries must be a positive whole number');
    }
  }

  /** Remembers `digest` and answers true; false when it was seen within the window. */
  claim(digest: string): boolean {
    const now = this.clock.now();
    const until = this.seen.get(digest);
    if (until !== undefined && until > now) return false;
    if (until !== undefined) this.seen.delete(digest);
    this.sweep(now);
    this.seen.set(digest, now + this.windowMs);
    return true;
  }

  /** Forgets a digest whose report could not be processed, so the scanner's retry is taken. */
  release(digest: string): void {
    this.seen.delete(digest);
  }

  /** Digests held now (for tests and diagnostics). */
  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [digest, until] of this.seen) {
      if (until > now && this.seen.size < this.maxEntries) break;
      this.seen.delete(digest);
    }
  }
}
