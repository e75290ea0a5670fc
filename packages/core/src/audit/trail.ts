import { randomUUID } from 'node:crypto';
import type { Clock } from '../internal/clock';
import type { WardenMetrics } from '../metrics/types';
import type { ResolvedAuditOptions } from './options';
import { AUDIT_SCHEMA_VERSION, type AuditEvent } from './types';

/** An event as the pipeline reports it; the trail adds version, id and time. */
export type AuditEventInput = Omit<AuditEvent, 'schemaVersion' | 'id' | 'time'>;

/** What the trail needs from its warden. */
export interface AuditTrailContext {
  readonly clock: Clock;
  readonly metrics: WardenMetrics;
  /** Rate-limited error log. */
  readonly logError: (message: string, error: unknown) => void;
}

const MAX_QUEUE = 10_000;

/**
 * Between the pipeline and the sinks: stamps events, queues them and hands them to every sink in
 * batches, off the request path. Failures are counted and logged, never thrown into a request.
 */
export class AuditTrail {
  private queue: AuditEvent[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly options: ResolvedAuditOptions,
    private readonly context: AuditTrailContext,
  ) {}

  /** Whether any sink receives events. */
  get enabled(): boolean {
    return this.options.sinks.length > 0;
  }

  /** Stamps and queues one event. Never throws. */
  record(input: AuditEventInput): void {
    if (!this.enabled) return;
    const { type, outcome, ...rest } = input;
    const event = clean({
      schemaVersion: AUDIT_SCHEMA_VERSION,
      id: randomUUID(),
      time: new Date(this.context.clock.now()).toISOString(),
      type,
      outcome,
      ...rest,
    }) as AuditEvent;
    if (this.queue.length >= MAX_QUEUE) {
      this.context.metrics.auditEvents('dropped', 1);
      this.context.logError('audit queue full; events are dropped', new Error('queue full'));
      return;
    }
    this.queue.push(event);
    this.context.metrics.auditQueueDepth(this.queue.length);
    this.flushing ??= nextTick().then(() => this.deliver());
  }

  /** Resolves when every event recorded so far has been handed to the sinks. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Flushes, then closes every sink. */
  async close(): Promise<void> {
    await this.flush();
    for (const sink of this.options.sinks) await sink.close?.();
  }

  /** Hands the queued events to every sink as one batch. */
  private async deliver(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.context.metrics.auditQueueDepth(0);
    await Promise.all(
      this.options.sinks.map(async (sink) => {
        const started = performance.now();
        try {
          await sink.write(batch);
          this.context.metrics.auditSinkWrite((performance.now() - started) / 1000, false);
          this.context.metrics.auditEvents('written', batch.length);
        } catch (error) {
          this.context.metrics.auditSinkWrite((performance.now() - started) / 1000, true);
          this.context.metrics.auditEvents('failed', batch.length);
          this.context.logError('audit sink failed; events were not written', error);
        }
      }),
    );
    this.flushing = this.queue.length > 0 ? nextTick().then(() => this.deliver()) : undefined;
  }
}

function nextTick(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** A copy without the absent fields. */
export function clean<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
