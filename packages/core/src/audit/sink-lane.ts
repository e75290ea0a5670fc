import type { Clock } from '../internal/clock';
import type { WardenMetrics } from '../metrics/types';
import type { ResolvedAuditOptions } from './options';
import type { Spool } from './spool';
import type { AuditEvent, AuditSink } from './types';

/** What the trail needs from its warden. */
export interface AuditTrailContext {
  readonly clock: Clock;
  readonly metrics: WardenMetrics;
  /** Rate-limited error log. */
  readonly logError: (message: string, error: unknown) => void;
}

const MAX_RETRY_MS = 5_000;

/**
 * One sink with its spool. Every operation runs in order on one chain, so events reach the sink in
 * the order they were recorded: while the spool holds events, new batches join its tail.
 */
export class SinkLane {
  broken = false;
  private chain: Promise<unknown>;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;

  constructor(
    private readonly sink: AuditSink,
    readonly spool: Spool,
    private readonly options: ResolvedAuditOptions,
    private readonly context: AuditTrailContext,
    private readonly isClosed: () => boolean,
  ) {
    this.retryMs = options.retryIntervalMs;
    this.chain = spool.open().then(
      () => {
        if (spool.pendingBytes > 0) this.scheduleReplay(0);
      },
      (error: unknown) => {
        this.broken = true;
        context.logError(
          'audit spool could not be opened; events a sink refuses are dropped',
          error,
        );
      },
    );
  }

  /** Writes a batch (or spools it); resolves whether it is stored in the sink or the spool. */
  deliver(events: readonly AuditEvent[]): Promise<boolean> {
    return this.serial(async () => {
      if (this.spool.pendingBytes === 0) {
        try {
          await this.write(events);
          this.context.metrics.auditEvents('written', events.length);
          this.broken = false;
          return true;
        } catch (error) {
          this.context.metrics.auditEvents('failed', events.length);
          this.context.logError('audit sink failed; events are spooled and replayed later', error);
        }
      }
      return this.toSpool(events);
    });
  }

  /** Replays the spool now, until it is empty or the sink fails. */
  replayNow(): Promise<void> {
    return this.serial(async () => {
      while (this.spool.pendingBytes > 0) {
        if (!(await this.replayStep())) return;
      }
    });
  }

  async close(): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.serial(async () => {
      if (!this.spool.durable && this.spool.pendingBytes > 0) {
        const left = await this.spool.read(Number.MAX_SAFE_INTEGER);
        this.context.metrics.auditEvents('dropped', left.events.length);
        this.context.logError(
          'audit trail closed while a sink was failing; events spooled in memory are lost',
          new Error(`${left.events.length} events`),
        );
      }
      await this.spool.close();
      await this.sink.close?.();
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async toSpool(events: readonly AuditEvent[]): Promise<boolean> {
    try {
      await this.spool.append(events);
      this.context.metrics.auditEvents('spooled', events.length);
      this.broken = false;
      this.scheduleReplay(this.retryMs);
      return true;
    } catch (error) {
      this.context.metrics.auditEvents('dropped', events.length);
      this.context.logError('audit spool cannot take events; they are dropped', error);
      this.broken = true;
      this.scheduleReplay(this.retryMs);
      return false;
    }
  }

  private scheduleReplay(delayMs: number): void {
    if (this.retryTimer !== undefined || this.isClosed()) return;
    const timer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.serial(async () => {
        if (this.spool.pendingBytes === 0) {
          // Nothing to replay (the spool was full and everything was dropped): probe the sink
          // by writing nothing new; the next batch tries the sink directly.
          this.broken = false;
          return;
        }
        if (await this.replayStep()) {
          this.scheduleReplay(0);
        } else {
          this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
          this.scheduleReplay(this.retryMs);
        }
      });
    }, delayMs);
    timer.unref();
    this.retryTimer = timer;
  }

  /** Writes one chunk from the spool's head; true when it went through. */
  private async replayStep(): Promise<boolean> {
    let chunk;
    try {
      chunk = await this.spool.read(this.options.batchSize);
    } catch (error) {
      this.context.logError('audit spool could not be read', error);
      return false;
    }
    if (chunk.corrupt > 0) {
      this.context.metrics.auditEvents('dropped', chunk.corrupt);
      this.context.logError(
        'audit spool held unreadable lines; they are dropped',
        new Error('corrupt'),
      );
    }
    const events = this.unexpired(chunk.events);
    if (events.length > 0) {
      try {
        await this.write(events);
      } catch {
        return false;
      }
    }
    await this.spool.commit(chunk);
    this.context.metrics.auditEvents('replayed', events.length);
    this.retryMs = this.options.retryIntervalMs;
    if (this.spool.pendingBytes === 0) this.broken = false;
    return true;
  }

  /**
   * The events still within `spoolMaxAgeMs` (the policy's `retention.spool`); the others are
   * dropped, counted and logged.
   */
  private unexpired(events: readonly AuditEvent[]): readonly AuditEvent[] {
    const maxAge = this.options.spoolMaxAgeMs;
    if (maxAge === undefined) return events;
    const oldest = this.context.clock.now() - maxAge;
    const kept = events.filter((event) => !(Date.parse(event.time) < oldest));
    if (kept.length < events.length) {
      this.context.metrics.auditEvents('dropped', events.length - kept.length);
      this.context.logError(
        'audit events waited in the spool longer than audit.spoolMaxAgeMs; they are dropped',
        new Error(`${events.length - kept.length} events`),
      );
    }
    return kept;
  }

  /** One sink write, timed and bounded by `writeTimeoutMs`. */
  private async write(events: readonly AuditEvent[]): Promise<void> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.sink.write(events),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`audit sink did not answer within ${this.options.writeTimeoutMs} ms`),
              ),
            this.options.writeTimeoutMs,
          );
          timer.unref();
        }),
      ]);
      this.context.metrics.auditSinkWrite((performance.now() - started) / 1000, false);
    } catch (error) {
      this.context.metrics.auditSinkWrite((performance.now() - started) / 1000, true);
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}
