import type { AuditEvent, AuditSink } from '@tokenwarden/core';
import { noopMetrics } from '../../src/metrics/prometheus';
import type { WardenMetrics } from '../../src/metrics/types';
import type { AuditEventInput } from '../../src/audit/types';

/** Metrics that count audit results, for assertions. */
export function countingMetrics(): WardenMetrics & {
  counts: Record<string, number>;
  depth: number;
  writes: { ok: number; failed: number };
} {
  const counts: Record<string, number> = {};
  const m = {
    ...noopMetrics,
    counts,
    depth: 0,
    writes: { ok: 0, failed: 0 },
    auditEvents(result: string, n: number) {
      counts[result] = (counts[result] ?? 0) + n;
    },
    auditQueueDepth(depth: number) {
      m.depth = depth;
    },
    auditSinkWrite(_seconds: number, failed: boolean) {
      if (failed) m.writes.failed += 1;
      else m.writes.ok += 1;
    },
  };
  return m;
}

/** A decision input with a request id. */
export function decision(n: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    type: 'access.decision',
    outcome: n % 3 === 0 ? 'deny' : 'allow',
    reason: n % 3 === 0 ? 'token_revoked' : 'authorized',
    subject: `user-${n % 7}`,
    scopes: ['orders:read'],
    route: '/orders/:id',
    method: 'GET',
    requestId: `req-${n}`,
    ...extra,
  };
}

/**
 * A sink that can be switched off, that stores each event once per id (so duplicates sent would
 * show in `received`), and counts every event it was handed.
 */
export class SwitchableSink implements AuditSink {
  readonly stored: AuditEvent[] = [];
  /** Every event handed to write, including retries. */
  received = 0;
  down = false;
  /** Fail every n-th write (0: never). */
  failEvery = 0;
  /** After a successful store, throw anyway (the write landed but the caller sees a failure). */
  loseAck = false;
  private calls = 0;

  constructor(readonly name = 'switchable') {}

  async write(events: readonly AuditEvent[]): Promise<void> {
    this.calls += 1;
    this.received += events.length;
    if (this.down) throw new Error('sink down');
    if (this.failEvery > 0 && this.calls % this.failEvery === 0) throw new Error('flaky');
    const last = new Map<string, number>();
    for (const e of this.stored) last.set(e.producer ?? '', e.seq ?? 0);
    for (const e of events) {
      if ((e.seq ?? 0) <= (last.get(e.producer ?? '') ?? 0)) continue;
      last.set(e.producer ?? '', e.seq ?? 0);
      this.stored.push(e);
    }
    if (this.loseAck) {
      this.loseAck = false;
      throw new Error('ack lost');
    }
  }
}

/** Ids of events that occur more than once. */
export function duplicates(events: readonly AuditEvent[]): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const e of events) {
    if (seen.has(e.id)) dup.push(e.id);
    seen.add(e.id);
  }
  return dup;
}
