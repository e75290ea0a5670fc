import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAuditLine, type AuditEvent } from '@tokenwarden/core/internal';
import Redis from 'ioredis';
import { RUN_CHAIN_KEY, runCaptured } from './support';

const URL = 'redis://127.0.0.1:6379';

/** Every field of every entry of the prefix's audit stream, as stored. */
async function rawStream(redis: Redis, prefix: string): Promise<string> {
  const entries = await redis.xrange(`${prefix}{tw}:audit:stream`, '-', '+');
  return entries.map(([, fields]) => fields.join('\n')).join('\n');
}

/** The events of the prefix's audit stream (entries of JSON lines, or of one event). */
async function streamEvents(redis: Redis, prefix: string): Promise<AuditEvent[]> {
  const entries = await redis.xrange(`${prefix}{tw}:audit:stream`, '-', '+');
  return entries.flatMap(([, fields]) => {
    const lines = fields.indexOf('lines');
    const text = lines >= 0 ? fields[lines + 1]! : fields[fields.indexOf('e') + 1]!;
    return text.split('\n').map(parseAuditLine);
  });
}

/** `report exposure --subject` of the prefix's stream: the subject.revoked events it applies. */
async function revocationsOf(
  prefix: string,
  subject: string,
  extra: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ type: string }[]> {
  const report = await runCaptured(
    ['--prefix', prefix, 'report', 'exposure', '--subject', subject, '--format', 'json', ...extra],
    env,
  );
  expect(report.code).toBe(0);
  return (JSON.parse(report.out) as { revocation: { events: { type: string }[] } }).revocation
    .events;
}

/** Open TCP sockets of this process (the CLI runs in it): a store left open keeps one. */
async function openSockets(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

describe('events the CLI writes are sealed with a master key', () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const prefix = `tw-cli-sealed-${run}:`;
  const ALICE = `alice-${run}@example.com`;
  const BOB = `bob-${run}@example.com`;
  const env = { REDIS_URL: URL, ...RUN_CHAIN_KEY };
  let redis: Redis;
  let dir: string;
  let masterFile: string;
  let trail: string;

  beforeAll(async () => {
    redis = new Redis(URL);
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-cli-sealed-'));
    masterFile = join(dir, 'master.key');
    trail = join(dir, 'audit.jsonl');
    await writeFile(masterFile, randomBytes(32).toString('base64url'));
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  const sealed = () => ['--master-key-file', masterFile, '--audit-file', trail];
  const master = () => ['--master-key-file', masterFile];

  it('consent grant and withdraw, revoke subject: pseudonyms and sealed copies, no identifier', async () => {
    const sockets = await openSockets();
    for (const argv of [
      ['consent', 'grant', ALICE, 'marketing', '--any-purpose', ...sealed()],
      ['consent', 'withdraw', ALICE, 'marketing', '--any-purpose', ...sealed()],
      ['revoke', 'subject', ALICE, '--reason', 'account closed', ...sealed()],
    ]) {
      const done = await runCaptured(['--prefix', prefix, ...argv], env);
      expect([done.code, done.err]).toEqual([0, '']);
    }
    // Every connection the runs opened (subject key store included) is closed.
    expect(await openSockets()).toBe(sockets);

    const stream = await rawStream(redis, prefix);
    const file = await readFile(trail, 'utf8');
    for (const raw of [stream, file]) {
      expect(raw).not.toContain(ALICE);
      expect(raw).not.toContain(ALICE.slice(0, ALICE.indexOf('@')));
    }
    const events = await streamEvents(redis, prefix);
    expect(events.map((e) => e.type)).toEqual([
      'consent.granted',
      'consent.withdrawn',
      'subject.revoked',
    ]);
    const pseudonyms = new Set<string>();
    for (const event of [...events, ...file.trim().split('\n').map(parseAuditLine)]) {
      const named = event.subject ?? event.dataSubject;
      expect(named).toMatch(/^ps:[A-Za-z0-9_-]{22}$/);
      pseudonyms.add(named!);
      const copies = Object.values(event.sealed ?? {});
      expect(copies.length).toBeGreaterThan(0);
      for (const copy of copies) expect(copy).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    }
    expect(pseudonyms.size).toBe(1);
    // The keys are kept in the Redis of --redis-url, under the prefix.
    expect(await redis.hlen(`${prefix}{tw}:subject-keys`)).toBe(2);

    const tail = await runCaptured(
      ['--prefix', prefix, 'audit', 'tail', '--from-start', '--limit', '3', ...master()],
      env,
    );
    expect(tail.code).toBe(0);
    expect(tail.out.trim().split('\n')).toHaveLength(3);
    expect(tail.out).toContain(ALICE);
    expect(tail.out).not.toContain('ps:');
    // Reports open the sealed subject with the master key.
    const revocations = await revocationsOf(prefix, ALICE, master(), env);
    expect(revocations.map((e) => e.type)).toEqual(['subject.revoked']);
  });

  it('after erase --subject the readers show erased:<pseudonym>', async () => {
    const erase = await runCaptured(
      ['--json', '--prefix', prefix, 'erase', '--subject', ALICE, ...sealed()],
      env,
    );
    expect([erase.code, erase.err]).toEqual([0, '']);
    const { pseudonym, keyDestroyed } = JSON.parse(erase.out) as {
      pseudonym: string;
      keyDestroyed: boolean;
    };
    expect(keyDestroyed).toBe(true);
    const erased = `erased:${pseudonym}`;

    const tail = await runCaptured(
      ['--prefix', prefix, 'audit', 'tail', '--from-start', '--limit', '4', ...master()],
      env,
    );
    expect(tail.code).toBe(0);
    expect(tail.out).not.toContain(ALICE);
    const lines = tail.out.trim().split('\n');
    expect(lines.filter((line) => line.includes(erased))).toHaveLength(3);

    const exported = await runCaptured(
      ['--prefix', prefix, 'audit', 'export', '--format', 'csv', ...master()],
      env,
    );
    expect(exported.code).toBe(0);
    expect(exported.out).not.toContain(ALICE);
    expect(exported.out.split(erased).length - 1).toBeGreaterThanOrEqual(3);

    // The report no longer finds the person by identifier, only as erased:<pseudonym>.
    expect(await revocationsOf(prefix, ALICE, master(), env)).toEqual([]);
    const byPseudonym = await revocationsOf(prefix, erased, master(), env);
    expect(byPseudonym.map((e) => e.type)).toEqual(['subject.revoked']);
  });

  it('seals with a --subject-keys directory too (apikey create --subject)', async () => {
    const keysDir = join(dir, 'subject-keys');
    const file = join(dir, 'apikey.jsonl');
    const created = await runCaptured(
      [
        '--prefix',
        prefix,
        'apikey',
        'create',
        '--client',
        'crm',
        '--subject',
        BOB,
        '--scope',
        'orders:read',
        '--subject-keys',
        keysDir,
        '--master-key-file',
        masterFile,
        '--no-audit-stream',
        '--audit-file',
        file,
      ],
      env,
    );
    expect([created.code, created.err]).toEqual([0, '']);
    const raw = await readFile(file, 'utf8');
    expect(raw).not.toContain(BOB);
    const [event] = raw.trim().split('\n').map(parseAuditLine);
    expect(event!.subject).toMatch(/^ps:/);
    expect(event!.sealed?.subject).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });
});

describe('events the CLI writes without a master key', () => {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const sealedPrefix = `tw-cli-unsealed-${run}:`;
  const plainPrefix = `tw-cli-plain-${run}:`;
  const CAROL = `carol-${run}@example.com`;
  const env = { REDIS_URL: URL, ...RUN_CHAIN_KEY };
  let redis: Redis;
  let dir: string;
  let masterFile: string;

  beforeAll(async () => {
    redis = new Redis(URL);
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-cli-unsealed-'));
    masterFile = join(dir, 'master.key');
    await writeFile(masterFile, randomBytes(32).toString('base64url'));
    // A sealed trail: its store holds the pseudonym key.
    const first = await runCaptured(
      [
        '--prefix',
        sealedPrefix,
        'revoke',
        'subject',
        'someone-else',
        '--master-key-file',
        masterFile,
      ],
      env,
    );
    expect([first.code, first.err]).toEqual([0, '']);
  });

  afterAll(async () => {
    await dropPrefix(redis, sealedPrefix);
    await dropPrefix(redis, plainPrefix);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('warns once on a sealed trail that the event names the person in clear, and how to seal it', async () => {
    const sockets = await openSockets();
    const done = await runCaptured(
      [
        ...['--prefix', sealedPrefix, 'consent', 'withdraw', CAROL, 'marketing', '--any-purpose'],
        ...['--audit-file', join(dir, 'clear.jsonl')],
      ],
      env,
    );
    expect(done.code).toBe(0);
    const warnings = done.err.trim().split('\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^tokenwarden: .*names a data subject in clear/);
    expect(warnings[0]).toContain('TOKENWARDEN_MASTER_KEY');
    expect(done.err).not.toContain(CAROL);
    // The store asked whether the trail is sealed is closed too.
    expect(await openSockets()).toBe(sockets);
    // The change is made and recorded.
    const events = await streamEvents(redis, sealedPrefix);
    const last = events.at(-1)!;
    expect([last.type, last.subject ?? last.dataSubject, last.sealed]).toEqual([
      'consent.withdrawn',
      CAROL,
      undefined,
    ]);

    const json = await runCaptured(
      ['--json', '--prefix', sealedPrefix, 'revoke', 'subject', CAROL],
      env,
    );
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.err) as { warning: { message: string } };
    expect(parsed.warning.message).toContain('TOKENWARDEN_MASTER_KEY');
  });

  it('does not warn on a trail that seals nothing, nor for events that name no one', async () => {
    const plain = await runCaptured(
      ['--prefix', plainPrefix, 'consent', 'withdraw', CAROL, 'marketing', '--any-purpose'],
      env,
    );
    expect([plain.code, plain.err]).toEqual([0, '']);
    const client = await runCaptured(['--prefix', sealedPrefix, 'revoke', 'client', 'crm'], env);
    expect([client.code, client.err]).toEqual([0, '']);
  });
});
