/**
 * `pnpm exec tsx test/bench/audit-cost.ts`: what the audit trail costs.
 *
 * 1. Requests per second through the Express adapter with audit off, and with each mode (async to
 *    a JSON-lines file, async to the Redis stream, sync group commit to the Redis stream), each
 *    server in its own process, driven by autocannon from this one, in alternating rounds (the
 *    median of each mode is printed, so a busy machine skews every mode alike).
 * 2. Client CPU per event of the Redis stream sink over 100k events (process.cpuUsage): the sink's
 *    own work (packing the batch, the pipelined script call, the reply), and the whole trail
 *    (record, seal into the hash chain, sink), unkeyed and with a chain key; and the Redis
 *    server's CPU per event meanwhile (INFO cpu, so other clients of the same Redis count too).
 *
 * Environment: AUDIT_BENCH_SECONDS (5), AUDIT_BENCH_ROUNDS (3), AUDIT_BENCH_CONNECTIONS (20),
 * AUDIT_BENCH_EVENTS (100000), AUDIT_BENCH_PARTS (`throughput,cpu`: which parts to run),
 * REDIS_URL (redis://127.0.0.1:6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import express from 'express';
import {
  createWarden,
  type AuditEvent,
  type AuditEventInput,
  type AuditOptions,
  type AuditSink,
} from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/express';
import { RedisStreamSink } from '@tokenwarden/redis';
import { mintToken, testJwtOptions } from '../../packages/testing/src/fixtures';
import { deleteKeys } from '../../packages/testing/src/redis-server';

const SECONDS = Number(process.env.AUDIT_BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.AUDIT_BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.AUDIT_BENCH_CONNECTIONS ?? 20);
const EVENTS = Number(process.env.AUDIT_BENCH_EVENTS ?? 100_000);
/** Events recorded between two turns of the event loop (as requests would record them). */
const BURST = Number(process.env.AUDIT_BENCH_BURST ?? 50);
const PARTS = (process.env.AUDIT_BENCH_PARTS ?? 'throughput,cpu').split(',');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const PREFIX = `tw-audit-bench-${randomBytes(4).toString('hex')}-`;

const MODES = ['off', 'async-jsonl', 'async-redis', 'sync-redis'] as const;
type Mode = (typeof MODES)[number];

/** Child process: serves GET /data behind the middleware with the mode's audit settings. */
async function serve(mode: Mode): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-audit-bench-'));
  const sinks: AuditSink[] = [];
  let audit: AuditOptions = { fingerprintKey: randomBytes(32) };
  if (mode === 'async-jsonl') {
    sinks.push(
      new (await import('@tokenwarden/core')).JsonLinesSink({ file: join(dir, 'a.jsonl') }),
    );
  } else if (mode !== 'off') {
    sinks.push(new RedisStreamSink({ url: REDIS_URL, prefix: `${PREFIX}${mode}:` }));
  }
  if (sinks.length > 0) {
    audit = { ...audit, sinks, ...(mode === 'sync-redis' ? { mode: 'sync', spoolDir: dir } : {}) };
  }
  const tw = tokenwarden({ jwt: testJwtOptions(), audit, metrics: false });
  const app = express();
  app.use(tw);
  app.get('/data', (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const port = (server.address() as AddressInfo).port;
    process.stdout.write(
      JSON.stringify({ port, token: mintToken({ lifetimeSeconds: 3600 }) }) + '\n',
    );
  });
  process.once('SIGTERM', () => {
    server.close();
    void tw.warden.close().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

async function start(mode: Mode): Promise<{ child: ChildProcess; port: number; token: string }> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, 'serve', mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`server for ${mode} exited with ${code}`)));
  });
  const { port, token } = JSON.parse(line) as { port: number; token: string };
  return { child, port, token };
}

/** Every server up at once; ROUNDS rounds alternate the modes; the median per mode. */
async function throughput(): Promise<Record<Mode, number>> {
  const servers = [];
  for (const mode of MODES) servers.push({ mode, ...(await start(mode)) });
  const samples = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<
    Mode,
    number[]
  >;
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const { mode, port, token } of servers) {
        const result = await autocannon({
          url: `http://127.0.0.1:${port}/data`,
          connections: CONNECTIONS,
          duration: round === 0 ? 1 : SECONDS, // round 0 warms up
          headers: { authorization: `Bearer ${token}`, 'x-request-id': 'bench' },
        });
        if (round > 0) samples[mode].push(result.requests.average);
      }
    }
  } finally {
    for (const { child } of servers) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  const out = {} as Record<Mode, number>;
  for (const mode of MODES) {
    const sorted = [...samples[mode]].sort((a, b) => a - b);
    out[mode] = sorted[Math.floor(sorted.length / 2)]!;
  }
  return out;
}

function decision(i: number): AuditEventInput {
  return {
    type: 'access.decision',
    outcome: 'allow',
    reason: 'authorized',
    tokenId: `jti-${i}`,
    tokenFingerprint: 'q9wB3xX2pC1nF5tK8mL0aA',
    subject: `user-${i % 1000}`,
    client: 'web-app',
    scopes: ['customers:read', 'orders:read'],
    route: '/customers/:id',
    method: 'GET',
    status: 200,
    requestId: `req-${i}`,
    clientAddress: '203.0.113.0/24',
  };
}

interface Cost {
  readonly user: number;
  readonly system: number;
  /** The Redis server's CPU per event meanwhile, in µs. */
  readonly redis: number;
}

/** Redis server CPU time so far (user + system), in µs. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** Runs `work` and returns its client and Redis CPU per event. */
async function measured(redis: Redis, events: number, work: () => Promise<void>): Promise<Cost> {
  const redisBefore = await redisCpu(redis);
  const started = process.cpuUsage();
  await work();
  const used = process.cpuUsage(started);
  const redisUsed = (await redisCpu(redis)) - redisBefore;
  return { user: used.user / events, system: used.system / events, redis: redisUsed / events };
}

/** CPU µs per event: the stream sink alone, and the whole trail with the stream sink. */
async function cpuPerEvent(): Promise<{ sink: Cost; trail: Cost; keyed: Cost }> {
  const redis = new Redis(REDIS_URL);
  // The whole trail first, while the heap holds nothing else.
  const trail = async (name: string, chainKey?: Buffer): Promise<Cost> => {
    const streamSink = new RedisStreamSink({
      url: REDIS_URL,
      prefix: `${PREFIX}cpu-${name}:`,
      retentionMs: 0,
    });
    const warden = createWarden({
      jwt: testJwtOptions(),
      metrics: false,
      audit: {
        sinks: [streamSink],
        maxQueue: EVENTS,
        fingerprintKey: randomBytes(32),
        ...(chainKey ? { chainKey } : {}),
      },
    });
    // Warm-up: connection, script, JIT.
    for (let i = 0; i < 5_000; i++) warden.recordEvent(decision(i));
    await warden.flushAudit();
    const cost = await measured(redis, EVENTS, async () => {
      for (let i = 0; i < EVENTS; i++) {
        warden.recordEvent(decision(i));
        if (i % BURST === BURST - 1) await new Promise((r) => setImmediate(r));
      }
      await warden.flushAudit();
    });
    await warden.close();
    return cost;
  };
  const trailCost = await trail('trail');
  const keyedCost = await trail('keyed', randomBytes(32));
  // Sealed events, as the trail hands them to sinks (their JSON lines cached).
  const sealed: AuditEvent[] = [];
  const capture: AuditSink = { name: 'capture', write: async (e) => void sealed.push(...e) };
  const maker = createWarden({
    jwt: testJwtOptions(),
    metrics: false,
    audit: { sinks: [capture], maxQueue: EVENTS, fingerprintKey: randomBytes(32) },
  });
  for (let i = 0; i < EVENTS; i++) maker.recordEvent(decision(i));
  await maker.close();

  const sink = new RedisStreamSink({
    url: REDIS_URL,
    prefix: `${PREFIX}cpu-sink:`,
    retentionMs: 0,
  });
  await sink.write(sealed.slice(0, 1)); // connect and load the script first
  const rest = sealed.slice(1);
  const sinkCost = await measured(redis, rest.length, async () => {
    for (let i = 0; i < rest.length; i += 500) await sink.write(rest.slice(i, i + 500));
  });
  await sink.close();

  redis.disconnect();
  return { sink: sinkCost, trail: trailCost, keyed: keyedCost };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve(process.argv[3] as Mode);
  try {
    console.log(
      `audit cost: ${SECONDS} s per mode, ${CONNECTIONS} connections, Redis ${new URL(REDIS_URL).host}`,
    );
    if (PARTS.includes('throughput')) {
      const rps = await throughput();
      console.log('\nmode          req/s    vs audit off');
      for (const mode of MODES) {
        const ratio = rps[mode] / rps.off;
        console.log(
          `${mode.padEnd(12)} ${rps[mode].toFixed(0).padStart(7)}    ${(ratio * 100).toFixed(1)}%`,
        );
      }
    }
    if (!PARTS.includes('cpu')) return;
    const cpu = await cpuPerEvent();
    console.log(`\nRedis stream sink, client CPU per event over ${EVENTS} events:`);
    const show = (c: Cost) =>
      `${(c.user + c.system).toFixed(2)} µs (user ${c.user.toFixed(2)}, system ${c.system.toFixed(2)}); ` +
      `Redis ${c.redis.toFixed(2)} µs`;
    console.log(`  sink alone (batches of 500):                ${show(cpu.sink)}`);
    console.log(`  whole trail (record + chain + sink):        ${show(cpu.trail)}`);
    console.log(`  whole trail, keyed chain (HMAC-SHA256):     ${show(cpu.keyed)}`);
  } finally {
    await deleteKeys(REDIS_PORT, PREFIX);
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
