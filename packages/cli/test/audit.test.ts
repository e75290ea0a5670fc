import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { createWarden, type AuditEvent } from '@tokenwarden/core';
import { auditKeys, RedisStreamSink } from '@tokenwarden/redis';
import { chainedEvents, deleteKeys, freePort, testJwtOptions } from '@tokenwarden/testing';
import { Redis } from 'ioredis';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-cli-audit-${randomBytes(6).toString('hex')}-`;
let n = 0;
const nextPrefix = () => `${BASE}${(n += 1)}:`;
let redis: Redis;
let dir: string;

async function cli(prefix: string, ...args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(['--redis-url', REDIS_URL, '--prefix', prefix, ...args], {
    stdout,
    stderr,
    env: {},
  });
  return { code, out, err };
}

/** Writes events to the stream of `prefix`; returns them. */
async function seed(prefix: string, events: AuditEvent[]): Promise<AuditEvent[]> {
  const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
  await sink.write(events);
  await sink.close();
  return events;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEvent);

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-audit-'));
});
afterAll(async () => {
  await deleteKeys(PORT, BASE);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('tokenwarden audit export', () => {
  it('writes every event as JSON lines, exactly as stored, and reports the count on stderr', async () => {
    const prefix = nextPrefix();
    const events = await seed(prefix, chainedEvents('api-1', 1, 5));
    const run = await cli(prefix, 'audit', 'export');
    expect(run.code).toBe(0);
    expect(jsonLines(run.out)).toEqual(events);
    expect(run.err).toBe('tokenwarden: exported 5 events as jsonl\n');
  });

  it('filters by time window, subject, client, token and outcome', async () => {
    const prefix = nextPrefix();
    await seed(prefix, chainedEvents('api-1', 1, 4));
    await sleep(5);
    const middle = Date.now();
    await sleep(5);
    await seed(
      prefix,
      chainedEvents('api-1', 5, 6, undefined, (seq) => ({
        client: seq === 6 ? 'crm' : 'web',
        tokenId: `jti-${seq}`,
      })),
    );
    const seqs = async (...args: string[]) =>
      jsonLines((await cli(prefix, 'audit', 'export', ...args)).out).map((e) => e.seq);
    expect(await seqs('--since', String(middle))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(await seqs('--until', new Date(middle).toISOString())).toEqual([1, 2, 3, 4]);
    expect(await seqs('--since', '1h')).toHaveLength(10);
    expect(await seqs('--subject', 'user-2')).toEqual([2, 7]);
    expect(await seqs('--client', 'crm')).toEqual([6]);
    expect(await seqs('--token', 'jti-9')).toEqual([9]);
    expect(await seqs('--outcome', 'deny')).toEqual([2, 4, 6, 8, 10]);
  });

  it('writes CSV with a header, quoting, and formula-looking cells defused', async () => {
    const prefix = nextPrefix();
    await seed(
      prefix,
      chainedEvents('api-1', 1, 2, undefined, (seq) =>
        seq === 2 ? { subject: '=HYPERLINK("x")', detail: { source: 'a,b' } } : {},
      ),
    );
    const run = await cli(prefix, 'audit', 'export', '--format', 'csv');
    expect(run.code).toBe(0);
    const rows = run.out.split('\r\n');
    expect(rows[0]).toMatch(/^time,id,type,outcome,reason,subject,client,tokenId,/);
    expect(rows[1]).toContain(',orders:read orders:write,');
    expect(rows[2]).toContain(`"'=HYPERLINK(""x"")"`);
    expect(rows[2]).toContain(`"{""source"":""a,b""}"`);
    expect(rows).toHaveLength(4); // header, two rows, the empty string after the last CRLF
  });

  it('writes to --output with a summary on stdout (JSON with --json) and a progress bar on request', async () => {
    const prefix = nextPrefix();
    await seed(prefix, chainedEvents('api-1', 1, 1_200));
    const file = join(dir, 'export.jsonl');
    const run = await cli(prefix, '--json', 'audit', 'export', '--output', file, '--progress');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ exported: 1_200, format: 'jsonl' });
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1_200);
    expect(run.err).toMatch(/exporting \[.*\] 100% \| 1200 events/);
  });

  it('refuses a bad --format or --since with exit code 2', async () => {
    const prefix = nextPrefix();
    const format = await cli(prefix, 'audit', 'export', '--format', 'xml');
    expect(format.code).toBe(2);
    expect(format.err).toContain('--format must be jsonl or csv');
    const since = await cli(prefix, 'audit', 'export', '--since', 'yesterday');
    expect(since.code).toBe(2);
    expect(since.err).toContain('--since must be an ISO 8601 time');
    const outcome = await cli(prefix, 'audit', 'export', '--outcome', 'maybe');
    expect(outcome.code).toBe(2);
  });
});

describe('tokenwarden audit tail', () => {
  it('prints kept events from the start, filtered, as text or as the stored JSON', async () => {
    const prefix = nextPrefix();
    const events = await seed(prefix, chainedEvents('api-1', 1, 6));
    const human = await cli(
      prefix,
      'audit',
      'tail',
      '--from-start',
      '--outcome',
      'allow',
      '--limit',
      '2',
    );
    expect(human.code).toBe(0);
    const lines = human.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^2030-01-01T00:00:01.000Z {2}allow {4}access.decision {2}authorized/);
    expect(lines[0]).toContain('GET /orders/:id');
    expect(lines[0]).toContain('sub=user-1');
    const json = await cli(prefix, '--json', 'audit', 'tail', '--from-start', '--limit', '1');
    expect(jsonLines(json.out)).toEqual([events[0]]);
  });

  it('follows events written after it started', async () => {
    const prefix = nextPrefix();
    await seed(prefix, chainedEvents('api-1', 1, 2));
    const tail = cli(prefix, '--json', 'audit', 'tail', '--limit', '2', '--subject', 'user-4');
    await sleep(300);
    await seed(prefix, chainedEvents('api-1', 3, 10));
    const run = await tail;
    expect(run.code).toBe(0);
    expect(jsonLines(run.out).map((e) => e.seq)).toEqual([4, 9]);
  });
});

describe('tokenwarden audit verify', () => {
  it('says every chain is intact, per producer, and exits 0', async () => {
    const prefix = nextPrefix();
    await seed(prefix, chainedEvents('api-1', 1, 3));
    await seed(prefix, chainedEvents('api-2', 1, 2));
    const run = await cli(prefix, 'audit', 'verify', '--unkeyed');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^intact {2}api-1 {2}events 1\.\.3 \(3\)/m);
    expect(run.out).toMatch(/^intact {2}api-2 {2}events 1\.\.2 \(2\)/m);
    expect(run.out).toContain('every chain is intact');
    const json = await cli(prefix, '--json', 'audit', 'verify', '--unkeyed');
    expect(JSON.parse(json.out)).toMatchObject({
      ok: true,
      chains: [{ intact: true }, { intact: true }],
    });
  });

  it('finds a deleted event, an altered event and a cut tail, says where, and exits 1', async () => {
    const prefix = nextPrefix();
    // One event per write, so each sits in a stream entry of its own.
    for (const event of chainedEvents('api-1', 1, 6)) await seed(prefix, [event]);
    const { stream } = auditKeys(prefix);
    const ids = (await redis.xrange(stream, '-', '+')).map(([id]) => id);
    // Delete event 2; alter event 4 in place of the original; cut event 6.
    await redis.xdel(stream, ids[1]!);
    const entries = await redis.xrange(stream, ids[3]!, ids[3]!);
    const altered = JSON.parse(entries[0]![1][1]!) as Record<string, unknown>;
    altered.subject = 'someone-else';
    const temp = `${stream}:tmp`;
    // Rebuild the stream with the altered entry in place (as one-event entries, field e).
    for (const [id, fields] of await redis.xrange(stream, '-', '+')) {
      const value = id === ids[3] ? JSON.stringify(altered) : fields[1]!;
      await redis.xadd(temp, id, 'e', value);
    }
    await redis.rename(temp, stream);
    await redis.xdel(stream, ids[5]!);

    const run = await cli(prefix, 'audit', 'verify', '--unkeyed');
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^BROKEN {2}api-1/m);
    expect(run.out).toContain('missing: event 2 is missing');
    expect(run.out).toContain('altered: producer api-1 event 4 was altered');
    expect(run.out).toMatch(
      /truncated: producer api-1: the chain ends at event 5 but the recorded head at event 6 .*records more: the tail was cut/,
    );
    expect(run.err).toContain('audit verification failed');
    const json = await cli(prefix, '--json', 'audit', 'verify', '--unkeyed');
    expect(json.code).toBe(1);
    const report = JSON.parse(json.out) as {
      ok: boolean;
      chains: { problems: { kind: string; seq: number }[] }[];
    };
    expect(report.ok).toBe(false);
    expect(report.chains[0]!.problems.map((p) => [p.kind, p.seq])).toEqual([
      ['missing', 3],
      ['altered', 4],
      ['truncated', 6],
    ]);
  });

  it('checks a keyed chain with the key from a file, and will not pass it without', async () => {
    const prefix = nextPrefix();
    const key = randomBytes(32);
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: { sinks: [sink], chainKey: key, fingerprintKey: randomBytes(32) },
    });
    warden.recordEvent({ type: 'signing_key.rotated', outcome: 'success', actor: 'ops' });
    warden.recordEvent({ type: 'apikey.created', outcome: 'success', actor: 'ops' });
    await warden.close();
    const keyFile = join(dir, 'chain.key');
    writeFileSync(keyFile, key);
    const withKey = await cli(prefix, 'audit', 'verify', '--chain-key-file', keyFile);
    expect(withKey.code).toBe(0);
    expect(withKey.out).toMatch(/intact .* keyed/);
    const without = await cli(prefix, 'audit', 'verify');
    expect(without.code).toBe(2);
    expect(without.err).toContain('audit verify needs the chain key');
    // Told to expect an unkeyed chain, it still will not pass a keyed one it cannot check.
    const unkeyed = await cli(prefix, 'audit', 'verify', '--unkeyed');
    expect(unkeyed.code).toBe(1);
    expect(unkeyed.out).toContain('unverifiable: producer');
    const wrong = join(dir, 'wrong.key');
    writeFileSync(wrong, randomBytes(32));
    expect((await cli(prefix, 'audit', 'verify', '--chain-key-file', wrong)).code).toBe(1);
  });
});

describe('tokenwarden audit verify --file / --anchor', () => {
  it('verifies a JSON-lines file, and an anchor kept from an earlier report catches a cut since then', async () => {
    const events = chainedEvents('api-1', 1, 6);
    const file = join(dir, 'trail.jsonl');
    writeFileSync(file, events.map((e) => JSON.stringify(e) + '\n').join(''));
    const first = await cli('unused:', '--json', 'audit', 'verify', '--unkeyed', '--file', file);
    expect(first.code).toBe(0);
    const anchor = join(dir, 'anchor.json');
    writeFileSync(anchor, first.out);
    expect(JSON.parse(first.out).chains[0]).toMatchObject({
      lastSeq: 6,
      lastHash: events[5]!.hash,
    });

    // Later the file has lost its last two events: consistent on its own, not against the anchor.
    writeFileSync(
      file,
      events
        .slice(0, 4)
        .map((e) => JSON.stringify(e) + '\n')
        .join(''),
    );
    expect((await cli('unused:', 'audit', 'verify', '--unkeyed', '--file', file)).code).toBe(0);
    const cut = await cli(
      'unused:',
      'audit',
      'verify',
      '--unkeyed',
      '--file',
      file,
      '--anchor',
      anchor,
    );
    expect(cut.code).toBe(1);
    expect(cut.out).toContain(
      'truncated: producer api-1: the chain ends at event 4 but an anchor at event 6 records more',
    );

    writeFileSync(file, `${JSON.stringify(events[0])}\nnot json\n`);
    const garbled = await cli('unused:', 'audit', 'verify', '--unkeyed', '--file', file);
    expect(garbled.code).toBe(1);
    expect(garbled.out).toContain('1 entries hold no readable event');
    expect((await cli('unused:', 'audit', 'verify', '--unkeyed', '--anchor', file)).code).toBe(2);
  });

  it('an anchor also applies to the Redis stream', async () => {
    const prefix = nextPrefix();
    await seed(prefix, chainedEvents('api-1', 1, 3));
    const first = await cli(prefix, '--json', 'audit', 'verify', '--unkeyed');
    const anchor = join(dir, 'redis-anchor.json');
    writeFileSync(anchor, first.out);
    // The whole stream is replaced by another chain of the same producer.
    await redis.del(auditKeys(prefix).stream, auditKeys(prefix).heads);
    await seed(
      prefix,
      chainedEvents('api-1', 1, 3, undefined, () => ({ subject: 'other' })),
    );
    expect((await cli(prefix, 'audit', 'verify', '--unkeyed')).code).toBe(0);
    const run = await cli(prefix, 'audit', 'verify', '--unkeyed', '--anchor', anchor);
    expect(run.code).toBe(1);
    expect(run.out).toContain('altered: producer api-1 event 3 differs from an anchor at event 3');
  });
});

describe('tokenwarden audit: Redis problems', () => {
  it('refuses a malformed URL without echoing it (exit 2)', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await runCli(['audit', 'export'], {
      stdout,
      stderr,
      env: { REDIS_URL: 'http://admin:hunter2@example' },
    });
    expect(code).toBe(2);
    expect(err).toContain('--redis-url (or REDIS_URL) must be a redis:// or rediss:// URL');
    expect(err).not.toContain('hunter2');
  });

  it('says Redis cannot be reached (exit 1), without the URL or its password', async () => {
    const port = await freePort();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await runCli(
      ['--redis-url', `redis://:hunter2@127.0.0.1:${port}`, 'audit', 'verify', '--unkeyed'],
      { stdout, stderr, env: {} },
    );
    expect(code).toBe(1);
    expect(err).toMatch(/^tokenwarden: cannot read the audit stream: Redis could not answer/);
    expect(err).not.toContain('hunter2');
    expect(err).not.toContain(String(port));
  });
});
