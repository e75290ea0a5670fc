import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import {
  MemorySink,
  verifyChains,
  type AuditEvent,
  type AuditSink,
  type WardenOptions,
} from '@tokenwarden/core/internal';
import { tokenwarden, type TokenwardenMiddleware } from '@tokenwarden/express';
import { AuditStreamReader, RedisStreamSink } from '@tokenwarden/redis';
import { mintToken, RedisServer, testJwtOptions } from '@tokenwarden/testing';

/**
 * The audit trail loses nothing and duplicates nothing while its sink fails: steady traffic
 * through the Express adapter, the sink's Redis killed for seconds and restarted (or a sink that
 * fails now and then), then every answered request must have exactly one audit event, counted by
 * request id.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  tw: TokenwardenMiddleware;
  server: Server;
  port: number;
  spoolDir: string;
}

async function rig(sinks: AuditSink[], audit: Partial<WardenOptions['audit']> = {}): Promise<Rig> {
  const spoolDir = await mkdtemp(join(tmpdir(), 'tokenwarden-noloss-'));
  const tw = tokenwarden({
    jwt: testJwtOptions(),
    logger: { warn() {}, error() {} },
    audit: {
      sinks,
      spoolDir,
      fingerprintKey: randomBytes(32),
      flushIntervalMs: 10,
      retryIntervalMs: 100,
      ...audit,
    },
  });
  const app = express();
  app.use(tw);
  app.get('/data', (_req, res) => {
    res.json({ ok: true });
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { tw, server, port: (server.address() as AddressInfo).port, spoolDir };
}

async function dispose(r: Rig): Promise<void> {
  await r.tw.warden.close();
  await new Promise<void>((resolve) => r.server.close(() => resolve()));
  await rm(r.spoolDir, { recursive: true, force: true });
}

/** Sends requests from `workers` loops until `stop()`; collects the ids of answered requests. */
function traffic(port: number, workers = 4) {
  const token = mintToken({ lifetimeSeconds: 600 });
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const answered = new Set<string>();
  let sent = 0;
  let failed = 0;
  let running = true;
  const one = (id: string) =>
    new Promise<number>((resolve) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/data',
          agent,
          headers: { authorization: `Bearer ${token}`, 'x-request-id': id },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end();
    });
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const id = `r-${w}-${n}`;
      sent += 1;
      const status = await one(id);
      if (status === 200) answered.add(id);
      else failed += 1;
    }
  });
  return {
    answered,
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** Occurrences of each request id among the access events. */
function countByRequest(events: readonly AuditEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'access.decision' || e.requestId === undefined) continue;
    counts.set(e.requestId, (counts.get(e.requestId) ?? 0) + 1);
  }
  return counts;
}

function figures(answered: Set<string>, counts: Map<string, number>) {
  let lost = 0;
  let duplicated = 0;
  for (const id of answered) {
    const n = counts.get(id) ?? 0;
    if (n === 0) lost += 1;
    if (n > 1) duplicated += 1;
  }
  const unanswered = [...counts.keys()].filter((id) => !answered.has(id)).length;
  return { lost, duplicated, unanswered };
}

async function metric(tw: TokenwardenMiddleware, result: string): Promise<number> {
  const text = await tw.warden.metrics.render();
  const m = new RegExp(`tokenwarden_audit_events_total\\{result="${result}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

describe('audit trail: no loss, no duplicate', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    // Append-only file, fsync always: an acknowledged write survives the kill.
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  });
  afterAll(async () => {
    await redis.dispose();
  });

  it('Redis stream sink killed for 3 s mid-traffic and restarted', async () => {
    const sink = new RedisStreamSink({ url: redis.url, prefix: 'noloss:' });
    const r = await rig([sink]);
    const load = traffic(r.port);
    await sleep(1_500);
    const beforeKill = load.answered.size;
    await redis.kill();
    await sleep(3_000);
    const duringOutage = load.answered.size - beforeKill;
    await redis.start();
    await sleep(1_500);
    await load.stop();
    const answered = load.answered;

    const reader = new AuditStreamReader({ url: redis.url, prefix: 'noloss:' });
    const readAll = async () => {
      const events: AuditEvent[] = [];
      for await (const { event } of reader.range()) if (event) events.push(event);
      return events;
    };
    // Replays run on their own; flush makes the last one happen now.
    let events: AuditEvent[];
    const deadline = Date.now() + 20_000;
    do {
      await r.tw.warden.flushAudit();
      events = await readAll();
      if (events.length >= answered.size) break;
      await sleep(200);
    } while (Date.now() < deadline);
    const counts = countByRequest(events);
    const result = figures(answered, counts);
    const spooled = await metric(r.tw, 'spooled');
    const replayed = await metric(r.tw, 'replayed');
    const dropped = await metric(r.tw, 'dropped');
    const written = await metric(r.tw, 'written');
    const heads = await reader.heads();
    const chains = verifyChains(events, {
      heads,
      key: Buffer.from(process.env.TOKENWARDEN_AUDIT_CHAIN_KEY ?? '', 'utf8'),
    });
    console.info(
      `no-loss (Redis killed 3 s): sent ${load.sent}, answered ${answered.size} ` +
        `(${beforeKill} before the kill, ${duringOutage} while down), events ${events.length}, ` +
        `written ${written}, spooled ${spooled}, replayed ${replayed}, dropped ${dropped}, ` +
        `lost ${result.lost}, duplicated ${result.duplicated}, chain intact ${chains.every((c) => c.intact)}`,
    );
    await reader.close();
    await dispose(r);

    expect(answered.size).toBeGreaterThan(100);
    expect(duringOutage).toBeGreaterThan(0); // requests went on while the sink was down
    expect(spooled).toBeGreaterThanOrEqual(duringOutage); // and their events went to the spool
    expect(result).toEqual({ lost: 0, duplicated: 0, unanswered: 0 });
    expect(events).toHaveLength(answered.size);
    expect(replayed).toBe(spooled);
    expect(dropped).toBe(0);
    expect(chains.every((c) => c.intact)).toBe(true);
  });

  it('a sink that fails every third write, and sometimes stores a batch but reports failure', async () => {
    const inner = new MemorySink(1_000_000);
    let calls = 0;
    let failures = 0;
    const flaky: AuditSink = {
      name: 'flaky',
      async write(events) {
        calls += 1;
        if (calls % 3 === 0) {
          failures += 1;
          throw new Error('flaky');
        }
        await inner.write(events);
        if (calls % 7 === 0) {
          failures += 1;
          throw new Error('acknowledgement lost');
        }
      },
    };
    const r = await rig([flaky], { retryIntervalMs: 20 });
    const load = traffic(r.port);
    await sleep(3_000);
    await load.stop();
    await r.tw.warden.flushAudit();
    const deadline = Date.now() + 10_000;
    // Until every event is in and the spool is empty (a replay may still hold events the sink
    // stored before reporting failure).
    while (
      (inner.events.length < load.answered.size ||
        (await metric(r.tw, 'replayed')) < (await metric(r.tw, 'spooled'))) &&
      Date.now() < deadline
    ) {
      await sleep(50);
      await r.tw.warden.flushAudit();
    }
    const counts = countByRequest(inner.events);
    const result = figures(load.answered, counts);
    const spooled = await metric(r.tw, 'spooled');
    const replayed = await metric(r.tw, 'replayed');
    console.info(
      `no-loss (flaky sink): answered ${load.answered.size}, events ${inner.events.length}, ` +
        `failed writes ${failures}, spooled ${spooled}, replayed ${replayed}, ` +
        `lost ${result.lost}, duplicated ${result.duplicated}`,
    );
    await dispose(r);

    expect(load.answered.size).toBeGreaterThan(100);
    expect(failures).toBeGreaterThan(0);
    expect(result).toEqual({ lost: 0, duplicated: 0, unanswered: 0 });
    expect(inner.events).toHaveLength(load.answered.size);
    expect(replayed).toBe(spooled);
    expect(
      verifyChains(inner.events, {
        key: Buffer.from(process.env.TOKENWARDEN_AUDIT_CHAIN_KEY ?? '', 'utf8'),
      }).every((c) => c.intact),
    ).toBe(true);
  });
});
