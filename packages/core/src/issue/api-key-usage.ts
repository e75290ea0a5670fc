import type { CredentialStore } from '../store/credential-types';
import { msOption } from './lifecycle';

/** Options of {@link ApiKeyUsage}. */
export interface ApiKeyUsageOptions {
  readonly store: Pick<CredentialStore, 'touchApiKeys'>;
  /** How often last-used times are written, in ms; the timer is unref'd. Default: 60000. */
  readonly flushIntervalMs?: number;
  /** Called when a flush fails (the times are kept for the next flush). Default: ignore. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Tracks when each API key was last used without a store write per request: uses are kept in
 * memory (one entry per key) and written in one batch every `flushIntervalMs`. A key's last-used
 * time in the store is at most one interval behind.
 */
export class ApiKeyUsage {
  private pending = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: ApiKeyUsageOptions) {
    const every = msOption(options.flushIntervalMs ?? 60_000, 'flushIntervalMs');
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  /** Notes a use of `keyId` at `at` (epoch ms). Memory only; never throws. */
  record(keyId: string, at: number): void {
    const previous = this.pending.get(keyId);
    if (previous === undefined || previous < at) this.pending.set(keyId, at);
  }

  /** Uses noted but not yet written. */
  get size(): number {
    return this.pending.size;
  }

  /** Writes the noted uses in one store call. A failed write keeps them for the next flush. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.options.store
      .touchApiKeys([...batch].map(([keyId, at]) => ({ keyId, at })))
      .catch((error: unknown) => {
        for (const [keyId, at] of batch) this.record(keyId, at);
        this.options.onError?.(error);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  /** Stops the timer and writes what is pending. Idempotent. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
