import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import {
  AUDIT_SCHEMA_VERSION,
  JsonLinesSink,
  MemorySink,
  parseAuditLine,
  type AuditEvent,
} from '@tokenwarden/core/internal';
import { auditSinkContract, chainedEvents, FakeClock } from '@tokenwarden/testing';

function event(n: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    time: new Date(Date.UTC(2030, 0, 1, 12, 0, n)).toISOString(),
    type: 'access.decision',
    outcome: n % 2 ? 'deny' : 'allow',
    reason: n % 2 ? 'token_expired' : 'authorized',
    ...fields,
  };
}

function lines(text: string): unknown[] {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
}

describe('JsonLinesSink', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenwarden-audit-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one JSON object per line to a stream, in order', async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const sink = new JsonLinesSink({ stream });
    const batch = [event(1), event(2, { subject: 'line\nbreak "quoted"' })];
    await sink.write(batch);
    await sink.write([event(3)]);
    expect(lines(Buffer.concat(chunks).toString('utf8'))).toEqual([...batch, event(3)]);
    // Not the owner of the stream: close() leaves it open.
    await sink.close();
    expect(stream.writableEnded).toBe(false);
  });

  it('rejects when the stream fails, so the warden can count the failure', async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('disk full'));
      },
    });
    broken.on('error', () => {});
    await expect(new JsonLinesSink({ stream: broken }).write([event(1)])).rejects.toThrow(
      'disk full',
    );
  });

  it('does not wait for the callback of a stream that takes the lines without backpressure', async () => {
    // As standard output behaves under some test runners: write() accepts, the callback never comes.
    const taken: string[] = [];
    const silent = { write: (text: string) => taken.push(text) > 0 } as unknown as Writable;
    await new JsonLinesSink({ stream: silent }).write([event(1)]);
    expect(taken).toHaveLength(1);
  });

  it('appends to a file and flushes it on close()', async () => {
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, `${JSON.stringify(event(0))}\n`);
    const sink = new JsonLinesSink({ file });
    await sink.write([event(1), event(2)]);
    await sink.close();
    await sink.close();
    expect(lines(readFileSync(file, 'utf8'))).toEqual([event(0), event(1), event(2)]);
  });

  it('prefers the file over a stream', async () => {
    const file = join(dir, 'preferred.jsonl');
    const stream = new PassThrough();
    let streamed = 0;
    stream.on('data', () => streamed++);
    const sink = new JsonLinesSink({ file, stream });
    await sink.write([event(5)]);
    await sink.close();
    expect(lines(readFileSync(file, 'utf8'))).toEqual([event(5)]);
    expect(streamed).toBe(0);
  });
});

describe('JsonLinesSink: rotation and retention', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenwarden-rotate-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotates by size, keeps maxFiles rotated files and loses no event', async () => {
    const file = join(dir, 'audit.jsonl');
    const events = chainedEvents('rot', 1, 40);
    const lineBytes = Buffer.byteLength(JSON.stringify(events[0])) + 1;
    const sink = new JsonLinesSink({ file, maxBytes: lineBytes * 5, maxFiles: 3 });
    for (let i = 0; i < 40; i += 2) await sink.write(events.slice(i, i + 2));
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual([
      'audit.jsonl',
      'audit.jsonl.1',
      'audit.jsonl.2',
      'audit.jsonl.3',
    ]);
    const kept = ['audit.jsonl.3', 'audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl'].flatMap(
      (name) => lines(readFileSync(join(dir, name), 'utf8')) as AuditEvent[],
    );
    // The newest events, in order, with none missing between the files.
    const seqs = kept.map((e) => e.seq!);
    expect(seqs[seqs.length - 1]).toBe(40);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    for (const name of readdirSync(dir)) {
      expect(readFileSync(join(dir, name)).length).toBeLessThanOrEqual(lineBytes * 5);
    }
  });

  it('deletes rotated files older than retentionMs (fake clock)', async () => {
    const sub = join(dir, 'retention');
    await rm(sub, { recursive: true, force: true });
    mkdirSync(sub);
    const file = join(sub, 'audit.jsonl');
    const day = 86_400_000;
    const clock = new FakeClock(Date.now());
    writeFileSync(`${file}.1`, 'recent\n');
    writeFileSync(`${file}.2`, 'old\n');
    const old = (clock.now() - 40 * day) / 1000;
    utimesSync(`${file}.2`, old, old);
    const sink = new JsonLinesSink({ file, retentionMs: 30 * day, clock });
    await sink.write(chainedEvents('ret', 1, 1));
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(existsSync(`${file}.2`)).toBe(false);
    // Time passes: the other one ages out at the next rotation check.
    clock.advance(31 * day);
    const later = new JsonLinesSink({ file, retentionMs: 30 * day, clock, maxBytes: 1 });
    await later.write(chainedEvents('ret', 2, 1));
    await later.write(chainedEvents('ret', 3, 1));
    expect(existsSync(`${file}.2`)).toBe(false);
    await sink.close();
    await later.close();
  });

  it('refuses a non-positive maxBytes', () => {
    expect(() => new JsonLinesSink({ maxBytes: 0 })).toThrow(/maxBytes must be a positive/);
  });
});

describe('MemorySink', () => {
  it('keeps events in order', async () => {
    const sink = new MemorySink();
    await sink.write([event(1), event(2)]);
    await sink.write([event(3)]);
    expect(sink.events.map((e) => e.id)).toEqual([event(1).id, event(2).id, event(3).id]);
  });

  it('is bounded: past max it drops the oldest', async () => {
    const sink = new MemorySink(3);
    await sink.write([event(1), event(2)]);
    await sink.write([event(3), event(4), event(5)]);
    expect(sink.events.map((e) => e.id)).toEqual([event(3).id, event(4).id, event(5).id]);
    await sink.write(Array.from({ length: 10 }, (_, i) => event(10 + i)));
    expect(sink.events).toHaveLength(3);
    expect(sink.events[2]?.id).toBe(event(19).id);
  });

  it('clear() forgets everything', async () => {
    const sink = new MemorySink();
    await sink.write([event(1)]);
    sink.clear();
    expect(sink.events).toEqual([]);
  });
});

auditSinkContract('MemorySink', async () => {
  const sink = new MemorySink(100_000);
  return { sink, read: async () => [...sink.events] };
});

auditSinkContract('JsonLinesSink (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-contract-'));
  const file = join(dir, 'audit.jsonl');
  const sink = new JsonLinesSink({ file });
  return {
    sink,
    read: async () => {
      const text = existsSync(file) ? await readFile(file, 'utf8') : '';
      return text === '' ? [] : text.slice(0, -1).split('\n').map(parseAuditLine);
    },
    cleanup: async () => {
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
