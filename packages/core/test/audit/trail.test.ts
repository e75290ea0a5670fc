import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditLine,
  AuditUnavailableError,
  canonicalJson,
  CANONICAL_FIELDS,
  ChainHasher,
  ConfigError,
  MemorySink,
  verifyChains,
  type AuditEvent,
  type AuditOptions,
  type AuditSink,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { resolveAuditOptions } from '../../src/audit/options';
import { IsoTimes } from '../../src/audit/iso-times';
import { AuditTrail } from '../../src/audit/trail';
import type { AuditEventInput } from '../../src/audit/types';
import { countingMetrics, decision, duplicates, SwitchableSink } from './support';

const T0 = Date.UTC(2030, 0, 1, 12);

function makeTrail(options: AuditOptions) {
  const metrics = countingMetrics();
  const errors: string[] = [];
  const trail = new AuditTrail(
    resolveAuditOptions({ producer: 'test', chain: false, ...options }),
    {
      clock: new FakeClock(T0),
      metrics,
      logError: (message) => errors.push(message),
    },
  );
  return { trail, metrics, errors };
}

/** A sink that keeps each batch it was handed. */
class BatchSink implements AuditSink {
  readonly batches: AuditEvent[][] = [];
  async write(events: readonly AuditEvent[]): Promise<void> {
    this.batches.push([...events]);
  }
}

function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tokenwarden-trail-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('AuditTrail: async mode', () => {
  it('returns at once, writes nothing on the request path, and batches by count', async () => {
    const sink = new BatchSink();
    const { trail } = makeTrail({ sinks: [sink], batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 1; i <= 7; i++) expect(trail.record(decision(i))).toBeUndefined();
    expect(sink.batches).toHaveLength(0);
    await until(() => sink.batches.length >= 2);
    expect(sink.batches.map((b) => b.length)).toEqual([3, 3]);
    await trail.flush();
    expect(sink.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(sink.batches.flat().map((e) => e.requestId)).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((i) => `req-${i}`),
    );
    await trail.close();
  });

  it('batches by time: a lone event goes out after flushIntervalMs without a flush', async () => {
    const sink = new BatchSink();
    const { trail } = makeTrail({ sinks: [sink], flushIntervalMs: 10 });
    trail.record(decision(1));
    trail.record(decision(2));
    expect(sink.batches).toHaveLength(0);
    await until(() => sink.batches.length === 1);
    expect(sink.batches[0]).toHaveLength(2);
    await trail.close();
  });

  it('stamps version, stable id, time and chain fields, and drops fields it does not know', async () => {
    const sink = new MemorySink();
    const { trail } = makeTrail({ sinks: [sink] });
    trail.record({ ...decision(1), extra: 'smuggled' } as never);
    await trail.flush();
    const [event] = sink.events;
    expect(event).toMatchObject({
      schemaVersion: 2,
      id: `${trail.producer}/1`,
      time: new Date(T0).toISOString(),
      producer: trail.producer,
      seq: 1,
      requestId: 'req-1',
    });
    expect(Object.keys(event!)[0]).toBe('schemaVersion');
    expect(event).not.toHaveProperty('extra');
    expect(event!.hash).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
  });

  it('seals every field in canonical order, with the canonical JSON as its line', async () => {
    const sink = new MemorySink();
    const { trail } = makeTrail({ sinks: [sink] });
    const full: Required<AuditEventInput> = {
      type: 'consent.withdrawn',
      outcome: 'allow',
      reason: 'authorized',
      tokenId: 'jti-1',
      tokenFingerprint: 'fp',
      subject: 'user-1',
      client: 'web-app',
      scopes: ['orders:read'],
      route: '/orders/:id',
      method: 'GET',
      status: 200,
      dataSubject: 'user-2',
      purpose: 'marketing',
      lawfulBasis: 'consent',
      requestId: 'req-1',
      clientAddress: '203.0.113.0/24',
      userAgent: 'curl/8',
      actor: 'admin',
      detail: { z: 1, a: 'x' },
    };
    // Given in reverse order: the event comes out in canonical order all the same.
    trail.record(Object.fromEntries(Object.entries(full).reverse()) as never);
    trail.record(decision(2));
    await trail.flush();
    const [first, second] = sink.events;
    // `sealed` only with audit.subjectKeys (see seal.test.ts).
    expect(Object.keys(first!)).toEqual([
      ...CANONICAL_FIELDS.filter((f) => f !== 'prevHash' && f !== 'sealed'),
      'hash',
    ]);
    expect(Object.keys(first!.detail!)).toEqual(['a', 'z']);
    expect(Object.keys(second!).slice(-2)).toEqual(['prevHash', 'hash']);
    for (const event of [first!, second!]) {
      expect(auditLine(event)).toBe(JSON.stringify(event));
      expect(new ChainHasher(undefined).digest(canonicalJson(event))).toBe(event.hash);
    }
    expect(verifyChains(sink.events)[0]!.intact).toBe(true);
  });

  it('counts the queue depth and drops past maxQueue, counted and logged, without a chain gap', async () => {
    const sink = new MemorySink();
    const { trail, metrics, errors } = makeTrail({
      sinks: [sink],
      maxQueue: 2,
      batchSize: 100,
      flushIntervalMs: 60_000,
    });
    trail.record(decision(1));
    trail.record(decision(2));
    expect(metrics.depth).toBe(2);
    trail.record(decision(3));
    expect(metrics.counts.dropped).toBe(1);
    expect(errors).toContain('audit queue full; events are dropped');
    await trail.flush();
    expect(metrics.depth).toBe(0);
    expect(sink.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(verifyChains(sink.events)[0]!.intact).toBe(true);
  });
});

describe('AuditTrail: a failing sink and the spool', () => {
  it.each(['memory', 'file'])(
    'spools while the sink is down and replays in order, once each, when it recovers (%s spool)',
    async (kind) => {
      const sink = new SwitchableSink();
      const healthy = new MemorySink();
      const { trail, metrics } = makeTrail({
        sinks: [sink, healthy],
        batchSize: 4,
        retryIntervalMs: 60_000,
        spoolDir: kind === 'file' ? dir : undefined,
      });
      sink.down = true;
      for (let i = 1; i <= 10; i++) trail.record(decision(i));
      await trail.flush();
      expect(sink.stored).toHaveLength(0);
      expect(healthy.events).toHaveLength(10);
      expect(metrics.counts.failed).toBe(4); // the first batch failed; the rest went to the spool
      expect(metrics.counts.spooled).toBe(10);
      expect(trail.stats().spooledBytes).toBeGreaterThan(0);
      // While the spool holds events, new ones queue behind them instead of jumping ahead.
      sink.down = false;
      for (let i = 11; i <= 12; i++) trail.record(decision(i));
      await trail.flush();
      expect(sink.stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(metrics.counts.replayed).toBe(12);
      expect(metrics.counts.written).toBe(12); // the healthy sink's direct writes
      expect(trail.stats().spooledBytes).toBe(0);
      expect(duplicates(sink.stored)).toEqual([]);
      expect(verifyChains(sink.stored)[0]!.intact).toBe(true);
      await trail.close();
    },
  );

  it('retries by itself after retryIntervalMs, without a flush', async () => {
    const sink = new SwitchableSink();
    const { trail } = makeTrail({ sinks: [sink], retryIntervalMs: 5, flushIntervalMs: 1 });
    sink.down = true;
    trail.record(decision(1));
    await until(() => sink.received > 0);
    sink.down = false;
    await until(() => sink.stored.length === 1);
    await trail.close();
  });

  it('a write that landed but reported failure is not stored twice after the replay', async () => {
    const sink = new SwitchableSink();
    const { trail } = makeTrail({ sinks: [sink], retryIntervalMs: 60_000 });
    sink.loseAck = true;
    for (let i = 1; i <= 5; i++) trail.record(decision(i));
    await trail.flush();
    expect(sink.received).toBe(10); // written, then written again from the spool
    expect(sink.stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    await trail.close();
  });

  it('a write that does not answer in time counts as failed and is spooled', async () => {
    let calls = 0;
    const hanging: AuditSink = {
      write: () => {
        calls += 1;
        return calls === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
      },
    };
    const { trail, metrics } = makeTrail({
      sinks: [hanging],
      writeTimeoutMs: 20,
      retryIntervalMs: 60_000,
    });
    trail.record(decision(1));
    await trail.flush();
    expect(metrics.counts.failed).toBe(1);
    expect(metrics.counts.replayed).toBe(1);
    expect(metrics.writes).toEqual({ ok: 1, failed: 1 });
    await trail.close();
  });

  it('an intermittently failing sink ends with every event exactly once, in order', async () => {
    const sink = new SwitchableSink();
    sink.failEvery = 3;
    const { trail, metrics } = makeTrail({
      sinks: [sink],
      batchSize: 7,
      retryIntervalMs: 1,
      flushIntervalMs: 1,
    });
    for (let i = 1; i <= 500; i++) {
      trail.record(decision(i));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await trail.flush();
    await until(() => sink.stored.length === 500);
    await trail.flush();
    expect(sink.stored.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(duplicates(sink.stored)).toEqual([]);
    expect(metrics.counts.failed ?? 0).toBeGreaterThan(0);
    expect((metrics.counts.written ?? 0) + (metrics.counts.replayed ?? 0)).toBe(500);
    await trail.close();
  });

  it('a file spool survives a restart: the next trail replays it into the sink', async () => {
    const sink = new SwitchableSink('siem');
    const first = makeTrail({ sinks: [sink], spoolDir: dir, retryIntervalMs: 60_000 });
    sink.down = true;
    for (let i = 1; i <= 3; i++) first.trail.record(decision(i));
    await first.trail.close();
    expect(await readFile(join(dir, 'siem.spool'), 'utf8')).toMatch(/"requestId":"req-3"/);

    sink.down = false;
    const second = makeTrail({ sinks: [sink], spoolDir: dir, retryIntervalMs: 60_000 });
    second.trail.record(decision(4));
    await second.trail.flush();
    expect(sink.stored.map((e) => e.requestId)).toEqual(['req-1', 'req-2', 'req-3', 'req-4']);
    expect(sink.stored[0]!.producer).toBe(first.trail.producer);
    expect(sink.stored[3]!.producer).toBe(second.trail.producer);
    expect(await readFile(join(dir, 'siem.spool'), 'utf8')).toBe('');
    await second.trail.close();
  });

  it('cuts a partial last line left by a crash and skips unreadable lines, counting them', async () => {
    const source = new MemorySink();
    const { trail: maker } = makeTrail({ sinks: [source] });
    for (let i = 1; i <= 2; i++) maker.record(decision(i));
    await maker.close();
    const lines = source.events.map((e) => JSON.stringify(e));
    await writeFile(join(dir, 'siem.spool'), `${lines[0]}\nnot json\n${lines[1]}\n{"partial":`);
    const sink = new SwitchableSink('siem');
    const { trail, metrics } = makeTrail({ sinks: [sink], spoolDir: dir });
    await trail.flush();
    expect(sink.stored.map((e) => e.requestId)).toEqual(['req-1', 'req-2']);
    expect(metrics.counts.dropped).toBe(1);
    await trail.close();
  });

  it('refuses two trails on one spool directory, and two sinks with one name', () => {
    const sink = new MemorySink();
    const { trail } = makeTrail({ sinks: [sink], spoolDir: dir });
    expect(() => makeTrail({ sinks: [new MemorySink()], spoolDir: dir })).toThrow(ConfigError);
    expect(() => makeTrail({ sinks: [new MemorySink(10, 'a'), new MemorySink(10, 'a')] })).toThrow(
      /two audit sinks are named 'a'/,
    );
    return trail.close();
  });

  it('memory-spooled events still waiting at close are counted as dropped', async () => {
    const sink = new SwitchableSink();
    const { trail, metrics } = makeTrail({ sinks: [sink], retryIntervalMs: 60_000 });
    sink.down = true;
    trail.record(decision(1));
    await trail.close();
    expect(metrics.counts.dropped).toBe(1);
  });
});

describe('AuditTrail: failure policy', () => {
  it("'drop': when the spool is full too, events are dropped and counted; requests go on", async () => {
    const sink = new SwitchableSink();
    const { trail, metrics, errors } = makeTrail({
      sinks: [sink],
      spoolMaxBytes: 1,
      retryIntervalMs: 60_000,
    });
    sink.down = true;
    trail.record(decision(1));
    await trail.flush();
    expect(metrics.counts.dropped).toBe(1);
    expect(errors).toContain('audit spool cannot take events; they are dropped');
    expect(trail.available).toBe(true);
    await trail.close();
  });

  it("'refuse': unavailable while nothing can store events, available again once the sink takes them", async () => {
    const sink = new SwitchableSink();
    const { trail } = makeTrail({
      sinks: [sink],
      spoolMaxBytes: 1,
      onFailure: 'refuse',
      retryIntervalMs: 5,
    });
    expect(trail.available).toBe(true);
    sink.down = true;
    trail.record(decision(1));
    await trail.flush();
    expect(trail.available).toBe(false);
    sink.down = false;
    await until(() => trail.available);
    trail.record(decision(2));
    await trail.flush();
    expect(sink.stored.map((e) => e.seq)).toEqual([2]);
    await trail.close();
  });

  it("'refuse': a full queue makes the trail unavailable", () => {
    const { trail } = makeTrail({
      sinks: [new MemorySink()],
      maxQueue: 1,
      flushIntervalMs: 60_000,
      onFailure: 'refuse',
    });
    trail.record(decision(1));
    expect(trail.available).toBe(false);
    return trail.close();
  });
});

describe('AuditTrail: sync mode (group commit)', () => {
  it('resolves once the event is stored, and concurrent requests share one write', async () => {
    const sink = new BatchSink();
    const { trail } = makeTrail({ sinks: [sink], mode: 'sync', spoolDir: dir });
    const pending = Array.from({ length: 100 }, (_, i) => trail.record(decision(i + 1)));
    expect(pending.every((p) => p instanceof Promise)).toBe(true);
    expect(sink.batches).toHaveLength(0);
    await Promise.all(pending);
    expect(sink.batches).toHaveLength(1);
    expect(sink.batches[0]).toHaveLength(100);
    // While one write is in flight, new events form the next group.
    const more = [trail.record(decision(101)), trail.record(decision(102))];
    await Promise.all(more);
    expect(sink.batches.map((b) => b.length)).toEqual([100, 2]);
    await trail.close();
  });

  it('a sink that is down: the event is durable in the file spool, and the promise resolves', async () => {
    const sink = new SwitchableSink();
    const { trail, metrics } = makeTrail({
      sinks: [sink],
      mode: 'sync',
      spoolDir: dir,
      retryIntervalMs: 60_000,
    });
    sink.down = true;
    await expect(trail.record(decision(1))).resolves.toBeUndefined();
    expect(metrics.counts.spooled).toBe(1);
    expect(await readFile(join(dir, 'switchable.spool'), 'utf8')).toMatch(/"req-1"/);
    await trail.close();
  });

  it("neither sink nor spool: rejects with audit_unavailable under 'refuse', resolves under 'drop'", async () => {
    for (const onFailure of ['refuse', 'drop'] as const) {
      const sink = new SwitchableSink();
      const sub = join(dir, onFailure);
      const { trail, metrics } = makeTrail({
        sinks: [sink],
        mode: 'sync',
        spoolDir: sub,
        spoolMaxBytes: 1,
        onFailure,
        retryIntervalMs: 60_000,
      });
      sink.down = true;
      const result = trail.record(decision(1));
      if (onFailure === 'refuse') {
        const error = await result?.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AuditUnavailableError);
        expect((error as AuditUnavailableError).code).toBe('audit_unavailable');
      } else {
        await expect(result).resolves.toBeUndefined();
      }
      expect(metrics.counts.dropped).toBe(1);
      await trail.close();
    }
  });

  it('an ignored rejection does not surface as an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const { trail } = makeTrail({
        sinks: [new MemorySink()],
        mode: 'sync',
        spoolDir: dir,
        maxQueue: 1,
        onFailure: 'refuse',
      });
      trail.record(decision(1));
      trail.record(decision(2)); // over maxQueue: rejected, and nobody listens
      await trail.close();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });
});

describe('audit options', () => {
  it.each([
    [{ mode: 'sync' }, /audit.mode 'sync' needs audit.spoolDir/],
    [{ mode: 'later' }, /audit.mode must be 'async' or 'sync'/],
    [{ onFailure: 'ignore' }, /audit.onFailure must be 'drop' or 'refuse'/],
    [{ batchSize: 0 }, /audit.batchSize must be a whole number from 1/],
    [{ flushIntervalMs: -1 }, /audit.flushIntervalMs must be a whole number/],
    [{ chainKey: 'short' }, /audit.chainKey must be at least 32 bytes/],
    [{ producer: 'has space' }, /audit.producer must be 1 to 48 characters/],
    [{ sinks: [{}] }, /audit.sinks must be a list of sinks/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveAuditOptions(options as AuditOptions)).toThrow(message);
  });
});

describe('IsoTimes', () => {
  it('writes exactly what toISOString writes, across seconds, days and odd inputs', () => {
    const times = new IsoTimes();
    const samples = [
      0,
      999,
      1_000,
      T0,
      T0 + 1,
      T0 + 10,
      T0 + 100,
      T0 + 999,
      T0 + 1_000,
      T0 + 86_399_999,
      T0 - 1,
      253_402_300_799_999,
      253_402_300_800_000,
      -1,
      T0 + 0.5,
    ];
    for (let i = 0; i < 2_000; i++) samples.push(T0 + Math.floor(Math.random() * 5_000));
    for (const ms of samples) expect(times.of(ms)).toBe(new Date(ms).toISOString());
  });
});
