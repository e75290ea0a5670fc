import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  AUDIT_SCHEMA_VERSION,
  canonicalJson,
  ChainHasher,
  verifyChains,
  type AuditEvent,
  type AuditSink,
} from '@tokenwarden/core/internal';

/** One sink under test, and a way to read back what its backend holds. */
export interface AuditSinkCase {
  readonly sink: AuditSink;
  /** Every event the backend holds, in stored order. */
  read(): Promise<AuditEvent[]>;
  /** Removes what the case created (keys, files). */
  cleanup?(): Promise<void>;
}

/** Makes a fresh, empty sink per test. */
export type MakeAuditSink = () => Promise<AuditSinkCase>;

const hasher = new ChainHasher(undefined);

/**
 * `count` chained events of `producer`, seq `from` onwards, as the audit trail seals them
 * (canonical field order, SHA-256 chain). `prevHash` of the first links to `after` when given.
 */
export function chainedEvents(
  producer: string,
  from: number,
  count: number,
  after?: string,
  fields: (seq: number) => Partial<AuditEvent> = () => ({}),
): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = after;
  for (let seq = from; seq < from + count; seq++) {
    const base: Record<string, unknown> = {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      id: `${producer}/${seq}`,
      time: new Date(Date.UTC(2030, 0, 1) + seq * 1000).toISOString(),
      producer,
      seq,
      type: 'access.decision',
      outcome: seq % 2 ? 'allow' : 'deny',
      reason: seq % 2 ? 'authorized' : 'insufficient_scope',
      subject: `user-${seq % 5}`,
      scopes: ['orders:read', 'orders:write'],
      route: '/orders/:id',
      method: 'GET',
      status: seq % 2 ? 200 : 403,
      requestId: `req-${producer}-${seq}`,
      ...fields(seq),
    };
    if (prev !== undefined) base.prevHash = prev;
    delete base.hash;
    const hash = hasher.digest(canonicalJson(base as unknown as AuditEvent));
    prev = hash;
    // In canonical field order, as the trail writes events.
    const ordered = JSON.parse(canonicalJson(base as unknown as AuditEvent)) as object;
    out.push({ ...ordered, hash } as unknown as AuditEvent);
  }
  return out;
}

/**
 * The behaviour every audit sink must have, run against a real backend: order kept, every field
 * intact (the chain still verifies), no duplicate when the trail replays events the sink already
 * stored, producers kept apart.
 *
 * @example
 * auditSinkContract('RedisStreamSink', async () => {
 *   const sink = new RedisStreamSink({ url, prefix });
 *   return { sink, read: () => readAll(prefix), cleanup: () => sink.close() };
 * });
 */
export function auditSinkContract(name: string, make: MakeAuditSink): void {
  describe(`audit sink contract: ${name}`, () => {
    let current: AuditSinkCase;
    beforeEach(async () => {
      current = await make();
    });
    afterEach(async () => {
      await current.cleanup?.();
    });

    it('stores batches in order with every field intact', async () => {
      const events = chainedEvents('p1', 1, 5);
      await current.sink.write(events.slice(0, 2));
      await current.sink.write(events.slice(2));
      const stored = await current.read();
      expect(stored).toEqual(events);
      expect(verifyChains(stored)).toEqual([
        expect.objectContaining({ producer: 'p1', events: 5, intact: true }),
      ]);
    });

    it('stores nothing twice when a batch is written again (a spool replay)', async () => {
      const events = chainedEvents('p1', 1, 6);
      await current.sink.write(events.slice(0, 4));
      // The trail saw the write fail (a lost acknowledgement) and replays from event 3.
      await current.sink.write(events.slice(2));
      await current.sink.write(events.slice(0, 6));
      const stored = await current.read();
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('keeps the events of several producers apart, each in order', async () => {
      const a = chainedEvents('node-a', 1, 3);
      const b = chainedEvents('node-b', 1, 3);
      await current.sink.write([a[0]!, b[0]!, a[1]!]);
      await current.sink.write([b[1]!, b[2]!, a[2]!]);
      const stored = await current.read();
      expect(stored.filter((e) => e.producer === 'node-a')).toEqual(a);
      expect(stored.filter((e) => e.producer === 'node-b')).toEqual(b);
      expect(verifyChains(stored).every((r) => r.intact)).toBe(true);
    });

    it('accepts an empty batch', async () => {
      await current.sink.write([]);
      expect(await current.read()).toEqual([]);
    });

    it('stores a large batch whole', async () => {
      const events = chainedEvents('bulk', 1, 2_000);
      await current.sink.write(events);
      const stored = await current.read();
      expect(stored).toHaveLength(2_000);
      expect(stored[1_999]).toEqual(events[1_999]);
    });

    it('keeps awkward strings exactly (quotes, newlines, non-ASCII, lone surrogates)', async () => {
      const events = chainedEvents('p1', 1, 1, undefined, () => ({
        subject: 'line\nbreak "quoted" \\ \u00e9 \ud83d\udd11 \ud800',
        detail: { note: '\u0000\u001f', n: 1.5, ok: true },
      }));
      await current.sink.write(events);
      expect(await current.read()).toEqual(events);
    });
  });
}
