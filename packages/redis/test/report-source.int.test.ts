import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { StoreUnavailableError, type AuditEvent } from '@tokenwarden/core';
import { exposureReport, scopesReport, type ReadProgress } from '@tokenwarden/core/reports';
import { chainedEvents, deleteKeys } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { auditKeys, AuditStreamReader, RedisAuditSource, RedisStreamSink } from '../src';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-report-source-${randomBytes(6).toString('hex')}-`;
let n = 0;
let prefix = '';
let redis: Redis;

/** 300 events of one producer, 100 ms apart, ending a few seconds ago; tok-a every third. */
function trail(start: number): AuditEvent[] {
  return chainedEvents('node-1', 1, 300, undefined, (seq) => ({
    time: new Date(start + seq * 100).toISOString(),
    tokenId: seq % 3 === 0 ? 'tok-a' : 'tok-b',
    client: 'crm',
    dataSubject: `c-${seq % 11}`,
  }));
}

async function seed(events: AuditEvent[]): Promise<void> {
  const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
  await sink.write(events);
  await sink.close();
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
beforeEach(() => {
  prefix = `${BASE}${(n += 1)}:`;
});
afterEach(async () => {
  await deleteKeys(PORT, prefix);
});
afterAll(async () => {
  await deleteKeys(PORT, BASE);
  await redis.quit();
});

describe('RedisAuditSource', () => {
  it('feeds a report from the stream, page by page, and the chain verifies', async () => {
    const start = Date.now() - 60_000;
    const events = trail(start);
    await seed(events);
    const source = new RedisAuditSource({ connection: { url: REDIS_URL, prefix }, pageSize: 50 });
    const progress: ReadProgress[] = [];
    try {
      const report = await exposureReport(
        source,
        { tokenId: 'tok-a' },
        { onProgress: (p) => progress.push(p) },
      );
      expect(report.source).toBe(`redis stream ${auditKeys(prefix).stream}`);
      expect(report.eventsRead).toBe(300);
      expect(report.chain.verified).toBe(true);
      expect(report.didReach.uses).toBe(100);
      // chainedEvents allows odd sequence numbers: tok-a's are 3, 9, 15, …
      expect(report.didReach.allowed).toBe(50);
      expect(report.didReach.dataSubjects).toBe(11);
      expect(progress[0]!.unit).toBe('ms');
      expect(progress[progress.length - 1]!.events).toBe(300);
    } finally {
      await source.close();
    }
  });

  it('keeps only the events whose own time is in the window', async () => {
    const start = Date.now() - 60_000;
    await seed(trail(start));
    const since = start + 100 * 100;
    const until = start + 200 * 100;
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
    const source = new RedisAuditSource({ reader });
    try {
      const report = await scopesReport(source, { since, until });
      expect(report.eventsRead).toBe(101);
      expect(report.period).toEqual(
        expect.objectContaining({
          since: new Date(since).toISOString(),
          until: new Date(until).toISOString(),
          firstEvent: new Date(since).toISOString(),
          lastEvent: new Date(until).toISOString(),
        }),
      );
      expect(report.chain.verified).toBe(true);
      expect(report.chain.chains[0]).toEqual(
        expect.objectContaining({ firstSeq: 100, lastSeq: 200, startsAfterFirst: true }),
      );
    } finally {
      await source.close();
      // The reader was given: the source leaves it open.
      expect((await reader.info()).length).toBeGreaterThan(0);
      await reader.close();
    }
  });

  it('says where the stream holds an unreadable entry or lost an event', async () => {
    const events = trail(Date.now() - 60_000);
    await seed(events.filter((e) => e.seq !== 5));
    const id = await redis.xadd(auditKeys(prefix).stream, '*', 'e', 'not an event');
    const source = new RedisAuditSource({ connection: { url: REDIS_URL, prefix } });
    try {
      const report = await exposureReport(source, { client: 'crm' });
      expect(report.chain.verified).toBe(false);
      expect(report.chain.unreadable).toBe(1);
      expect(report.chain.unreadableAt).toEqual([`entry ${id}`]);
      expect(report.chain.chains[0]!.problems).toEqual([
        expect.objectContaining({ kind: 'missing', seq: 6 }),
      ]);
    } finally {
      await source.close();
    }
  });

  it('fails with store_unavailable when Redis cannot be reached', async () => {
    const source = new RedisAuditSource({
      connection: { url: 'redis://127.0.0.1:1', prefix, commandTimeoutMs: 200 },
    });
    try {
      await expect(exposureReport(source, { client: 'crm' })).rejects.toThrow(
        StoreUnavailableError,
      );
    } finally {
      await source.close();
    }
  });

  it('refuses to be built without a reader or a connection', () => {
    expect(() => new RedisAuditSource({})).toThrow(/needs a 'reader' or a 'connection'/);
  });
});
