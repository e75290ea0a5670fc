import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  StoreUnavailableError,
  verifyChains,
  type AuditEvent,
} from '@tokenwarden/core/internal';
import {
  auditSinkContract,
  chainedEvents,
  deleteKeys,
  FakeClock,
  RedisServer,
} from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import {
  AuditStreamReader,
  auditKeys,
  MAX_ENTRY_CHARS,
  MAX_EVENTS_PER_ENTRY,
  RedisStreamSink,
} from '../src';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const FILE_PREFIX = `tw-audit-test-${randomBytes(6).toString('hex')}-`;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

async function readAll(prefix: string): Promise<AuditEvent[]> {
  const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
  try {
    const out: AuditEvent[] = [];
    for await (const { event } of reader.range()) if (event) out.push(event);
    return out;
  } finally {
    await reader.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await deleteKeys(PORT, FILE_PREFIX);
});

auditSinkContract('RedisStreamSink', async () => {
  const prefix = nextPrefix();
  const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
  return {
    sink,
    read: () => readAll(prefix),
    cleanup: async () => {
      await sink.close();
      await deleteKeys(PORT, prefix);
    },
  };
});

describe('RedisStreamSink', () => {
  let client: Redis;
  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await client.quit();
  });

  it('packs consecutive events of a producer into entries of JSON lines, under the prefix with the hash tag', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const events = chainedEvents('p', 1, 250);
    await sink.write(events);
    await sink.close();
    const keys = auditKeys(prefix);
    expect(keys.stream).toBe(`${prefix}{tw}:audit:stream`);
    const entries = await client.xrange(keys.stream, '-', '+');
    expect(entries.map(([, fields]) => fields[3])).toEqual([
      String(MAX_EVENTS_PER_ENTRY),
      String(MAX_EVENTS_PER_ENTRY),
      '50',
    ]);
    const [, fields] = entries[0]!;
    expect(fields[0]).toBe('lines');
    expect(fields[2]).toBe('n');
    // Every line is one event, readable on its own.
    const lines = fields[1]!.split('\n');
    expect(lines).toHaveLength(MAX_EVENTS_PER_ENTRY);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(events.slice(0, 100));
  });

  it('stores multi-byte text of an entry byte for byte', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const events = chainedEvents('p', 1, 3).map((event, i) => ({
      ...event,
      client: ['crm-é', 'ünïcode-客户', 'emoji-🔑'][i],
    }));
    await sink.write(events);
    await sink.close();
    const entries = await client.xrange(auditKeys(prefix).stream, '-', '+');
    expect(entries).toHaveLength(1);
    const lines = entries[0]![1][1]!.split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(events);
  });

  it('starts a new entry at a gap in the sequence and once an entry is large', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const big = 'x'.repeat(MAX_ENTRY_CHARS / 2);
    const events = chainedEvents('p', 1, 10, undefined, (seq) =>
      seq > 5 ? { detail: { note: big } } : {},
    );
    // Event 3 went missing (a corrupt spool line): 1-2, then 4-7 (the entry is full once it
    // holds two large events), 8-9, 10.
    await sink.write([...events.slice(0, 2), ...events.slice(3)]);
    await sink.close();
    const entries = await client.xrange(auditKeys(prefix).stream, '-', '+');
    expect(entries.map(([, fields]) => Number(fields[3]))).toEqual([2, 4, 2, 1]);
    expect((await readAll(prefix)).map((e) => e.seq)).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('stores only the part of a replayed entry above the recorded head', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const events = chainedEvents('p', 1, 150);
    await sink.write(events.slice(0, 130));
    // A replay from event 90: 90-130 are stored already; 131-150 are new.
    await sink.write(events.slice(89));
    await sink.close();
    const entries = await client.xrange(auditKeys(prefix).stream, '-', '+');
    expect(entries.map(([, fields]) => Number(fields[3]))).toEqual([100, 30, 20]);
    const stored = await readAll(prefix);
    expect(stored).toEqual(events);
    expect(verifyChains(stored)[0]!.intact).toBe(true);
  });
  it('records each producer head beside the stream, so a cut tail shows', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const a = chainedEvents('node-a', 1, 4);
    const b = chainedEvents('node-b', 1, 2);
    await sink.write([...a.slice(0, 2), b[0]!]);
    await sink.write([b[1]!, ...a.slice(2)]);
    await sink.close();
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
    const heads = await reader.heads();
    expect(
      heads
        .map(({ producer, seq, hash }) => ({ producer, seq, hash }))
        .sort((x, y) => x.producer.localeCompare(y.producer)),
    ).toEqual([
      { producer: 'node-a', seq: 4, hash: a[3]!.hash },
      { producer: 'node-b', seq: 2, hash: b[1]!.hash },
    ]);
    const events = await readAll(prefix);
    expect(verifyChains(events, { heads }).every((r) => r.intact)).toBe(true);
    // Someone deletes the newest entry.
    const keys = auditKeys(prefix);
    const [newest] = await client.xrevrange(keys.stream, '+', '-', 'COUNT', 1);
    await client.xdel(keys.stream, newest![0]);
    const after = verifyChains(await readAll(prefix), { heads });
    expect(after.find((r) => r.producer === 'node-a')!.problems.map((p) => p.kind)).toEqual([
      'truncated',
    ]);
    await reader.close();
  });

  it('trims entries older than retentionMs at each write (fake clock)', async () => {
    const prefix = nextPrefix();
    const clock = new FakeClock(Date.now());
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix, retentionMs: 60_000, clock });
    await sink.write(chainedEvents('old', 1, 3));
    await sleep(5);
    const cut = Date.now();
    await sleep(5);
    // An hour later on the sink's clock, the first entries are past retention.
    clock.set(cut + 60_000);
    await sink.write(chainedEvents('new', 1, 2));
    expect((await readAll(prefix)).map((e) => e.producer)).toEqual(['new', 'new']);
    // retentionMs 0 keeps everything.
    const keep = new RedisStreamSink({ url: REDIS_URL, prefix, retentionMs: 0, clock });
    clock.advance(10 * 86_400_000);
    await keep.write(chainedEvents('later', 1, 1));
    expect(await readAll(prefix)).toHaveLength(3);
    await sink.close();
    await keep.close();
  });

  it('pipelines a batch of several producers and keeps their order', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const a = chainedEvents('a', 1, 3);
    const b = chainedEvents('b', 1, 3);
    const batch = [a[0]!, b[0]!, b[1]!, a[1]!, a[2]!, b[2]!];
    await sink.write(batch);
    expect((await readAll(prefix)).map((e) => e.id)).toEqual(batch.map((e) => e.id));
    await sink.close();
  });

  it('refuses events without chain fields', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const [event] = chainedEvents('p', 1, 1);
    const loose = { ...event!, seq: undefined };
    await expect(sink.write([loose as AuditEvent])).rejects.toThrow(/chained events only/);
    await sink.close();
  });

  it('rejects fast with StoreUnavailableError while Redis is down, and works again after', async () => {
    const server = await RedisServer.start();
    const sink = new RedisStreamSink({ url: server.url, prefix: 'down:' });
    try {
      await sink.write(chainedEvents('p', 1, 1));
      await server.kill();
      const started = performance.now();
      const error = await sink.write(chainedEvents('p', 2, 1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(3_000);
      await server.start();
      const deadline = Date.now() + 10_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok = await sink.write(chainedEvents('p', 2, 1)).then(
          () => true,
          () => false,
        );
        if (!ok) await sleep(100);
      }
      expect(ok).toBe(true);
    } finally {
      await sink.close();
      await server.dispose();
    }
  });

  it('validates its options without echoing a URL', () => {
    expect(() => new RedisStreamSink({} as never)).toThrow(ConfigError);
    expect(() => new RedisStreamSink({ url: REDIS_URL, client } as never)).toThrow(
      /exactly one of 'url'/,
    );
    let message = '';
    try {
      new RedisStreamSink({ url: 'http://user:hunter2@host' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(message).not.toContain('hunter2');
    expect(() => new RedisStreamSink({ url: REDIS_URL, retentionMs: -1 })).toThrow(
      /'retentionMs' must be a whole number/,
    );
  });

  it('uses a client it is given and never closes it', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ client, prefix });
    await sink.write(chainedEvents('p', 1, 1));
    await sink.close();
    expect(await client.ping()).toBe('PONG');
    expect(await readAll(prefix)).toHaveLength(1);
  });
});

describe('AuditStreamReader', () => {
  it('reads a time range page by page', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    await sink.write(chainedEvents('p', 1, 25));
    await sleep(5);
    const middle = Date.now();
    await sleep(5);
    await sink.write(chainedEvents('p', 26, 5));
    await sink.close();
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
    const seqs = async (options: Parameters<AuditStreamReader['range']>[0]) => {
      const out: number[] = [];
      for await (const { event } of reader.range(options)) out.push(event!.seq!);
      return out;
    };
    expect(await seqs({ pageSize: 7 })).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await seqs({ since: middle, pageSize: 2 })).toEqual([26, 27, 28, 29, 30]);
    expect(await seqs({ until: middle })).toHaveLength(25);
    // One entry per write: 25 events, then 5.
    expect(await reader.info()).toMatchObject({ length: 2 });
    await reader.close();
  });

  it('reads entries of one event as earlier versions wrote them, among packed ones', async () => {
    const prefix = nextPrefix();
    const client = new Redis(REDIS_URL);
    const events = chainedEvents('p', 1, 6);
    const { stream, heads } = auditKeys(prefix);
    // Events 1-3 in the one-event format (field e), then 4-6 written by this sink.
    for (const event of events.slice(0, 3)) {
      await client.xadd(stream, '*', 'e', JSON.stringify(event));
    }
    await client.hset(heads, 'p', `3 ${events[2]!.hash} ${Date.now()}`);
    await client.xadd(stream, '*', 'e', 'not json');
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    await sink.write(events.slice(1));
    await sink.close();
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
    const read = [];
    for await (const item of reader.range()) read.push(item);
    expect(read.map((r) => r.event?.seq)).toEqual([1, 2, 3, undefined, 4, 5, 6]);
    expect(read.map((r) => [r.index, r.last])).toEqual([
      [0, true],
      [0, true],
      [0, true],
      [0, true],
      [0, false],
      [1, false],
      [2, true],
    ]);
    expect(read[0]!.raw).toBe(JSON.stringify(events[0]));
    expect(read[5]!.raw).toBe(JSON.stringify(events[4]));
    expect(read[3]!.raw).toBe('not json');
    const ok = read.flatMap((r) => (r.event ? [r.event] : []));
    expect(verifyChains(ok, { heads: await reader.heads() })[0]!.intact).toBe(true);
    await reader.close();
    await client.quit();
  });

  it('acknowledges a packed entry to its consumer group only once all its events were handled', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const client = new Redis(REDIS_URL);
    const stop = new AbortController();
    const seen: number[] = [];
    let pendingMidway = -1;
    const following = (async () => {
      for await (const { event, last } of reader.follow({
        blockMs: 100,
        signal: stop.signal,
        group: { name: 'g', consumer: 'c' },
      })) {
        seen.push(event!.seq!);
        if (seen.length === 2) {
          const [count] = (await client.xpending(auditKeys(prefix).stream, 'g')) as [number];
          pendingMidway = count;
        }
        if (last && seen.length === 3) stop.abort();
      }
    })();
    const giveUp = setTimeout(() => stop.abort(), 5_000);
    await sleep(300);
    await sink.write(chainedEvents('p', 1, 3));
    await following;
    clearTimeout(giveUp);
    expect(seen).toEqual([1, 2, 3]);
    expect(pendingMidway).toBe(1);
    const [after] = (await client.xpending(auditKeys(prefix).stream, 'g')) as [number];
    expect(after).toBe(0);
    await sink.close();
    await reader.close();
    await client.quit();
  });

  it('follows new events, alone or as a consumer group that shares the work', async () => {
    const prefix = nextPrefix();
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    await sink.write(chainedEvents('p', 1, 2)); // before the follow: not seen
    const reader = new AuditStreamReader({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const controller = new AbortController();
    const seen: number[] = [];
    const following = (async () => {
      for await (const { event } of reader.follow({ blockMs: 100, signal: controller.signal })) {
        seen.push(event!.seq!);
        if (seen.length === 3) controller.abort();
      }
    })();
    // Group readers: two consumers, each entry to exactly one of them.
    const groupReaders = [1, 2].map(
      () => new AuditStreamReader({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 }),
    );
    const groupSeen: number[][] = [[], []];
    const groupStop = new AbortController();
    const groups = groupReaders.map(async (r, i) => {
      for await (const { event } of r.follow({
        blockMs: 100,
        signal: groupStop.signal,
        group: { name: 'siem', consumer: `c${i}` },
      })) {
        groupSeen[i]!.push(event!.seq!);
      }
    });
    await sleep(300);
    await sink.write(chainedEvents('p', 3, 3));
    await following;
    expect(seen).toEqual([3, 4, 5]);
    const deadline = Date.now() + 5_000;
    while (groupSeen.flat().length < 3 && Date.now() < deadline) await sleep(20);
    groupStop.abort();
    await Promise.all(groups);
    expect(groupSeen.flat().sort()).toEqual([3, 4, 5]);
    await sink.close();
    await reader.close();
    for (const r of groupReaders) await r.close();
  });
});
