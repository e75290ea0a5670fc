import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  auditLine,
  canonicalJson,
  ChainHasher,
  MemorySink,
  parseAuditLine,
  verifyChains,
  type AuditEvent,
  type ChainHead,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { resolveAuditOptions } from '../../src/audit/options';
import { AuditTrail } from '../../src/audit/trail';
import { countingMetrics, decision } from './support';

async function chain(count: number, chainKey?: Buffer): Promise<AuditEvent[]> {
  const sink = new MemorySink();
  const trail = new AuditTrail(
    resolveAuditOptions({
      sinks: [sink],
      ...(chainKey === undefined ? { chain: false } : { chainKey }),
      producer: 'api-1',
    }),
    {
      clock: new FakeClock(Date.UTC(2030, 0, 1)),
      metrics: countingMetrics(),
      logError: () => undefined,
    },
  );
  for (let i = 1; i <= count; i++) {
    trail.record(
      i % 4 === 0
        ? {
            type: 'consent.granted',
            outcome: 'success',
            dataSubject: 'c-1',
            purpose: 'marketing',
            detail: { source: 'form', expiresAt: i },
          }
        : decision(i),
    );
  }
  await trail.close();
  // As a reader sees them: parsed from the stored lines.
  return sink.events.map((e) => parseAuditLine(auditLine(e)));
}

function head(events: readonly AuditEvent[]): ChainHead {
  const last = events[events.length - 1]!;
  return { producer: last.producer!, seq: last.seq!, hash: last.hash! };
}

function kinds(events: Iterable<AuditEvent>, options: Parameters<typeof verifyChains>[1] = {}) {
  return verifyChains(events, options).flatMap((r) => r.problems.map((p) => [p.kind, p.seq]));
}

describe('the hash chain', () => {
  it('links each event to the one before, from seq 1, and verifies as intact', async () => {
    const events = await chain(10);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(events[0]!.prevHash).toBeUndefined();
    for (let i = 1; i < events.length; i++) expect(events[i]!.prevHash).toBe(events[i - 1]!.hash);
    expect(events[0]!.id).toBe(`${events[0]!.producer}/1`);
    expect(events[0]!.producer).toMatch(/^api-1\.[0-9a-z]+-[0-9a-f]{6}$/);
    const [report] = verifyChains(events, { heads: [head(events)] });
    expect(report).toMatchObject({
      events: 10,
      firstSeq: 1,
      lastSeq: 10,
      intact: true,
      keyed: false,
    });
  });

  it('hashes a canonical form: field order and detail key order do not matter', async () => {
    const [event] = await chain(4).then((e) => e.slice(3));
    const shuffled = Object.fromEntries(Object.entries(event!).reverse()) as unknown as AuditEvent;
    const detail = event!.detail!;
    const reordered = {
      ...shuffled,
      detail: Object.fromEntries(Object.entries(detail).reverse()),
    } as AuditEvent;
    expect(canonicalJson(reordered)).toBe(canonicalJson(event!));
    expect(new ChainHasher(undefined).digest(canonicalJson(reordered))).toBe(event!.hash);
  });

  it('detects an altered field', async () => {
    const events = await chain(6);
    events[2] = { ...events[2]!, subject: 'someone-else' };
    expect(kinds(events)).toEqual([['altered', 3]]);
  });

  it('detects an added field', async () => {
    const events = await chain(6);
    events[2] = { ...events[2]!, note: 'x' } as AuditEvent;
    expect(kinds(events)).toEqual([['altered', 3]]);
  });

  it('detects a deleted event', async () => {
    const events = await chain(6);
    events.splice(3, 1);
    expect(kinds(events)).toEqual([['missing', 5]]);
    const [report] = verifyChains(events);
    expect(report!.problems[0]!.message).toBe('event 4 is missing');
  });

  it('detects reordered events', async () => {
    const events = await chain(6);
    [events[2], events[3]] = [events[3]!, events[2]!];
    const found = kinds(events);
    expect(found).toContainEqual(['reordered', 3]);
    expect(verifyChains(events)[0]!.intact).toBe(false);
  });

  it('detects a cut tail against the recorded head, and the loss of every event', async () => {
    const events = await chain(6);
    const recorded = head(events);
    expect(kinds(events.slice(0, 4), { heads: [recorded] })).toEqual([['truncated', 6]]);
    expect(kinds([], { heads: [recorded] })).toEqual([['truncated', 6]]);
    // Trimmed by retention before the head was recorded: not a break.
    expect(kinds([], { heads: [{ ...recorded, at: 1000 }], retainedSince: 2000 })).toEqual([]);
  });

  it('an anchor kept from an earlier report catches a rewrite or a cut since then', async () => {
    const events = await chain(8);
    const [earlier] = verifyChains(events.slice(0, 5));
    const anchor: ChainHead = {
      producer: earlier!.producer,
      seq: earlier!.lastSeq!,
      hash: earlier!.lastHash!,
    };
    expect(kinds(events, { heads: [anchor] })).toEqual([]);
    // Someone without the chain key rebuilt the chain from event 3 on, with new content.
    const hasher = new ChainHasher(undefined);
    const rebuilt = events.map((e) => ({ ...e }) as Record<string, unknown>);
    for (let i = 2; i < rebuilt.length; i++) {
      if (i === 2) rebuilt[i]!.subject = 'rewritten';
      rebuilt[i]!.prevHash = rebuilt[i - 1]!.hash;
      delete rebuilt[i]!.hash;
      rebuilt[i]!.hash = hasher.digest(canonicalJson(rebuilt[i] as unknown as AuditEvent));
    }
    const forged = rebuilt as unknown as AuditEvent[];
    expect(kinds(forged)).toEqual([]); // internally consistent
    expect(kinds(forged, { heads: [anchor] })).toEqual([['altered', 5]]);
    expect(kinds(events.slice(0, 4), { heads: [anchor] })).toEqual([['truncated', 5]]);
  });

  it('detects a duplicated event', async () => {
    const events = await chain(4);
    events.splice(2, 0, events[1]!);
    expect(kinds(events)).toEqual([['duplicate', 2]]);
  });

  it('reports a chain that starts after seq 1 as trimmed, not broken', async () => {
    const events = (await chain(6)).slice(2);
    const [report] = verifyChains(events, { heads: [head(events)] });
    expect(report).toMatchObject({ intact: true, trimmedBefore: true, firstSeq: 3 });
  });

  it('an unkeyed chain can be rewritten by recomputing every hash; a keyed one cannot', async () => {
    const forge = (events: AuditEvent[], key?: Buffer): AuditEvent[] => {
      const hasher = new ChainHasher(key);
      let prev: string | undefined;
      return events.map((e, i) => {
        const changed: Record<string, unknown> = { ...e, prevHash: prev };
        if (i === 1) changed.subject = 'forged';
        delete changed.hash;
        const hash = hasher.digest(canonicalJson(changed as unknown as AuditEvent));
        prev = hash;
        return { ...changed, hash } as unknown as AuditEvent;
      });
    };
    const plain = await chain(4);
    expect(verifyChains(forge(plain))[0]!.intact).toBe(true);

    const key = randomBytes(32);
    const keyed = await chain(4, key);
    expect(keyed[0]!.hash).toMatch(/^hmac-sha256:/);
    expect(verifyChains(keyed, { key })[0]!.intact).toBe(true);
    // Without the key the forger cannot produce HMACs; a forgery with a guessed key fails.
    expect(kinds(forge(keyed, randomBytes(32)), { key })).toContainEqual(['altered', 1]);
    // Verifying a keyed chain without the key says so instead of passing it.
    expect(kinds(keyed)).toEqual([['unverifiable', 1]]);
    // With the key, a chain recomputed without one is refused, not passed.
    expect(kinds(forge(keyed), { key })).toEqual([['unkeyed', 1]]);
  });

  it('keeps the chains of several producers apart', async () => {
    const a = await chain(3);
    const b = await chain(3);
    const mixed = [a[0]!, b[0]!, b[1]!, a[1]!, a[2]!, b[2]!];
    const reports = verifyChains(mixed);
    expect(reports).toHaveLength(2);
    expect(reports.every((r) => r.intact && r.events === 3)).toBe(true);
  });

  it('reports events without chain fields as malformed unless told to skip them', () => {
    const loose = {
      schemaVersion: 1,
      id: 'x',
      time: 't',
      type: 'access.decision',
      outcome: 'allow',
    } as AuditEvent;
    expect(kinds([loose])).toEqual([['malformed', undefined]]);
    expect(verifyChains([loose], { skipUnchained: true })).toEqual([]);
  });
});
