import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createAdmin,
  FileSubjectKeyStore,
  JsonLinesSink,
  masterKey,
  MemoryStore,
  parseAuditLine,
} from '@tokenwarden/core/internal';
import { RedisStreamSink } from '@tokenwarden/redis';
import Redis from 'ioredis';
import { runCaptured } from './support';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

describe('tokenwarden erase and the readers of a sealed trail', () => {
  let dir: string;
  let trail: string;
  let keysDir: string;
  let masterFile: string;
  let chainFile: string;
  let chainKey: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-erase-cli-'));
    trail = join(dir, 'audit.jsonl');
    keysDir = join(dir, 'subject-keys');
    masterFile = join(dir, 'master.key');
    chainFile = join(dir, 'chain.key');
    const masterText = randomBytes(32).toString('base64url');
    await writeFile(masterFile, masterText);
    chainKey = Buffer.from(randomBytes(32).toString('base64url'));
    await writeFile(chainFile, chainKey);
    const admin = createAdmin({
      store: new MemoryStore(),
      audit: {
        sinks: [new JsonLinesSink({ file: trail })],
        chainKey,
        subjectKeys: { store: new FileSubjectKeyStore(keysDir), masterKey: masterKey(masterText) },
      },
    });
    for (let i = 0; i < 200; i++) {
      const person = i % 2 === 0 ? ALICE : BOB;
      admin.recordEvent({
        type: 'access.decision',
        outcome: 'allow',
        reason: 'authorized',
        tokenId: `jti-${i % 10}`,
        subject: person,
        client: 'crm',
        route: '/customers/:id',
        method: 'GET',
        dataSubject: person,
        purpose: 'support',
        lawfulBasis: 'contract',
      });
    }
    await admin.close();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const base = () => ['--subject-keys', keysDir, '--chain-key-file', chainFile];

  it('reports show identifiers with the master key, pseudonyms (and why) without it', async () => {
    const text = await readFile(trail, 'utf8');
    expect(text).not.toContain('alice');
    const opened = await runCaptured([
      'report',
      'access',
      '--data-subject',
      ALICE,
      '--file',
      trail,
      '--master-key-file',
      masterFile,
      ...base(),
      '--format',
      'json',
    ]);
    expect([opened.code, opened.err]).toEqual([0, '']);
    expect(JSON.parse(opened.out)).toMatchObject({ dataSubject: ALICE, accesses: 100 });

    const blind = await runCaptured(
      ['report', 'access', '--data-subject', ALICE, '--file', trail, ...base(), '--format', 'json'],
      {},
    );
    expect(blind.code).toBe(0);
    expect(blind.err).toContain('no master key');
    expect(blind.err).toContain('pseudonyms');
    expect(JSON.parse(blind.out)).toMatchObject({ accesses: 0 });
  });

  it('refuses without the master key, or with a wrong one, saying which', async () => {
    const none = await runCaptured(['erase', '--subject', ALICE, ...base()], {});
    expect(none.code).toBe(2);
    expect(none.err).toContain('--master-key-file');
    const wrongFile = join(dir, 'wrong.key');
    await writeFile(wrongFile, randomBytes(32).toString('base64url'));
    const wrong = await runCaptured([
      'erase',
      '--subject',
      ALICE,
      ...base(),
      '--master-key-file',
      wrongFile,
      '--audit-file',
      trail,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/cannot be opened.*master key mk-[0-9a-f]+.*not configured/);
  });

  it('erases one subject: readers show erased:<pseudonym>, the other is unchanged, the chain verifies', async () => {
    const erase = await runCaptured([
      '--json',
      'erase',
      '--subject',
      ALICE,
      ...base(),
      '--master-key-file',
      masterFile,
      '--audit-file',
      trail,
      '--actor',
      'dpo',
    ]);
    expect([erase.code, erase.err]).toEqual([0, '']);
    const result = JSON.parse(erase.out) as { pseudonym: string; keyDestroyed: boolean };
    expect(result).toEqual({
      pseudonym: expect.stringMatching(/^ps:[A-Za-z0-9_-]{22}$/),
      keyDestroyed: true,
      consentErased: null,
    });
    const last = parseAuditLine((await readFile(trail, 'utf8')).trim().split('\n').pop()!);
    expect([last.type, last.actor, last.detail]).toEqual([
      'subject.erased',
      'dpo',
      { keyDestroyed: true, pseudonym: result.pseudonym },
    ]);

    const exposure = await runCaptured([
      'report',
      'exposure',
      '--client',
      'crm',
      '--file',
      trail,
      '--master-key-file',
      masterFile,
      ...base(),
      '--format',
      'json',
    ]);
    expect([exposure.code, exposure.err]).toEqual([0, '']);
    const report = JSON.parse(exposure.out) as {
      didReach: { uses: number; dataSubjectIds: string[] };
    };
    expect(report.didReach.uses).toBe(200);
    expect(report.didReach.dataSubjectIds).toEqual([BOB, `erased:${result.pseudonym}`].sort());

    const verify = await runCaptured([
      'audit',
      'verify',
      '--file',
      trail,
      '--chain-key-file',
      chainFile,
    ]);
    expect([verify.code, verify.err]).toEqual([0, '']);

    const again = await runCaptured([
      '--json',
      'erase',
      '--subject',
      ALICE,
      ...base(),
      '--master-key-file',
      masterFile,
      '--audit-file',
      trail,
    ]);
    expect(JSON.parse(again.out)).toMatchObject({ keyDestroyed: false });
  });
});

describe('audit export and tail of a sealed Redis stream', () => {
  const url = 'redis://127.0.0.1:6379';
  const prefix = `tw-sealed-cli-${process.pid}-${Date.now().toString(36)}:`;
  let dir: string;
  let masterFile: string;
  let keysDir: string;
  let chainFile: string;
  const streamChainKey = Buffer.from(randomBytes(32).toString('base64url'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-sealed-stream-'));
    chainFile = join(dir, 'chain.key');
    await writeFile(chainFile, streamChainKey);
    masterFile = join(dir, 'master.key');
    keysDir = join(dir, 'keys');
    const masterText = randomBytes(32).toString('base64url');
    await writeFile(masterFile, masterText);
    const admin = createAdmin({
      store: new MemoryStore(),
      audit: {
        sinks: [new RedisStreamSink({ url, prefix })],
        chainKey: streamChainKey,
        subjectKeys: { store: new FileSubjectKeyStore(keysDir), masterKey: masterKey(masterText) },
      },
    });
    for (let i = 0; i < 10; i++) {
      admin.recordEvent({
        type: 'access.decision',
        outcome: 'allow',
        subject: i < 4 ? ALICE : BOB,
        dataSubject: i < 4 ? ALICE : BOB,
        client: 'crm',
      });
    }
    await admin.close();
  });

  afterAll(async () => {
    const redis = new Redis(url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows and matches identifiers with the master key, pseudonyms without it', async () => {
    const env = { REDIS_URL: url };
    const common = [
      ...['--prefix', prefix, 'audit', 'export', '--format', 'csv'],
      ...['--chain-key-file', chainFile],
    ];
    const opened = await runCaptured(
      [...common, '--subject', ALICE, '--subject-keys', keysDir, '--master-key-file', masterFile],
      env,
    );
    expect(opened.code).toBe(0);
    const rows = opened.out.trim().split('\n');
    expect(rows).toHaveLength(5);
    expect(rows.slice(1).every((row) => row.includes(ALICE))).toBe(true);

    const blind = await runCaptured([...common, '--subject-keys', keysDir], env);
    expect(blind.code).toBe(0);
    expect(blind.out).not.toContain('alice');
    expect(blind.out).toContain('ps:');
    expect(blind.err).toContain('shown as pseudonyms');

    const tail = await runCaptured(
      [
        '--prefix',
        prefix,
        'audit',
        'tail',
        '--from-start',
        '--limit',
        '1',
        '--subject-keys',
        keysDir,
        '--master-key-file',
        masterFile,
      ],
      env,
    );
    expect(tail.code).toBe(0);
    expect(tail.out).toContain(ALICE);
  });
});
