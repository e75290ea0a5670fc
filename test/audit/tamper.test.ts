/**
 * Tamper cases against a real Redis stream, each caught by `tokenwarden audit verify`: a cut tail
 * with a rewound head, a cut start, a vanished producer, a chain recomputed without the key, and
 * a stored line with a duplicate key (which `audit export` also withholds).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { createWarden, JsonLinesSink } from '@tokenwarden/core';
import {
  canonicalJson,
  ChainHasher,
  parseAuditLine,
  type AuditEvent,
  type CheckpointSink,
} from '@tokenwarden/core/internal';
import { auditKeys, RedisCheckpointSink, RedisStreamSink } from '@tokenwarden/redis';
import { deleteKeys, testJwtOptions } from '@tokenwarden/testing';
import { Redis } from 'ioredis';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-tamper-${randomBytes(6).toString('hex')}-`;
let n = 0;
let redis: Redis;
let dir: string;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-tamper-'));
});
afterAll(async () => {
  await deleteKeys(PORT, BASE);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

interface Trail {
  readonly prefix: string;
  readonly key: Buffer;
  readonly checkpoints: string;
}

/** A fresh prefix, chain key and checkpoint file. */
function fresh(): Trail {
  n += 1;
  return {
    prefix: `${BASE}${n}:`,
    key: Buffer.from(randomBytes(32).toString('base64url')),
    checkpoints: join(dir, `checkpoints-${n}.jsonl`),
  };
}

/** `count` events of one producer through a warden into the stream, checkpointed every 5. */
async function write(
  trail: Trail,
  producer: string,
  count: number,
  checkpoints: string | CheckpointSink = trail.checkpoints,
): Promise<void> {
  const warden = createWarden({
    jwt: testJwtOptions(),
    audit: {
      sinks: [new RedisStreamSink({ url: REDIS_URL, prefix: trail.prefix })],
      chainKey: trail.key,
      fingerprintKey: randomBytes(32),
      producer,
      batchSize: 1,
      checkpoints: { sink: checkpoints, everyEvents: 5 },
    },
  });
  for (let i = 1; i <= count; i++) {
    warden.recordEvent({
      type: 'consent.granted',
      outcome: 'success',
      dataSubject: `c-${i}`,
      purpose: 'marketing',
    });
    await warden.flushAudit();
  }
  await warden.close();
}

/** Every event in the stream, parsed from its stored line, in order. */
async function stored(trail: Trail): Promise<{ events: AuditEvent[]; lines: string[] }> {
  const entries = await redis.xrange(auditKeys(trail.prefix).stream, '-', '+');
  const lines: string[] = [];
  for (const [, fields] of entries) {
    const at = fields.indexOf('lines');
    lines.push(...fields[at + 1]!.split('\n'));
  }
  return { events: lines.map(parseAuditLine), lines };
}

/** What an attacker with write access to Redis does: replace the stream and the chain heads. */
async function rewrite(trail: Trail, events: readonly AuditEvent[]): Promise<void> {
  const keys = auditKeys(trail.prefix);
  await redis.del(keys.stream, keys.heads);
  const sink = new RedisStreamSink({ url: REDIS_URL, prefix: trail.prefix });
  await sink.write(events);
  await sink.close();
}

async function cli(trail: Trail, ...args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(['--redis-url', REDIS_URL, '--prefix', trail.prefix, ...args], {
    stdout,
    stderr,
    env: { TOKENWARDEN_AUDIT_CHAIN_KEY: trail.key.toString('utf8') },
  });
  return { code, out, err };
}

const verify = (trail: Trail, ...args: string[]) =>
  cli(trail, 'audit', 'verify', '--checkpoints', trail.checkpoints, ...args);

describe('audit verify catches tampering with the Redis stream', () => {
  it('passes an untouched trail, checked against its signed checkpoints', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 12);
    const run = await verify(trail);
    expect(run.err).toBe('');
    expect(run.out).toMatch(/^intact {2}api-a\.\S+ {2}events 1\.\.12 \(12\) {2}keyed$/m);
    expect(run.out).toContain('checked against 3 signed checkpoints');
    expect(run.code).toBe(0);
  });

  it('a cut tail with a rewound head', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 12);
    const { events } = await stored(trail);
    // Events 9 to 12 deleted; the head next to the stream now says 8.
    await rewrite(trail, events.slice(0, 8));
    // The stream and its heads alone look whole: that is the hole checkpoints close.
    expect((await cli(trail, 'audit', 'verify')).code).toBe(0);
    const run = await verify(trail);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /truncated: producer api-a\.\S+: the chain ends at event 8 but a signed checkpoint at event 10 \(.*\) records more: the tail was cut/,
    );
    expect(run.out).toContain('the audit trail has been tampered with or lost events');
  });

  it('a cut tail with a rewound head, against checkpoints kept in a Redis list', async () => {
    const trail = fresh();
    await write(
      trail,
      'api-a',
      7,
      new RedisCheckpointSink({ url: REDIS_URL, prefix: trail.prefix }),
    );
    const { events } = await stored(trail);
    await rewrite(trail, events.slice(0, 3));
    for (const source of ['redis:', REDIS_URL]) {
      const run = await cli(trail, 'audit', 'verify', '--checkpoints', source);
      expect(run.code).toBe(1);
      expect(run.out).toMatch(
        /truncated: producer api-a\.\S+: the chain ends at event 3 but a signed checkpoint at event 5 .*records more/,
      );
      expect(run.out).toContain('checked against 2 signed checkpoints');
    }
    // A checkpoint edited in the list does not verify, and says where it was found.
    const key = `${trail.prefix}{tw}:audit:checkpoints`;
    const first = (await redis.lindex(key, 0))!;
    await redis.lset(key, 0, first.replace('"seq":5', '"seq":2'));
    const edited = await cli(trail, 'audit', 'verify', '--checkpoints', 'redis:');
    expect(edited.out).toMatch(
      /BROKEN {2}checkpoints: checkpoints in the Redis of --redis-url: checkpoint line 1 \(producer api-a\.\S+, event 2\): the signature does not verify/,
    );
  });

  it('a cut start, with retention off or inside the retention window', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 12);
    const { events } = await stored(trail);
    await rewrite(trail, events.slice(6));
    const off = await verify(trail, '--retention', 'off');
    expect(off.code).toBe(1);
    expect(off.out).toMatch(
      /cut_start: producer api-a\.\S+: the chain starts at event 7; events 1 to 6 are gone and retention is off: the start was cut/,
    );
    expect(off.out).not.toContain('trimmed by retention');
    // The stream's default retention is 90 days, and the producer started minutes ago.
    const window = await verify(trail);
    expect(window.code).toBe(1);
    expect(window.out).toMatch(
      /cut_start: producer api-a\.\S+: the chain starts at event 7; events 1 to 6 are gone, but the producer started at .*, inside the retention window .*, so none of its events can have been trimmed: the start was cut/,
    );
    // Even without the checkpoints.
    expect((await cli(trail, 'audit', 'verify')).out).toContain('cut_start: producer api-a.');
  });

  it('a vanished producer', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 6);
    await write(trail, 'api-b', 6);
    const { events } = await stored(trail);
    const b = events.filter((e) => e.producer!.startsWith('api-b.'));
    await rewrite(trail, b);
    const run = await verify(trail);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /vanished: every event of producer api-a\.\S+ is gone, but a signed checkpoint at event 6 .* says it wrote them, inside the retention window/,
    );
    expect(run.out).toMatch(/^intact {2}api-b\.\S+ {2}events 1\.\.6/m);
  });

  it('a chain recomputed without the key', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 6);
    const { events } = await stored(trail);
    const hasher = new ChainHasher(undefined);
    let prev: string | undefined;
    const forged = events.map((e, i) => {
      const changed: Record<string, unknown> = { ...e };
      if (i === 2) changed.purpose = 'research';
      if (prev === undefined) delete changed.prevHash;
      else changed.prevHash = prev;
      delete changed.hash;
      const hash = hasher.digest(canonicalJson(changed as unknown as AuditEvent));
      prev = hash;
      return JSON.parse(
        JSON.stringify({ ...JSON.parse(canonicalJson(changed as unknown as AuditEvent)), hash }),
      ) as AuditEvent;
    });
    await rewrite(trail, forged);
    // Even without checkpoints: a chain key is expected, and an unkeyed chain proves nothing.
    const run = await cli(trail, 'audit', 'verify');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /unkeyed: producer api-a\.\S+ event 1: the hash is an unkeyed SHA-256 but a chain key is expected/,
    );
    // Nor will it check the trail as unkeyed while it holds the key, or without a key unless told.
    expect((await cli(trail, 'audit', 'verify', '--unkeyed')).code).toBe(2);
    const bare = await runCli(
      ['--redis-url', REDIS_URL, '--prefix', trail.prefix, 'audit', 'verify'],
      { stdout: new PassThrough(), stderr: new PassThrough(), env: {} },
    );
    expect(bare).toBe(2);
    // The checkpoints disagree with every recomputed hash too.
    const checked = await verify(trail);
    expect(checked.out).toMatch(
      /altered: producer api-a\.\S+ event 5 differs from a signed checkpoint/,
    );
  });

  it('a stored line with a duplicate key, which export withholds', async () => {
    const trail = fresh();
    await write(trail, 'api-a', 4);
    const keys = auditKeys(trail.prefix);
    const entries = await redis.xrange(keys.stream, '-', '+');
    await redis.del(keys.stream);
    for (const [, fields] of entries) {
      const at = fields.indexOf('lines');
      // The second event: a duplicate "purpose" key that JSON.parse resolves to the same value.
      fields[at + 1] = fields[at + 1]!.replace(
        /("seq":2,.*?)"purpose":"marketing"/,
        '$1"purpose":"research","purpose":"marketing"',
      );
      await redis.xadd(keys.stream, '*', ...fields);
    }
    const { lines } = await stored(trail);
    expect(lines.filter((l) => l.includes('"purpose":"research"'))).toHaveLength(1);
    const run = await verify(trail);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /noncanonical: producer api-a\.\S+ event 2: the stored line differs from its canonical form \(duplicate or reordered keys, whitespace or escapes\)/,
    );
    expect(run.out).not.toContain('altered');
    const exported = await cli(trail, 'audit', 'export');
    expect(exported.code).toBe(1);
    expect(exported.out).not.toContain('"research"');
    expect(
      exported.out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEvent).seq),
    ).toEqual([1, 3, 4]);
    expect(exported.err).toMatch(
      /withheld producer api-a\.\S+ event 2: the stored line differs from its canonical form/,
    );
    expect(exported.err).toContain('1 events were withheld from the export');
  });
});

describe('audit verify --file catches tampering with a JSON-lines file', () => {
  it('a cut tail, against the checkpoints, and the file alone cannot tell', async () => {
    const trail = fresh();
    const file = join(dir, `trail-${n}.jsonl`);
    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: {
        sinks: [new JsonLinesSink({ file })],
        chainKey: trail.key,
        fingerprintKey: randomBytes(32),
        producer: 'api-f',
        batchSize: 1,
        checkpoints: { sink: trail.checkpoints, everyEvents: 3 },
      },
    });
    for (let i = 1; i <= 7; i++) {
      warden.recordEvent({ type: 'apikey.created', outcome: 'success', actor: `ops-${i}` });
      await warden.flushAudit();
    }
    await warden.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(7);
    const whole = await verify(trail, '--file', file);
    expect(whole.code).toBe(0);
    writeFileSync(file, lines.slice(0, 4).join('\n') + '\n');
    expect((await cli(trail, 'audit', 'verify', '--file', file)).code).toBe(0);
    const cut = await verify(trail, '--file', file);
    expect(cut.code).toBe(1);
    expect(cut.out).toMatch(
      /truncated: producer api-f\.\S+: the chain ends at event 4 but a signed checkpoint at event 6 .*records more/,
    );
    // The start of a file is never trimmed in place: retention is off for --file by default.
    writeFileSync(file, lines.slice(2).join('\n') + '\n');
    const start = await cli(trail, 'audit', 'verify', '--file', file);
    expect(start.code).toBe(1);
    expect(start.out).toMatch(
      /cut_start: producer api-f\.\S+: the chain starts at event 3; events 1 to 2 are gone and retention is off/,
    );
    // Nor with a 30-day retention: the producer started minutes ago.
    const retained = await cli(trail, 'audit', 'verify', '--file', file, '--retention', '30d');
    expect(retained.code).toBe(1);
    expect(retained.out).toContain('inside the retention window');
  });
});
